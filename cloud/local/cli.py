"""`anc-local`: start, inspect and stop the local AWS IoT stack; mint device certificates.

    anc-local up [--dir DIR] [--stage dev]     start everything (reports a running stack)
    anc-local status [--dir DIR] [--json]      the processes with pid, port, log, state
    anc-local cert THING [--dir DIR]           {"cert_path": ..., "key_path": ...}
    anc-local down [--dir DIR]                 stop what `up` started, by pid
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cloud.local import stack
from cloud.local.deploy import DeployError
from cloud.local.processes import StackError
from cloud.local.template import TemplateError
from protocol.topics import TopicError


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    print(f"anc-local: starting the local stack in {args.dir.resolve()}", file=sys.stderr)
    env, already = stack.up(args.dir, stage=args.stage, progress=_progress)
    if already:
        print(f"anc-local: the stack in {args.dir.resolve()} is already running")
    else:
        print("anc-local: up")
    print(f"  MQTT      mqtts://{env['mqtt_host']}:{env['mqtt_port']} (CA {env['ca_path']})")
    print(f"  AWS       {env['aws_endpoint_url']} (moto, region {env['region']})")
    print(f"  shadows   {env['iot_data_endpoint_url']}")
    print(f"  tables    {', '.join(f'{k}={v}' for k, v in env['tables'].items())}")
    print(f"  env.json  {Path(env['dir']) / stack.ENV_FILE}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    found = stack.status(args.dir)
    running = stack.is_running(args.dir)
    if args.json:
        print(json.dumps({"dir": str(args.dir.resolve()), "running": running,
                          "processes": found, "env": stack.read_env(args.dir)}, indent=2))
        return 0 if running else 3
    if not found:
        print(f"anc-local: no stack in {args.dir.resolve()} (start one with `anc-local up`)")
        return 3
    for name, info in found.items():
        state = "running" if info["running"] else "STOPPED"
        port = f"port {info['port']}" if info["port"] else ""
        print(f"  {name:<10} pid {info['pid']:<8} {state:<8} {port:<11} log {info['log']}")
    print("anc-local: running" if running else "anc-local: not fully running (`anc-local up`)")
    return 0 if running else 3


def cmd_cert(args: argparse.Namespace) -> int:
    cert_path, key_path = stack.device_cert(args.dir, args.thing)
    print(json.dumps({"thing": args.thing, "cert_path": str(cert_path),
                      "key_path": str(key_path)}))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = stack.down(args.dir)
    if not stopped:
        print(f"anc-local: nothing to stop in {args.dir.resolve()}")
    for record in stopped:
        print(f"  stopped {record.name} (pid {record.pid})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anc-local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--dir", type=Path, default=stack.DEFAULT_DIR,
                         help=f"stack directory (default {stack.DEFAULT_DIR}/)")
        return sub

    up = add("up", "start the local stack")
    up.add_argument("--stage", choices=("dev", "staging", "prod"), default="dev")
    up.set_defaults(func=cmd_up)
    status = add("status", "show the stack's processes")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    cert = add("cert", "issue (once) and print a device certificate")
    cert.add_argument("thing", help="thing name, ^[A-Za-z0-9_-]{1,64}$")
    cert.set_defaults(func=cmd_cert)
    add("down", "stop the stack").set_defaults(func=cmd_down)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (StackError, DeployError, TemplateError, TopicError, ValueError) as exc:
        print(f"anc-local: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
