"""The stack's moto server (cloud.local.moto_server) keeps HTTP/1.1 connections open, so AWS
calls from the emulator and the CLIs reuse one connection instead of paying a new one each,
and it still answers like moto: errors as AWS JSON errors, services routed by request."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cloud.local.moto_server import main
from cloud.local.stack import LocalStack

LIST_TABLES = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    # moto routes by the credential scope's service; the signature itself is not checked
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/"
                     "aws4_request, SignedHeaders=host, Signature=0",
}


def test_connection_is_kept_alive_across_requests(local_stack: LocalStack) -> None:
    endpoint = urlsplit(local_stack.env["aws_endpoint_url"])
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=10)
    try:
        sockets = []
        for _ in range(3):
            connection.request("POST", "/", body=b"{}", headers=LIST_TABLES)
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 200, body
            assert "TableNames" in body
            assert not response.will_close, dict(response.getheaders())
            sockets.append(connection.sock)
        assert sockets[0] is not None and all(s is sockets[0] for s in sockets)
    finally:
        connection.close()


def test_errors_and_other_services_still_answer_as_moto(local_stack: LocalStack) -> None:
    env = local_stack.env
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=env["region"])
    dynamodb = session.client("dynamodb", endpoint_url=env["aws_endpoint_url"])
    with pytest.raises(ClientError) as raised:
        dynamodb.describe_table(TableName="no-such-table")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    s3 = session.client("s3", endpoint_url=env["aws_endpoint_url"])
    assert isinstance(s3.list_buckets()["Buckets"], list)


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--port", "0", "--threads", "0"])
    assert "--threads must be at least 1, got 0" in capsys.readouterr().err


def _outcomes(dynamodb: object, table: str, sizes: range) -> list[str]:
    """For each blob size, whether PutItem and a one-item BatchWriteItem store the item."""
    outcomes = []
    for seq, size in enumerate(sizes):
        item = {"thing": {"S": "t"}, "seq": {"N": str(seq)}, "blob": {"S": "x" * size}}
        for call in ("put", "batch"):
            try:
                if call == "put":
                    dynamodb.put_item(TableName=table, Item=item)  # type: ignore[attr-defined]
                else:
                    dynamodb.batch_write_item(  # type: ignore[attr-defined]
                        RequestItems={table: [{"PutRequest": {"Item": item}}]})
                outcomes.append(f"{size} {call} stored")
            except ClientError as exc:
                error = exc.response["Error"]
                outcomes.append(f"{size} {call} {error['Code']}: {error['Message']}")
    return outcomes


def _create_table(dynamodb: object, name: str) -> None:
    dynamodb.create_table(  # type: ignore[attr-defined]
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "thing", "AttributeType": "S"},
                              {"AttributeName": "seq", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "thing", "KeyType": "HASH"},
                   {"AttributeName": "seq", "KeyType": "RANGE"}])


def test_item_size_limit_is_the_same_as_in_process_moto(local_stack: LocalStack) -> None:
    # The server checks an item's size once instead of per attribute; around the limit it must
    # store and refuse exactly what moto itself does.
    sizes = range(404_975, 404_995)
    env = local_stack.env
    server = boto3.client("dynamodb", endpoint_url=env["aws_endpoint_url"],
                          region_name=env["region"], aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    _create_table(server, "size-limit")
    try:
        served = _outcomes(server, "size-limit", sizes)
    finally:
        server.delete_table(TableName="size-limit")
    with mock_aws():
        reference = boto3.client("dynamodb", region_name=env["region"],
                                 aws_access_key_id="testing", aws_secret_access_key="testing")
        _create_table(reference, "size-limit")
        expected = _outcomes(reference, "size-limit", sizes)
    assert served == expected
    assert any("stored" in o for o in expected) and any("ValidationException" in o
                                                        for o in expected), expected


def _parse(operation: str, body: dict[str, object]) -> object:
    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    model = get_service_model("dynamodb").operation_model(operation)
    return JSONParser(model, map_type=dict).parse({
        "method": "POST", "values": {}, "headers": {}, "body": json.dumps(body).encode(),
        "url_path": "/", "url_params": {}})


# Plain nodes (copied by the fast path) and every kind it hands to moto's parser: blobs,
# nulls, several or unknown members, wrong JSON types, all nested in maps and lists.
_ODD_VALUES: list[object] = [
    {"B": "aGVsbG8="}, {"BS": ["aGVsbG8=", "d29ybGQ="]}, {"S": None}, {"S": "a", "N": "1"},
    {"X": "unknown"}, {"N": 5}, {"SS": "not-a-list"}, {"BOOL": "yes"}, {}, None,
    {"M": {"inner": {"B": "aGk="}, "n": {"N": "2"}}}, {"L": [{"NULL": True}, {"B": "aGk="}]},
    {"M": "not-a-map"}, {"L": {"not": "a list"}},
]
_PLAIN_ITEM: dict[str, object] = {
    "thing": {"S": "t"}, "seq": {"N": "7"}, "ok": {"BOOL": False}, "none": {"NULL": True},
    "tags": {"SS": ["a", "b"]}, "levels": {"NS": ["1", "2.5"]},
    "bands": {"L": [{"N": "1"}, {"M": {"hz": {"N": "63"}, "db": {"N": "-12.5"}}}]},
    "nested": {"M": {"a": {"L": [{"L": [{"S": "deep"}]}]}}},
}


def _outcome(operation: str, body: dict[str, object]) -> object:
    """What moto's parser makes of a request: the parsed parameters, or the error it raises."""
    try:
        return _parse(operation, body)
    except Exception as exc:  # noqa: BLE001 - the kind of failure is what is compared
        return type(exc).__name__


def test_plain_attribute_values_parse_exactly_as_moto_parses_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.parse import BaseJSONParser

    from cloud.local.moto_server import fast_attribute_values

    requests = [
        ("BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": _PLAIN_ITEM}}]}}),
        ("BatchGetItem", {"RequestItems": {"t": {"Keys": [{"thing": {"S": "t"},
                                                           "seq": {"N": "1"}}]}}}),
        *(("PutItem", {"TableName": "t", "Item": {**_PLAIN_ITEM, "odd": value},
                       "ExpressionAttributeValues": {":v": {"L": [value]}}})
          for value in _ODD_VALUES),
    ]
    expected = [_outcome(operation, body) for operation, body in requests]
    generic = BaseJSONParser._parse_structure
    monkeypatch.setattr(BaseJSONParser, "_parse_structure", generic)
    fast_attribute_values()
    assert BaseJSONParser._parse_structure is not generic
    got = [_outcome(operation, body) for operation, body in requests]
    for request, before, after in zip(requests, expected, got, strict=True):
        assert after == before, request
    # the checks can fail: moto decodes blobs, raises on some malformed nodes, drops others
    assert {"B": b"hello"} in [g["Item"]["odd"] for g in got if isinstance(g, dict) and "Item" in g]
    assert "AttributeError" in got
