"""A JSON Schema compiled into one Python predicate, for the hot path of ingest.

`compile_schema(schema)` turns a schema that uses only the keywords below into a function
`document -> bool` that answers exactly what `jsonschema`'s Draft 2020-12 validator answers
for "is this document valid?", without building error objects. Callers use it as a fast
yes; on a no they ask `jsonschema` for the errors, so the messages are jsonschema's own.

Supported keywords (with jsonschema's semantics, including its quirks):

- `type`: "object", "integer" (an int, or a float with an integral value; never a bool),
  "number" (any numbers.Number but bool), "boolean", "string", "null", "array", or a list;
- `enum` whose members are all strings;
- `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (apply to numbers only;
  compared as jsonschema compares them, so NaN passes every bound);
- `required`, `properties`, `additionalProperties` (a boolean; apply to objects only);
- annotations, which do not affect validity: `$schema`, `$id`, `$comment`, `title`,
  `description`, `examples`, `default`.

Any other keyword raises UnsupportedSchema at compile time rather than being ignored, so a
compiled predicate is never laxer than the schema.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples",
                         "default"})
# Numbers from json.loads are exactly int or float: those answer without the slow
# numbers.Number check (an ABC), which the other cases still get.
_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "integer": lambda v: type(v) is int or (not isinstance(v, bool) and (
        isinstance(v, int) or (isinstance(v, float) and v.is_integer()))),
    "number": lambda v: type(v) is float or type(v) is int or (
        not isinstance(v, bool) and isinstance(v, numbers.Number)),
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
}
_BOUNDS: dict[str, Callable[[Any, Any], bool]] = {  # True when the bound is violated
    "minimum": lambda v, b: bool(v < b),
    "maximum": lambda v, b: bool(v > b),
    "exclusiveMinimum": lambda v, b: bool(v <= b),
    "exclusiveMaximum": lambda v, b: bool(v >= b),
}
_IS_NUMBER = _TYPES["number"]


class UnsupportedSchema(ValueError):
    """The schema uses a keyword (or a form of one) this compiler does not implement."""


def compile_schema(schema: Any, path: str = "#") -> Check:
    """A predicate equal to jsonschema's is_valid for `schema`; raises UnsupportedSchema."""
    if schema is True:
        return lambda _v: True
    if schema is False:
        return lambda _v: False
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"{path}: a schema must be an object or a boolean")
    unknown = sorted(set(schema) - ANNOTATIONS - set(_TYPES) - set(_BOUNDS) - {
        "type", "enum", "required", "properties", "additionalProperties"})
    if unknown:
        raise UnsupportedSchema(f"{path}: keyword(s) {unknown} are not supported")
    checks: list[Check] = []
    if "type" in schema:
        checks.append(_type_check(schema["type"], path))
    if "enum" in schema:
        checks.append(_enum_check(schema["enum"], path))
    for keyword, violated in _BOUNDS.items():
        if keyword in schema:
            checks.append(_bound_check(keyword, violated, schema[keyword], path))
    if {"required", "properties", "additionalProperties"} & set(schema):
        checks.append(_object_check(schema, path))
    return _all_of(checks)


def _all_of(checks: list[Check]) -> Check:
    # the common combinations without a generator per value (this runs once per field)
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    if len(checks) == 3:
        first, second, third = checks
        return lambda v: first(v) and second(v) and third(v)
    return lambda v: all(check(v) for check in checks)


def _type_check(types: Any, path: str) -> Check:
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
        raise UnsupportedSchema(f"{path}/type: {types!r} is not a supported type")
    tests = [_TYPES[n] for n in names]
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)


def _enum_check(members: Any, path: str) -> Check:
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise UnsupportedSchema(f"{path}/enum: only lists of strings are supported")
    allowed = frozenset(members)
    return lambda v: isinstance(v, str) and v in allowed


def _bound_check(keyword: str, violated: Callable[[Any, Any], bool], bound: Any,
                 path: str) -> Check:
    if not _IS_NUMBER(bound):
        raise UnsupportedSchema(f"{path}/{keyword}: {bound!r} is not a number")
    if keyword == "minimum":
        return lambda v: not (_IS_NUMBER(v) and v < bound)
    if keyword == "maximum":
        return lambda v: not (_IS_NUMBER(v) and v > bound)
    return lambda v: not (_IS_NUMBER(v) and violated(v, bound))


def _object_check(schema: dict[str, Any], path: str) -> Check:
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise UnsupportedSchema(f"{path}/required: must be a list of strings")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise UnsupportedSchema(f"{path}/properties: must be an object")
    additional = schema.get("additionalProperties", True)
    if not isinstance(additional, bool):
        raise UnsupportedSchema(f"{path}/additionalProperties: only booleans are supported")
    children = {name: compile_schema(sub, f"{path}/properties/{name}")
                for name, sub in properties.items()}
    needed = tuple(required)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True  # these keywords apply to objects only
        for name in needed:
            if name not in value:
                return False
        for name, item in value.items():
            child = children.get(name)
            if child is None:
                if not additional:
                    return False
            elif not child(item):
                return False
        return True

    return check
