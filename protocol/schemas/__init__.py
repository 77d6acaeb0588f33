"""JSON Schemas of the platform's messages and documents, with a validator cache."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_DIR = Path(__file__).parent


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The schema `protocol/schemas/{name}.schema.json` as a dict."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".schema.json")
                       for p in SCHEMA_DIR.glob("*.schema.json"))
        raise KeyError(f"no schema {name!r}; known: {known}")
    return json.loads(path.read_text())


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = load(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def errors(name: str, document: Any) -> list[str]:
    """Every violation of schema `name` in `document` as 'path: message' (empty if valid)."""
    found = []
    for err in sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        found.append(f"{where}: {err.message}")
    return found


def validate(name: str, document: Any) -> None:
    """Raise ValueError naming every violation of schema `name` in `document`."""
    problems = errors(name, document)
    if problems:
        raise ValueError(f"{name} document is invalid: " + "; ".join(problems))
