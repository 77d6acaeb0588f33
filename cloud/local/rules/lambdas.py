"""Lambda functions of the deployed stack, loaded and invoked in-process.

Each function's handler module is imported from its code directory under a unique module
name, with the function's deployed environment variables (table names resolved by moto's
CloudFormation) set before the import, because handlers create their clients at module scope.
All functions share one process, so a variable two functions set differently would collide;
`load_functions` refuses that case instead of letting one silently win.
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Handler = Callable[[Any, Any], Any]
_ids = random.Random()  # seeded from the OS once; request ids need uniqueness, not secrecy


class FunctionLoadError(RuntimeError):
    """A deployed function's handler cannot be imported; the message names the function."""


class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and powertools use."""

    def __init__(self, function: DeployedFunction) -> None:
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = function.memory_mb
        # A v4 UUID from the process's PRNG: uuid4() reads os.urandom, a system call per
        # invocation that also hands the GIL to another of the runner's threads.
        self.aws_request_id = str(uuid.UUID(int=_ids.getrandbits(128), version=4))
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "anc-local"
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class DeployedFunction:
    logical_id: str
    function_name: str
    function_arn: str
    handler_spec: str  # e.g. "app.lambda_handler"
    code_dir: Path
    environment: dict[str, str]
    timeout_s: float
    memory_mb: int
    handler: Handler | None = None

    def invoke(self, event: Any) -> Any:
        if self.handler is None:
            raise FunctionLoadError(f"function {self.logical_id} is not loaded")
        return self.handler(event, LambdaContext(self))


def _import_handler(function: DeployedFunction) -> Handler:
    module_name, _, attribute = function.handler_spec.rpartition(".")
    if not module_name or not attribute:
        raise FunctionLoadError(
            f"function {function.logical_id}: handler {function.handler_spec!r} is not module.name")
    path = function.code_dir / (module_name.replace(".", "/") + ".py")
    if not path.is_file():
        raise FunctionLoadError(f"function {function.logical_id}: {path} does not exist")
    unique = f"anc_lambda_{function.logical_id}_{module_name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise FunctionLoadError(f"function {function.logical_id}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise FunctionLoadError(
            f"function {function.logical_id}: importing {path} failed: {exc!r}") from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise FunctionLoadError(f"function {function.logical_id}: {path} has no {attribute}()")
    return handler


def load_functions(deployment: dict[str, Any]) -> dict[str, DeployedFunction]:
    """Import every function of `deployment` (deployment.json), keyed by logical id and ARN."""
    functions: dict[str, DeployedFunction] = {}
    seen_env: dict[str, tuple[str, str]] = {}
    for logical_id, spec in deployment["functions"].items():
        function = DeployedFunction(
            logical_id=logical_id,
            function_name=spec["function_name"],
            function_arn=spec["function_arn"],
            handler_spec=spec["handler"],
            code_dir=Path(spec["code_dir"]),
            environment={k: str(v) for k, v in spec["environment"].items()},
            timeout_s=float(spec["timeout_s"]),
            memory_mb=int(spec["memory_mb"]),
        )
        for key, value in function.environment.items():
            other = seen_env.get(key)
            if other is not None and other[1] != value:
                raise FunctionLoadError(
                    f"functions {other[0]} and {logical_id} set {key} differently "
                    f"({other[1]!r} vs {value!r}); they cannot share one emulator process")
            seen_env[key] = (logical_id, value)
        os.environ.update(function.environment)
        function.handler = _import_handler(function)
        functions[logical_id] = function
        functions[function.function_arn] = function
    return functions
