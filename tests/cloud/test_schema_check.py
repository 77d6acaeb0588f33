"""The compiled telemetry predicate agrees with jsonschema on every document, valid or not,
and ingest reports exactly jsonschema's errors."""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from cloud.shared.schema_check import UnsupportedSchema, compile_schema
from cloud.shared.telemetry import telemetry_errors
from protocol import schemas

SCHEMA = schemas.load("telemetry")
VALIDATOR = schemas.validator("telemetry")
IS_VALID = compile_schema(SCHEMA)
# Values that sit on and around every bound and type boundary of the schema.
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 0.0, -0.0, 1.0, 1.5, -0.5, 100, 101, 4096, 4097, 10000, 10001,
    -60, -60.5, 80, 80.01, -160, -161, 1500000000, 1499999999.9, 2**53 - 1, 2**53, 10**30,
    1e300, -1e300, float("nan"), float("inf"), float("-inf"), "", "anc", "off", "fxlms",
    "aircraft", "ANC", "1", [], [1], {}, {"percent": 50}, {"mean": 1, "max": 2},
    # numbers that are not exactly int or float (the predicate's slower path)
    Decimal("1.5"), Decimal("4097"), Decimal("-60"), Fraction(1, 3), Fraction(-161),
]


def paths(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in document.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from paths(value, (*prefix, key))


def with_value(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def without(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


def mutations() -> Iterator[Any]:
    """Every single-field change of the full example, then seeded random multi-field ones."""
    full = SCHEMA["examples"][0]
    yield from SCHEMA["examples"]
    yield from ODD_VALUES
    all_paths = list(paths(full))
    for path in all_paths:
        yield without(full, path)
        yield with_value(full, (*path[:-1], "unknown_" + path[-1]), 1)
        for value in ODD_VALUES:
            yield with_value(full, path, value)
    rng = random.Random(20261125)
    for _ in range(3000):
        document = copy.deepcopy(rng.choice(SCHEMA["examples"]))
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(all_paths)
            with contextlib.suppress(KeyError, TypeError):  # parent replaced earlier
                document = with_value(document, path, rng.choice(ODD_VALUES))
        yield document


def test_the_examples_are_valid_for_both() -> None:
    for example in SCHEMA["examples"]:
        assert IS_VALID(example) and VALIDATOR.is_valid(example)


def test_compiled_predicate_agrees_with_jsonschema_everywhere() -> None:
    checked = valid = 0
    for document in mutations():
        expected = VALIDATOR.is_valid(document)
        assert IS_VALID(document) == expected, document
        checked += 1
        valid += expected
    # The corpus exercises both answers plenty (a predicate that always said no would fail
    # the examples; one that always said yes would fail here).
    assert checked > 4000 and 100 < valid < checked - 1000


def test_ingest_reports_jsonschema_errors_unchanged() -> None:
    for document in list(mutations())[:2000]:
        assert telemetry_errors(document) == schemas.errors("telemetry", document)


@pytest.mark.parametrize(("schema", "named"), [
    ({"type": "string", "pattern": "^a"}, "'pattern'"),
    ({"$ref": "#/x"}, "'$ref'"),
    ({"enum": [1, 2]}, "only lists of strings"),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, "only booleans"),
    ({"type": "decimal"}, "'decimal' is not a supported type"),
    ({"properties": {"a": {"minimum": "3"}}}, "#/properties/a/minimum"),
])
def test_unsupported_schemas_are_refused_not_ignored(schema: dict[str, Any], named: str) -> None:
    with pytest.raises(UnsupportedSchema, match=named.replace("$", r"\$")):
        compile_schema(schema)
