"""Runs the stack's topic rules against the local broker, as IoT Core's rules engine does.

For every AWS::IoT::TopicRule of the deployment: parse its SQL (unsupported constructs are
refused at start-up, naming the rule), subscribe to its topic filter with the service
identity, evaluate each message and invoke the rule's Lambda action in-process on a worker
pool. A failing invocation is retried (bounded, exponential backoff); what still fails goes
down the error path: one JSON line in the dead-letter file and a log line.

With `processes` > 1 the rules run in that many child processes, each handling the messages
of its share of the things (cloud/local/rules/shards.py); this process then only receives.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import json
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from cloud.local.rules.lambdas import DeployedFunction, load_functions
from cloud.local.rules.sql import RuleMessage, RuleQuery, RuleSqlError, parse
from cloud.local.service_mqtt import ServiceMqtt, paho_client
from protocol.topics import PREFIX, THING_NAME_PATTERN

if TYPE_CHECKING:  # shards.py builds on this module, so it is imported where it is used
    from cloud.local.rules.shards import ShardPool

log = logging.getLogger("anc.rules")
SUPPORTED_SQL_VERSIONS = ("2016-03-23", "2015-10-08", "beta")


class RuleConfigError(ValueError):
    """A topic rule the runner cannot execute; the message names the rule and the construct."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # like an asynchronous Lambda invocation: the call plus two retries
    first_delay_s: float = 0.1
    factor: float = 2.0

    def delays(self) -> list[float]:
        return [self.first_delay_s * self.factor ** i for i in range(self.attempts - 1)]


@dataclass(frozen=True)
class Rule:
    name: str
    query: RuleQuery
    targets: tuple[DeployedFunction, ...]


@dataclass
class RunnerStats:
    received: int = 0
    matched: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        """Count one event of kind `name` (received, matched, succeeded, retried, failed)."""
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {"received": self.received, "matched": self.matched,
                    "succeeded": self.succeeded, "retried": self.retried, "failed": self.failed}


@functools.lru_cache(maxsize=4096)
def _matches(topic_filter: str, topic: str) -> bool:
    """mqtt.topic_matches_sub builds a matcher per call; a fleet's topics repeat."""
    return bool(mqtt.topic_matches_sub(topic_filter, topic))


def publisher_client_id(topic: str) -> str:
    """clientid() for a device topic: the broker enforces client id = thing name, so the
    thing in `anc/v1/{thing}/...` or `$aws/things/{thing}/...` is the publisher's client id.
    A subscriber cannot see the publisher's id; other topics yield an empty string."""
    parts = topic.split("/")
    if len(parts) >= 3 and "/".join(parts[:2]) in (PREFIX, "$aws/things") and \
            THING_NAME_PATTERN.match(parts[2]):
        return parts[2]
    return ""


def _lambda_target(rule_name: str, action: dict[str, Any],
                   functions: dict[str, DeployedFunction]) -> DeployedFunction:
    kinds = sorted(action)
    if kinds != ["Lambda"]:
        raise RuleConfigError(f"rule {rule_name}: action {kinds} is not supported "
                              "(the local rule runner executes Lambda actions)")
    arn = action["Lambda"].get("FunctionArn")
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        key = arn["Fn::GetAtt"][0]
    elif isinstance(arn, str):
        key = arn
    else:
        raise RuleConfigError(f"rule {rule_name}: Lambda FunctionArn {arn!r} is not supported "
                              "(use !GetAtt Function.Arn or a literal ARN)")
    if key not in functions:
        raise RuleConfigError(f"rule {rule_name}: Lambda action targets {key}, "
                              "which is not a function of the stack")
    return functions[key]


def build_rules(topic_rules: dict[str, dict[str, Any]],
                functions: dict[str, DeployedFunction]) -> list[Rule]:
    """Validate every rule payload; raise RuleConfigError naming the rule and the construct."""
    rules = []
    for name, payload in sorted(topic_rules.items()):
        if payload.get("RuleDisabled") is True:
            log.info("rule %s is disabled; not running it", name)
            continue
        version = payload.get("AwsIotSqlVersion", "2016-03-23")
        if version not in SUPPORTED_SQL_VERSIONS:
            raise RuleConfigError(f"rule {name}: AwsIotSqlVersion {version!r} is not supported")
        try:
            query = parse(payload.get("Sql", ""))
        except RuleSqlError as exc:
            raise RuleConfigError(f"rule {name}: unsupported SQL: {exc} "
                                  f"(in {payload.get('Sql')!r})") from exc
        actions = payload.get("Actions") or []
        if not actions:
            raise RuleConfigError(f"rule {name}: no actions")
        targets = tuple(_lambda_target(name, action, functions) for action in actions)
        rules.append(Rule(name, query, targets))
    return rules


