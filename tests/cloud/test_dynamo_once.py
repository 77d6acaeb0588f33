"""ConditionalTable against moto's DynamoDB: each key stored once, first write wins, also when
many callers write at once and their items are committed in groups."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from cloud.local.stack import LocalStack
from cloud.shared.dynamo import ConditionalTable, to_attribute_values, to_dynamo


@pytest.fixture
def table(local_stack: LocalStack) -> Any:
    env = local_stack.env
    dynamodb = boto3.resource("dynamodb", endpoint_url=env["aws_endpoint_url"],
                              region_name=env["region"], aws_access_key_id="testing",
                              aws_secret_access_key="testing")
    created = dynamodb.create_table(
        TableName=f"once-{uuid.uuid4().hex[:8]}", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "thing", "AttributeType": "S"},
                              {"AttributeName": "seq", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "thing", "KeyType": "HASH"},
                   {"AttributeName": "seq", "KeyType": "RANGE"}])
    yield created
    created.delete()


@pytest.fixture
def client(local_stack: LocalStack) -> Any:
    env = local_stack.env
    return boto3.client("dynamodb", endpoint_url=env["aws_endpoint_url"], region_name=env["region"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def item(seq: int, text: str, thing: str = "hs-1") -> dict[str, Any]:
    return {"thing": thing, "seq": seq, "text": text, "level": 0.5}


def test_a_single_caller_stores_once(table: Any, client: Any) -> None:
    store = ConditionalTable(client, table.name, ("thing", "seq"))
    assert store.put_once(item(1, "first")) is True
    assert store.put_once(item(1, "second")) is False
    stored = table.get_item(Key={"thing": "hs-1", "seq": 1})["Item"]
    assert stored["text"] == "first" and str(stored["level"]) == "0.5"
    assert store.groups_written == 0  # alone, every write is one conditional PutItem


@pytest.mark.parametrize("lanes", [1, 4])
def test_concurrent_callers_store_each_key_once_and_first_wins(table: Any, client: Any,
                                                               lanes: int) -> None:
    store = ConditionalTable(client, table.name, ("thing", "seq"), lanes=lanes)
    assert store.put_once(item(0, "already there")) is True
    # 60 callers released at once: seq 0 exists; seqs 1..29 arrive twice each.
    calls = [item(0, "late")] + [item(s, f"copy {c}") for s in range(1, 30) for c in (1, 2)]
    start = threading.Barrier(len(calls))

    def put(doc: dict[str, Any]) -> bool:
        start.wait()
        return store.put_once(doc)

    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(put, calls))
    assert results[0] is False
    by_seq: dict[int, list[bool]] = {}
    for doc, stored in zip(calls[1:], results[1:], strict=True):
        by_seq.setdefault(doc["seq"], []).append(stored)
    assert all(sorted(outcomes) == [False, True] for outcomes in by_seq.values()), by_seq
    assert store.groups_written >= 1, "no group was committed; the test did not run concurrently"

    items = table.scan(ConsistentRead=True)["Items"]
    assert sorted(int(i["seq"]) for i in items) == list(range(30))
    assert next(i for i in items if int(i["seq"]) == 0)["text"] == "already there"
    # The stored copy is the one whose caller was told "stored".
    winners = {doc["seq"]: doc["text"] for doc, ok in zip(calls, results, strict=True) if ok}
    assert {int(i["seq"]): i["text"] for i in items if int(i["seq"])} == winners


def test_a_failing_write_reaches_every_caller_of_its_group(client: Any) -> None:
    store = ConditionalTable(client, "no-such-table", ("thing", "seq"))
    start = threading.Barrier(12)

    def put(seq: int) -> str:
        start.wait()
        try:
            store.put_once(item(seq, "x"))
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "stored"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(put, range(12)))
    assert outcomes == ["ResourceNotFoundException"] * 12


def test_bad_arguments_are_named(table: Any, client: Any) -> None:
    with pytest.raises(ValueError, match="key_attributes"):
        ConditionalTable(client, table.name, ())
    with pytest.raises(ValueError, match="max_group must be 1..100, got 101"):
        ConditionalTable(client, table.name, ("thing", "seq"), max_group=101)
    with pytest.raises(ValueError, match="lanes must be at least 1, got 0"):
        ConditionalTable(client, table.name, ("thing", "seq"), lanes=0)
    with pytest.raises(ValueError, match=r"item lacks key attribute\(s\) \['seq'\]"):
        ConditionalTable(client, table.name, ("thing", "seq")).put_once({"thing": "hs-1"})


def test_typed_items_match_what_the_resource_api_sends() -> None:
    document = {"thing": "hs-1", "seq": 7, "level": 0.1, "tiny": 1e-07, "big": 3e20,
                "ok": True, "none": None, "bands": [0.5, 12, -3.25],
                "nested": {"rms": 0.333, "tags": ["a", "b"]}, "text": "é"}
    # The reference conversion: the document's JSON text, floats parsed as Decimal.
    decimals = json.loads(json.dumps(document), parse_float=Decimal)
    assert to_dynamo(document) == decimals
    serializer = TypeSerializer()
    expected = {name: serializer.serialize(value) for name, value in decimals.items()}
    assert to_attribute_values(document) == expected
