"""DynamoDB helpers for the functions: idempotent writes, first write wins.

`ConditionalTable.put_once` stores an item only if its key is new. A caller alone (always
the case inside Lambda, where an execution environment runs one invocation at a time) gets
one conditional PutItem. Callers that arrive while a write is in flight (the local stack runs
many invocations in one process) are committed together by whichever of them writes next:
keys are de-duplicated within the group (first wins), the keys already stored are read with
one consistent BatchGetItem (up to 100 keys, its limit), and the new items go out in
BatchWriteItems of up to 25 (theirs). That is a few round trips per group instead of one
per item, which is what lets the local stack's telemetry path keep up with thousands of
messages per second.

Callers are spread over `lanes` by key (the same key always goes to the same lane); each lane
has at most one group in flight, and lanes write concurrently, so round trips overlap while
no two groups in flight ever share a key.

Items go out through a low-level DynamoDB client, serialized here once: the resource API
would deep-copy every request and walk it again to convert each value, which under the local
stack's load costs more CPU than the rest of the function does.

The group path is exact as long as this object is the table's only writer of new keys for
the duration of a group; another process writing the same key between the read and the
write would be overwritten. The only other writer pattern in this platform, concurrent Lambda
environments, uses the conditional single-item path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

MAX_GROUP = 100  # BatchGetItem's limit per request
MAX_WRITE = 25  # BatchWriteItem's limit per request
_UNPROCESSED_RETRIES = 8


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
AttributeValues = dict[str, dict[str, Any]]  # an item as the low-level API carries it


def _floats_as_decimal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))  # repr is the float's JSON text
    if isinstance(value, dict):
        return {key: _floats_as_decimal(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_floats_as_decimal(inner) for inner in value]
    return value


def to_dynamo(document: dict[str, Any]) -> dict[str, Any]:
    """JSON floats become the Decimal of their JSON text, as the DynamoDB resource API
    requires; everything else is kept (tuples become lists)."""
    converted: dict[str, Any] = _floats_as_decimal(document)
    return converted


def to_attribute_values(item: dict[str, Any]) -> AttributeValues:
    """`item` in the low-level API's typed form ({"S": ...}, {"N": ...}, ...)."""
    return {name: _SERIALIZER.serialize(value) for name, value in to_dynamo(item).items()}


class _Put:
    """One caller's item, waiting for the group that writes it."""

    __slots__ = ("error", "finished", "item", "key", "stored", "wake")

    def __init__(self, item: AttributeValues, key: tuple[Hashable, ...]) -> None:
        self.item = item
        self.key = key
        self.stored = False
        self.error: BaseException | None = None
        self.finished = False
        # Released when written, or when it is this caller's turn. A lock acquired up front
        # is the cheapest one-shot wake-up CPython has (an Event adds a Condition per waiter).
        self.wake = threading.Lock()
        self.wake.acquire()


class _Lane:
    """Callers whose keys hash here, queued for the lane's one writer at a time."""

    __slots__ = ("lock", "queue", "writing")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[_Put] = []
        self.writing = False