class DeadLetters:
    """The error path: one JSON object per line for every message whose action finally failed.

    Several processes may record into one file (rule shards); an exclusive lock on the file
    keeps each line whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, default=str) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            handle.write(line)


def _payload_for_record(payload: bytes) -> dict[str, str]:
    try:
        return {"payload": payload.decode("utf-8")}
    except UnicodeDecodeError:
        return {"payload_base64": base64.b64encode(payload).decode("ascii")}


def dead_letter_entry(rule: str | None, function: str | None, topic: str, payload: bytes,
                      exc: BaseException, *, attempts: int) -> dict[str, Any]:
    """One dead-letter line: which rule and function failed on what, with which error."""
    return {
        "rule": rule,
        "function": function,
        "topic": topic,
        **_payload_for_record(payload),
        "error_type": type(exc).__name__,
        "error": str(exc),
        "attempts": attempts,
        "failed_at_ms": int(time.time() * 1000),
        "trace": traceback.format_exception_only(type(exc), exc)[-1].strip(),
    }


class Workers:
    """A fixed set of threads running submitted calls in arrival order until shutdown().

    Lighter per call than concurrent.futures.ThreadPoolExecutor (no Future, no condition
    variable per call), which matters at thousands of messages per second. A call's
    exceptions are its own business: submit only calls that handle them."""

    def __init__(self, count: int, name: str) -> None:
        if count < 1:
            raise ValueError(f"workers must be at least 1, got {count}")
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = \
            queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def submit(self, call: Callable[..., None], *args: Any) -> None:
        self._queue.put((call, args))

    def shutdown(self) -> None:
        """Run what was submitted, then stop every thread; idempotent."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            call, args = job
            call(*args)


# Invocations in flight at once. Lambda runs invocations in parallel environments; here they
# share one process, and most of an invocation's time is spent waiting on moto, so many
# threads let concurrent invocations share DynamoDB round trips (cloud/shared/dynamo.py).
DEFAULT_WORKERS = 128


