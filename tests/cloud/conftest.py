"""One local stack (Mosquitto, moto, emulator) shared by the cloud tests of a session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud.local.stack import LocalStack


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(directory=None) as stack:
        yield stack