class ConditionalTable:
    """Puts an item only if its key is new; a duplicate is reported, not raised.

    `client` is a low-level boto3 DynamoDB client (not a resource's: that one would convert
    the already typed values again), `table_name` its table; thread-safe. `lanes`: how many
    groups may be in flight at once (each lane owns a disjoint share of the keys).
    """

    def __init__(self, client: Any, table_name: str, key_attributes: tuple[str, ...],
                 max_group: int = MAX_GROUP, lanes: int = 1) -> None:
        if not key_attributes:
            raise ValueError("key_attributes must name the table's key attributes")
        if not 1 <= max_group <= MAX_GROUP:
            raise ValueError(f"max_group must be 1..{MAX_GROUP}, got {max_group}")
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        self._client = client
        self._table_name = table_name
        self._keys = key_attributes
        self._max_group = max_group
        self._condition = " AND ".join(f"attribute_not_exists(#k{i})"
                                       for i in range(len(key_attributes)))
        self._names = {f"#k{i}": name for i, name in enumerate(key_attributes)}
        self._lanes = [_Lane() for _ in range(lanes)]
        self._groups_lock = threading.Lock()
        self.groups_written = 0  # how many multi-item groups went out (for benchmarks)

    def _key_of(self, item: AttributeValues) -> tuple[Hashable, ...]:
        """The key's values, decoded: 7 and 7.0 are one key, as DynamoDB compares numbers."""
        missing = [name for name in self._keys if name not in item]
        if missing:
            raise ValueError(f"item lacks key attribute(s) {missing}")
        return tuple(_DESERIALIZER.deserialize(item[name]) for name in self._keys)

    def put_once(self, item: dict[str, Any]) -> bool:
        """Store `item` unless its key exists; True if stored, False if it was a duplicate."""
        typed = to_attribute_values(item)
        put = _Put(typed, self._key_of(typed))
        lane = self._lanes[hash(put.key) % len(self._lanes)]
        with lane.lock:
            lane.queue.append(put)
            # Invariant: while a lane's queue is not empty, some caller is (or is about to
            # be) its writer. The first caller to find no writer becomes it.
            leading = not lane.writing
            lane.writing = True
        if not leading:
            put.wake.acquire()  # written by another caller, or handed the writer's role
        while not put.finished:
            with lane.lock:
                group = lane.queue[:self._max_group]
                del lane.queue[:len(group)]
            try:
                self._write(group)  # this caller's item is the queue's head, so in the group
            finally:
                with lane.lock:
                    if lane.queue:
                        lane.queue[0].wake.release()  # the next caller in line writes next
                    else:
                        lane.writing = False
        if put.error is not None:
            raise put.error
        return put.stored

    # -- writing a group (one writer at a time) -------------------------------------------

    def _write(self, group: list[_Put]) -> None:
        try:
            if len(group) == 1:
                group[0].stored = self._put_conditionally(group[0].item)
            else:
                self._write_group(group)
        except Exception as exc:  # every caller of the group learns of the failure
            for put in group:
                put.error = exc
        finally:
            for put in group:
                put.finished = True
                if put is not group[0]:  # the writer's own item: it is not waiting
                    put.wake.release()

    def _put_conditionally(self, item: AttributeValues) -> bool:
        try:
            self._client.put_item(TableName=self._table_name, Item=item,
                                  ConditionExpression=self._condition,
                                  ExpressionAttributeNames=self._names)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _write_group(self, group: list[_Put]) -> None:
        first: dict[tuple[Hashable, ...], _Put] = {}
        for put in group:
            first.setdefault(put.key, put)  # later puts of the same key are duplicates
        existing = self._existing_keys(
            [{name: put.item[name] for name in self._keys} for put in first.values()])
        new = [put for key, put in first.items() if key not in existing]
        self._batch_write([put.item for put in new])
        for put in new:
            put.stored = True
        with self._groups_lock:
            self.groups_written += 1

    def _existing_keys(self, keys: list[AttributeValues]) -> set[tuple[Hashable, ...]]:
        client = self._client
        name = self._table_name
        request: dict[str, Any] = {name: {
            "Keys": keys,
            "ConsistentRead": True,
            "ProjectionExpression": ", ".join(self._names),
            "ExpressionAttributeNames": self._names,
        }}
        found: set[tuple[Hashable, ...]] = set()
        for attempt in range(_UNPROCESSED_RETRIES + 1):
            response = client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(name, []):
                found.add(self._key_of(item))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.01 * 2 ** attempt)
        raise RuntimeError(f"{name}: BatchGetItem left keys unprocessed after retries")

    def _batch_write(self, items: list[AttributeValues]) -> None:
        for start in range(0, len(items), MAX_WRITE):
            self._batch_write_chunk(items[start:start + MAX_WRITE])

    def _batch_write_chunk(self, items: list[AttributeValues]) -> None:
        client = self._client
        name = self._table_name
        request: dict[str, Any] = {name: [{"PutRequest": {"Item": item}} for item in items]}
        for attempt in range(_UNPROCESSED_RETRIES + 1):
            response = client.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if not request:
                return
            time.sleep(0.01 * 2 ** attempt)
        raise RuntimeError(f"{name}: BatchWriteItem left items unprocessed after retries")