class RuleRunner:
    """Subscribe, evaluate, invoke with retries, dead-letter. start()/stop() from one thread."""

    def __init__(self, deployment: dict[str, Any], settings: ServiceMqtt, *,
                 dead_letter_path: Path, retry: RetryPolicy | None = None,
                 workers: int = DEFAULT_WORKERS, max_pending: int = 20000,
                 processes: int = 1, sleep: Callable[[float], None] = time.sleep) -> None:
        if processes < 1:
            raise ValueError(f"rule processes must be at least 1, got {processes}")
        self._deployment = deployment
        self._dead_letter_path = dead_letter_path
        self._processes = processes
        self._max_pending = max_pending
        functions = load_functions(deployment)
        self.rules = build_rules(deployment.get("topic_rules", {}), functions)
        self.rule_names = [rule.name for rule in self.rules]
        self.retry = retry or RetryPolicy()
        self.stats = RunnerStats()
        self.dead_letters = DeadLetters(dead_letter_path)
        self._settings = settings
        self._sleep = sleep
        self._worker_count = workers
        self._workers: Workers | None = None  # started by start() (one process)
        self._shards: ShardPool | None = None  # started by start() (several processes)
        # Bounds the work in flight; when full, the MQTT thread waits (back-pressure to the
        # broker, which queues for this persistent session) instead of growing memory.
        self._pending = threading.BoundedSemaphore(max_pending)
        self._subscribed = threading.Event()
        self._client: mqtt.Client | None = None

    # -- MQTT ------------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        # A persistent session: messages published while the emulator restarts wait in the
        # broker instead of being lost (the broker expires an abandoned session after an
        # hour, cloud/local/mosquitto.py).
        client = paho_client(self._settings, "rules", persistent_v311=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.connect(self._settings.host, self._settings.port, keepalive=30)
        self._client = client
        if self._processes > 1:
            # Imported here: the shard module builds on this one.
            from cloud.local.rules.shards import ShardPool

            self._shards = ShardPool(
                self._deployment, self._settings, count=self._processes,
                dead_letter_path=self._dead_letter_path, retry=self.retry,
                workers=self._worker_count, max_pending=self._max_pending)
            self._shards.start()
        else:
            self._workers = Workers(self._worker_count, "rule")
        client.loop_start()
        if self.rules and not self._subscribed.wait(timeout):
            self.stop()
            raise RuntimeError(f"rule runner: no SUBACK from the broker within {timeout:.0f} s")

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        if self._workers is not None:
            self._workers.shutdown()
            self._workers = None
        if self._shards is not None:
            self._shards.stop()
            self._shards = None

    def healthy(self) -> bool:
        """False once a rule shard process has died (messages for it go to the dead letters)."""
        return self._shards is None or self._shards.healthy()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any,
                    reason_code: Any, _properties: Any) -> None:
        if reason_code.is_failure:
            log.error("rule runner: broker refused the connection: %s", reason_code)
            return
        filters = sorted({rule.query.topic_filter for rule in self.rules})
        if filters:
            client.subscribe([(topic_filter, 1) for topic_filter in filters])

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int,
                      reason_codes: list[Any], _properties: Any) -> None:
        filters = sorted({rule.query.topic_filter for rule in self.rules})
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("rule runner: subscription refused: %s", refused)
            return
        log.info("rule runner subscribed to %s", filters)
        self._subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._shards is not None:
            self.stats.add("received")
            self._shards.submit(message.topic, bytes(message.payload))
            return
        assert self._workers is not None  # messages arrive only between start() and stop()
        self.accept(self._workers, message.topic, bytes(message.payload))

    def accept(self, workers: Workers, topic: str, payload: bytes) -> None:
        """Count a received message and queue it on `workers`; waits while too many are."""
        self.stats.add("received")
        self._pending.acquire()
        workers.submit(self._handle_and_release, topic, payload)

    def _handle_and_release(self, topic: str, payload: bytes) -> None:
        try:
            self.handle(topic, payload)
        except Exception:  # a bug here must not silently kill the worker's future
            log.exception("rule runner: unexpected failure handling a message on %s", topic)
        finally:
            self._pending.release()

    # -- rule execution ---------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> None:
        """Run every rule whose topic filter matches, in this thread (retries included)."""
        now_ms = int(time.time() * 1000)
        for rule in self.rules:
            if _matches(rule.query.topic_filter, topic):
                self._run_rule(rule, topic, payload, now_ms)

    def _run_rule(self, rule: Rule, topic: str, payload: bytes, now_ms: int) -> None:
        try:
            document = json.loads(payload)
            output = rule.query.evaluate(
                RuleMessage(topic, document, publisher_client_id(topic), now_ms))
        except (ValueError, RuleSqlError) as exc:
            self._fail(rule, None, topic, payload, exc, attempts=0)
            return
        if output is None:
            return
        self.stats.add("matched")
        for target in rule.targets:
            self._invoke_with_retries(rule, target, topic, payload, output)

    def _invoke_with_retries(self, rule: Rule, target: DeployedFunction, topic: str,
                             payload: bytes, event: dict[str, Any]) -> None:
        delays = self.retry.delays()
        for attempt in range(1, self.retry.attempts + 1):
            try:
                target.invoke(dict(event))
            except Exception as exc:  # the function's failure, whatever it is
                if attempt > len(delays):
                    self._fail(rule, target, topic, payload, exc, attempts=attempt)
                    return
                self.stats.add("retried")
                self._sleep(delays[attempt - 1])
            else:
                self.stats.add("succeeded")
                return

    def _fail(self, rule: Rule, target: DeployedFunction | None, topic: str, payload: bytes,
              exc: BaseException, *, attempts: int) -> None:
        self.stats.add("failed")
        self.dead_letters.record(dead_letter_entry(
            rule.name, target.function_name if target else None, topic, payload, exc,
            attempts=attempts))
        log.warning("rule %s: message on %s failed after %d attempt(s): %s: %s",
                    rule.name, topic, attempts, type(exc).__name__, exc)
