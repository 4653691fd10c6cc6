"""Memory events in the memories table, in a partition of their own per user
("{user_id}#events"), so no query for memories ever meets one.

DynamoDB has no transaction that spans these items, the memory item, its S3 body and its
vector: events are written after the change they record, with ids derived from the job
(consolidation) so a retried job writes the same events again as no-ops."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from typing import Any

from pai_cli.backends.aws.session import Aws, call, reraise
from pai_cli.records import SealedEvent


def partition(user_id: str) -> str:
    return f"{user_id}#events"


def _item(e: SealedEvent) -> dict[str, Any]:
    item: dict[str, Any] = {
        "user_id": partition(e.user_id), "memory_id": e.id, "owner": e.user_id,
        "about": e.memory_id, "kind": e.kind, "actor": e.actor,
        "at": Decimal(f"{e.at:.6f}"), "detail": _plain(e.detail),
    }
    for name in ("batch", "model"):
        if getattr(e, name):
            item[name] = getattr(e, name)
    if e.sources:
        item["sources"] = list(e.sources)
    for name in ("before", "after"):
        blob = getattr(e, name)
        if blob is not None:
            item[name] = base64.b64encode(blob).decode("ascii")
    return item


def _plain(value: Any) -> Any:
    """DynamoDB keeps numbers as Decimal: floats go in as Decimal, come out as float."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _back(value: Any) -> Any:
    if isinstance(value, Decimal):
        whole = value.as_tuple().exponent >= 0  # written as an int: 3, not 3.0
        return int(value) if whole else float(value)
    if isinstance(value, dict):
        return {k: _back(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_back(v) for v in value]
    return value


def _event(item: dict[str, Any]) -> SealedEvent:
    def blob(name: str) -> bytes | None:
        return base64.b64decode(item[name]) if item.get(name) else None

    return SealedEvent(
        id=item["memory_id"], user_id=item["owner"], memory_id=item["about"],
        kind=item["kind"], actor=item["actor"], at=float(item["at"]),
        batch=item.get("batch"), sources=tuple(item.get("sources") or ()),
        model=item.get("model"), before=blob("before"), after=blob("after"),
        detail=_back(item.get("detail") or {}),
    )


class DynamoEventLog:
    def __init__(self, aws: Aws, table: str, env: str = "dev") -> None:
        self.aws = aws
        self.table_name = table
        self.env = env
        self._table: Any = None

    @property
    def table(self) -> Any:
        if self._table is None:
            resource = self.aws.session().resource(
                "dynamodb", endpoint_url=self.aws.endpoint_url,
                config=self.aws.client("dynamodb").meta.config)
            self._table = resource.Table(self.table_name)
        return self._table

    def _ddb(self, fn: Any) -> Any:
        return call(fn, f"DynamoDB table {self.table_name}", self.env)

    def transaction(self) -> AbstractContextManager[None]:
        return nullcontext()

    def append(self, events: Sequence[SealedEvent]) -> None:
        from botocore.exceptions import ClientError

        for e in events:
            try:
                self.table.put_item(Item=_item(e),
                                    ConditionExpression="attribute_not_exists(memory_id)")
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    reraise(err, f"DynamoDB table {self.table_name}", self.env)
                # else: written by an earlier try of the same job

    def _all(self, user_id: str) -> Iterator[SealedEvent]:
        from boto3.dynamodb.conditions import Key

        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("user_id").eq(partition(user_id)),
                                  "ConsistentRead": True}
        while True:
            out = self._ddb(lambda k=kwargs: self.table.query(**k))
            yield from (_event(i) for i in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _ordered(self, user_id: str) -> list[SealedEvent]:
        return sorted(self._all(user_id), key=lambda e: (e.at, e.id))

    def of_memory(self, user_id: str, memory_id: str) -> list[SealedEvent]:
        return [e for e in self._ordered(user_id) if e.memory_id == memory_id]

    def since(self, user_id: str, since: float, limit: int) -> list[SealedEvent]:
        return [e for e in reversed(self._ordered(user_id)) if e.at >= since][:limit]

    def of_batch(self, user_id: str, batch: str) -> list[SealedEvent]:
        return [e for e in self._ordered(user_id) if e.batch == batch]

    def resolve_event(self, user_id: str, id_or_prefix: str) -> list[str]:
        if not id_or_prefix:
            return []
        ids = sorted(e.id for e in self._all(user_id) if e.id.startswith(id_or_prefix))
        return [id_or_prefix] if id_or_prefix in ids else ids[:10]

    def get_event(self, user_id: str, event_id: str) -> SealedEvent | None:
        out = self._ddb(lambda: self.table.get_item(
            Key={"user_id": partition(user_id), "memory_id": event_id}, ConsistentRead=True))
        return _event(out["Item"]) if out.get("Item") else None

    def scrub(self, user_id: str, memory_id: str) -> int:
        n = 0
        for e in self.of_memory(user_id, memory_id):
            self._ddb(lambda e=e: self.table.update_item(
                Key={"user_id": partition(user_id), "memory_id": e.id},
                UpdateExpression="REMOVE #b, #a",
                ExpressionAttributeNames={"#b": "before", "#a": "after"}))
            n += 1
        return n

    def delete_user(self, user_id: str) -> int:
        ids = [e.id for e in self._all(user_id)]
        with self.table.batch_writer() as batch:
            for event_id in ids:
                batch.delete_item(Key={"user_id": partition(user_id), "memory_id": event_id})
        return len(ids)
