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
