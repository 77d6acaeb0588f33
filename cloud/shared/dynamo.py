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

The group path is exact as long as this object is the table's only writer of new keys for
the duration of a group; another process writing the same key between the read and the
write would be overwritten. The only other writer pattern in this platform, concurrent Lambda
environments, uses the conditional single-item path.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Hashable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

MAX_GROUP = 100  # BatchGetItem's limit per request
MAX_WRITE = 25  # BatchWriteItem's limit per request
_UNPROCESSED_RETRIES = 8


def to_dynamo(document: dict[str, Any]) -> dict[str, Any]:
    """JSON floats become Decimal, as the DynamoDB resource API requires."""
    converted: dict[str, Any] = json.loads(json.dumps(document), parse_float=Decimal)
    return converted


class _Put:
    """One caller's item, waiting for the group that writes it."""

    __slots__ = ("error", "finished", "item", "key", "stored", "wake")

    def __init__(self, item: dict[str, Any], key: tuple[Hashable, ...]) -> None:
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

    `table` is a boto3 DynamoDB resource Table; thread-safe. `lanes`: how many groups may be
    in flight at once (each lane owns a disjoint share of the keys).
    """

    def __init__(self, table: Any, key_attributes: tuple[str, ...],
                 max_group: int = MAX_GROUP, lanes: int = 1) -> None:
        if not key_attributes:
            raise ValueError("key_attributes must name the table's key attributes")
        if not 1 <= max_group <= MAX_GROUP:
            raise ValueError(f"max_group must be 1..{MAX_GROUP}, got {max_group}")
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        self._table = table
        self._keys = key_attributes
        self._max_group = max_group
        self._condition = " AND ".join(f"attribute_not_exists(#k{i})"
                                       for i in range(len(key_attributes)))
        self._names = {f"#k{i}": name for i, name in enumerate(key_attributes)}
        self._lanes = [_Lane() for _ in range(lanes)]
        self._groups_lock = threading.Lock()
        self.groups_written = 0  # how many multi-item groups went out (for benchmarks)

    def _key_of(self, item: dict[str, Any]) -> tuple[Hashable, ...]:
        missing = [name for name in self._keys if name not in item]
        if missing:
            raise ValueError(f"item lacks key attribute(s) {missing}")
        return tuple(item[name] for name in self._keys)

    def put_once(self, item: dict[str, Any]) -> bool:
        """Store `item` unless its key exists; True if stored, False if it was a duplicate."""
        converted = to_dynamo(item)
        put = _Put(converted, self._key_of(converted))
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

    def _put_conditionally(self, item: dict[str, Any]) -> bool:
        try:
            self._table.put_item(Item=item, ConditionExpression=self._condition,
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
        existing = self._existing_keys(list(first))
        new = [put for key, put in first.items() if key not in existing]
        self._batch_write([put.item for put in new])
        for put in new:
            put.stored = True
        with self._groups_lock:
            self.groups_written += 1

    def _existing_keys(self, keys: list[tuple[Hashable, ...]]) -> set[tuple[Hashable, ...]]:
        client = self._table.meta.client
        name = self._table.name
        request: dict[str, Any] = {name: {
            "Keys": [dict(zip(self._keys, key, strict=True)) for key in keys],
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

    def _batch_write(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), MAX_WRITE):
            self._batch_write_chunk(items[start:start + MAX_WRITE])

    def _batch_write_chunk(self, items: list[dict[str, Any]]) -> None:
        client = self._table.meta.client
        name = self._table.name
        request: dict[str, Any] = {name: [{"PutRequest": {"Item": item}} for item in items]}
        for attempt in range(_UNPROCESSED_RETRIES + 1):
            response = client.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if not request:
                return
            time.sleep(0.01 * 2 ** attempt)
        raise RuntimeError(f"{name}: BatchWriteItem left items unprocessed after retries")
