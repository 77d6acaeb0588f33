"""`anc-edge`: run a headset's edge agent, simulate the audio loop, detect emergency sounds.

    anc-edge run --config FILE                 the agent of one headset (until SIGTERM)
    anc-edge run --local DIR --thing NAME      ... against a running local stack
    anc-edge simulate [--scene S] [--seconds N] [--emergency CLASS --at S]
                                               a scene through the closed loop, metrics
    anc-edge detect FILE.wav                   emergency events as JSON lines
    anc-edge status (--config FILE | --local DIR --thing NAME)
    anc-edge devices                           ALSA devices (needs the `alsa` extra)

Readable progress and summaries go to stderr/stdout; `--json` prints one JSON document.
Errors are one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

EXIT_ERROR = 2


class CliError(Exception):
    """A problem with the command line or its inputs, printed as one line."""


def _config(args: argparse.Namespace) -> Any:
    """The Config named by --config, or by --local DIR --thing NAME."""
    from edge_agent.config import from_local_stack, load_config

    if args.config is not None:
        if args.local is not None or args.thing is not None:
            raise CliError("use either --config FILE or --local DIR --thing NAME, not both")
        return load_config(args.config)
    if args.local is None or args.thing is None:
        raise CliError("need --config FILE, or --local DIR together with --thing NAME")
    from cloud.local import stack

    try:
        cert, key = stack.device_cert(Path(args.local), args.thing)
    except Exception as exc:  # noqa: BLE001 - any stack problem is one clear line
        raise CliError(f"cannot get a certificate for {args.thing!r} from the local stack "
                       f"in {args.local} (is it up? `anc-local up --dir {args.local}`): "
                       f"{exc}") from None
    return from_local_stack(args.local, args.thing, cert, key)


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args)
    from edge_agent.agent import run_agent

    return int(run_agent(config, progress=lambda line: print(line, flush=True)))


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    from edge_agent.agent import read_status

    status = read_status(config)
    if args.json:
        print(json.dumps(status, indent=1, default=str))
        return 0
    state = "running" if status.get("running") else "not running"
    print(f"{status.get('thing', config.thing)}: {state}")
    for key, value in status.items():
        if key not in ("thing", "running"):
            print(f"  {key}: {json.dumps(value, default=str)}")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from edge_agent.audio.alsa import AlsaUnavailableError, list_devices

    try:
        devices = list_devices()
    except AlsaUnavailableError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(devices, indent=1))
    elif not devices:
        print("no audio device with 2 inputs and an output")
    for d in devices if not args.json else []:
        print(f"{d['index']:3d}  {d['name']}  ({d['inputs']} in, {d['outputs']} out, "
              f"{d['default_samplerate']:g} Hz)")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from edge_agent.audio.backends import read_wav
    from edge_agent.emergency import DetectorSettings, detect

    path = Path(args.file)
    rate = _wav_rate(path)
    data = read_wav(path, rate)
    if not 0 <= args.channel < data.shape[1]:
        raise CliError(f"--channel {args.channel}: {path} has {data.shape[1]} channel(s)")
    settings = DetectorSettings(min_confidence=args.min_confidence,
                                salience_db=args.salience_db, hold_s=args.hold_s)
    events = detect(data[:, args.channel].astype(np.float64), rate, settings)
    for ev in events:
        print(json.dumps({"onset_s": round(ev.onset_s, 3), "class": ev.cls,
                          "confidence": round(ev.confidence, 3),
                          "detected_s": round(ev.detected_s, 3)}), flush=True)
    print(f"anc-edge: {len(events)} emergency event(s) in {path} "
          f"({data.shape[0] / rate:.1f} s)", file=sys.stderr)
    return 0


def _wav_rate(path: Path) -> int:
    """The sample rate in a WAV header (the detector adapts to it)."""
    import scipy.io.wavfile

    from edge_agent.audio.backends import WavError

    try:
        with warnings.catch_warnings():  # unknown chunks are skipped: not our concern
            warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)
            rate, _ = scipy.io.wavfile.read(path, mmap=True)
    except FileNotFoundError:
        raise WavError(f"{path}: no such file") from None
    except (ValueError, EOFError, OSError, IndexError, struct.error) as exc:
        raise WavError(f"{path}: not a usable WAV file ({exc})") from None
    if not 16000 <= rate <= 192000:
        raise WavError(f"{path}: sample rate {rate} Hz, the detector needs 16000..192000 Hz")
    return int(rate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from edge_agent.audio.api import InjectSound
    from edge_agent.audio.engine import InlineEngine
    from edge_agent.config import AudioConfig, EmergencyConfig, SimAudioConfig

    audio = AudioConfig(backend="sim", mode=args.mode, algorithm=args.algorithm,
                        taps=args.taps, mu=args.mu, leak=args.leak,
                        sim=SimAudioConfig(scene=args.scene, seed=args.seed))
    engine = InlineEngine(audio, EmergencyConfig())
    if args.emergency is not None:
        engine.request(InjectSound(args.emergency, seconds=args.emergency_seconds,
                                   snr_db=args.snr_db, seed=args.seed, at_s=args.at))
    blocks_per_s = audio.sample_rate // audio.block
    total = int(round(args.seconds * blocks_per_s))
    events: list[dict[str, Any]] = []
    started = time.perf_counter()
    done = 0
    while done < total:
        done += engine.run(min(blocks_per_s, total - done))
        while not engine.events.empty():
            events.append(engine.events.get().as_dict())
        if not args.json and args.seconds >= 5:
            s = engine.stats()
            att = f"{s.attenuation_db:6.1f} dB" if s.attenuation_db is not None else "   n/a"
            print(f"  t={s.stream_time_s:6.1f} s  mode={s.mode:<12} attenuation {att}",
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    engine.stop()
    stats = engine.stats()
    summary = {"scene": args.scene, "seconds": stats.stream_time_s, "mode": stats.mode,
               "algorithm": stats.algorithm, "taps": stats.taps, "mu": args.mu,
               "latency_samples": int(engine.state.get("latency")),
               "attenuation_db": stats.attenuation_db,
               "block_time_us": {"p50": stats.block_time_p50_us, "p99": stats.block_time_p99_us,
                                 "p99.9": stats.block_time_p999_us,
                                 "max": stats.block_time_max_us, "budget": stats.budget_us},
               "deadline_misses": stats.deadline_misses,
               "divergence_resets": stats.divergence_resets, "events": events,
               "wall_s": round(wall, 3), "emergency": asdict(stats.emergency)}
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    att = summary["attenuation_db"]
    print(f"scene {args.scene}: {stats.stream_time_s:.1f} s simulated in {wall:.1f} s "
          f"({stats.algorithm}, {stats.taps} taps, mu {args.mu}, I/O latency "
          f"{summary['latency_samples']} sample(s))")
    print(f"  attenuation at the ear: {'n/a (anti-noise off)' if att is None else f'{att:.1f} dB'}"
          f"   final mode: {stats.mode}")
    print(f"  block time p50/p99/p99.9/max: {stats.block_time_p50_us:.0f}/"
          f"{stats.block_time_p99_us:.0f}/{stats.block_time_p999_us:.0f}/"
          f"{stats.block_time_max_us:.0f} µs of {stats.budget_us:.0f} µs; "
          f"deadline misses {stats.deadline_misses}; divergence resets "
          f"{stats.divergence_resets}")
    for ev in events:
        print(f"  {ev['kind']}: {ev['class']} (confidence {ev['confidence']}) onset "
              f"{ev['onset_s']} s, decided at {ev['at_s']} s")
    return 0


def _local_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, metavar="FILE", help="device configuration (TOML)")
    p.add_argument("--local", type=Path, metavar="DIR", help="local stack directory")
    p.add_argument("--thing", metavar="NAME", help="thing name (with --local)")


def build_parser() -> argparse.ArgumentParser:
    from edge_agent.audio.api import ALGORITHMS, EMERGENCY_CLASSES, MODES

    parser = argparse.ArgumentParser(prog="anc-edge", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the edge agent of one headset")
    _local_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="the status the agent last wrote")
    _local_args(p)
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("simulate", help="a noise scene through the closed loop")
    p.add_argument("--scene", default="engine", help="sim scene (default engine)")
    p.add_argument("--seconds", type=_positive, default=10.0, help="simulated seconds")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--mode", choices=MODES, default="anc")
    p.add_argument("--algorithm", choices=ALGORITHMS, default="fxnlms")
    p.add_argument("--taps", type=_non_negative_int, default=256)
    p.add_argument("--mu", type=_positive, default=0.02,
                   help="step size (default 0.02: stable with 32-sample block commits)")
    p.add_argument("--leak", type=float, default=0.0)
    p.add_argument("--emergency", choices=EMERGENCY_CLASSES,
                   help="mix a synthetic emergency sound into the scene")
    p.add_argument("--at", type=float, default=None, metavar="S",
                   help="when the emergency sound starts (s, default: at once)")
    p.add_argument("--emergency-seconds", type=_positive, default=4.0)
    p.add_argument("--snr-db", type=float, default=0.0)
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("detect", help="emergency sounds in a WAV file, as JSON lines")
    p.add_argument("file", metavar="FILE.wav")
    p.add_argument("--channel", type=_non_negative_int, default=0,
                   help="channel to analyse (default 0, the reference mic)")
    p.add_argument("--min-confidence", type=float, default=0.5)
    p.add_argument("--salience-db", type=float, default=13.0)
    p.add_argument("--hold-s", type=float, default=2.0)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("devices", help="ALSA/PortAudio devices usable by the alsa backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices)
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, ValueError, OSError) as exc:
        print(f"anc-edge: error: {exc}", file=sys.stderr)
        return EXIT_ERROR

if __name__ == "__main__":
    sys.exit(main())
