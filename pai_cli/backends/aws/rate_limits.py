"""The HTTP API's per-user request buckets in DynamoDB (the storage stack's LimitsTable).

One item per pai user: {user_id, tokens, at, v, ttl}. Reads are strongly consistent and
every write is a PutItem conditional on the version read (or on there being no item), so
two Lambda containers admitting the same user's requests at once cannot both spend the same
token: one write wins, the other finds ConditionalCheckFailed and the limiter reads again
(core/rate_limit.py). TTL drops a bucket once it would be full again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pai_cli.backends.aws.session import Aws, call, reraise
from pai_cli.records import BucketState


def limits_table(name: str) -> dict[str, Any]:
    """CreateTable arguments; the storage stack's LimitsTable declares the same key."""
    return {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "user_id", "AttributeType": "S"}]}


def _number(value: float) -> str:
    # DynamoDB numbers are decimal strings: repr keeps every bit of the float, and a token
    # count written is read back as the same float.
    return str(Decimal(repr(float(value))))


class DynamoBucketStore:
    def __init__(self, aws: Aws, table: str, env: str) -> None:
        self.aws, self.table, self.env = aws, table, env

    def _what(self) -> str:
        return f"DynamoDB table {self.table}"

    def read(self, user_id: str) -> BucketState | None:
        client = self.aws.client("dynamodb")
        out = call(lambda: client.get_item(TableName=self.table,
                                           Key={"user_id": {"S": user_id}},
                                           ConsistentRead=True), self._what(), self.env)
        item = out.get("Item")
        if not item:
            return None
        return BucketState(float(item["tokens"]["N"]), float(item["at"]["N"]),
                           int(item["v"]["N"]))

    def write(self, user_id: str, state: BucketState, expected_version: int | None,
              expires_at: float) -> bool:
        from botocore.exceptions import ClientError

        client = self.aws.client("dynamodb")
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(user_id)"}
            if expected_version is None else
            {"ConditionExpression": "#v = :expected", "ExpressionAttributeNames": {"#v": "v"},
             "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}}})
        try:
            client.put_item(TableName=self.table, Item={
                "user_id": {"S": user_id}, "tokens": {"N": _number(state.tokens)},
                "at": {"N": _number(state.at)}, "v": {"N": str(state.version)},
                "ttl": {"N": str(int(expires_at) + 1)}}, **condition)
        except ClientError as e:
            if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            reraise(e, self._what(), self.env)
        return True
