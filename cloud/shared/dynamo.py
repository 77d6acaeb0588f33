"""DynamoDB helpers for the functions: idempotent conditional writes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError


def to_dynamo(document: dict[str, Any]) -> dict[str, Any]:
    """JSON floats become Decimal, as the DynamoDB resource API requires."""
    converted: dict[str, Any] = json.loads(json.dumps(document), parse_float=Decimal)
    return converted


class ConditionalTable:
    """Puts an item only if its key is new; a duplicate is reported, not raised."""

    def __init__(self, table: Any, key_attributes: tuple[str, ...]) -> None:
        self._table = table
        self._condition = " AND ".join(f"attribute_not_exists(#k{i})"
                                       for i in range(len(key_attributes)))
        self._names = {f"#k{i}": name for i, name in enumerate(key_attributes)}

    def put_once(self, item: dict[str, Any]) -> bool:
        try:
            self._table.put_item(
                Item=to_dynamo(item),
                ConditionExpression=self._condition,
                ExpressionAttributeNames=self._names,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
