"""Conversation messages in DynamoDB: HASH user_id, RANGE "conversation_id#timestamp".

Each conversation also has a head item (RANGE "~conv#{id}") with its times and message
count, written in the same DynamoDB transaction as each message, so listing a user's
conversations is one Query and reading the last N messages is another; never a Scan."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.records import ConversationInfo, SealedMessage

HEAD = "~conv#"


def message_key(m: SealedMessage) -> str:
    return f"{m.conversation_id}#{m.created_at:020.6f}#{m.id}"


class DynamoConversationStore:
    remote = True
    """Reads are network round trips: the turn reads history beside embed-and-search."""

    def __init__(self, aws: Aws, table: str, env: str = "dev") -> None:
        self.aws = aws
        self.table_name = table
        self.env = env

    def _call(self, fn: Any) -> Any:
        return call(fn, f"DynamoDB table {self.table_name}", self.env)

    def transaction(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def append(self, message: SealedMessage) -> None:
        m = message
        client = self.aws.client("dynamodb")
        ttl = str(int(m.expires_at))
        self._call(lambda: client.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.table_name, "Item": {
                "user_id": {"S": m.user_id}, "sk": {"S": message_key(m)},
                "message_id": {"S": m.id}, "conversation_id": {"S": m.conversation_id},
                "role": {"S": m.role}, "content": {"B": m.content},
                "created_at": {"N": f"{m.created_at:.6f}"}, "ttl": {"N": ttl}},
                "ConditionExpression": "attribute_not_exists(sk)"}},
            {"Update": {"TableName": self.table_name,
                        "Key": {"user_id": {"S": m.user_id}, "sk": {"S": HEAD + m.conversation_id}},
                        "UpdateExpression": "SET updated_at = :t, #ttl = :ttl, "
                                            "created_at = if_not_exists(created_at, :t), "
                                            "conversation_id = :c ADD messages :one",
                        "ExpressionAttributeNames": {"#ttl": "ttl"},
                        "ExpressionAttributeValues": {
                            ":t": {"N": f"{m.created_at:.6f}"}, ":ttl": {"N": ttl},
                            ":c": {"S": m.conversation_id}, ":one": {"N": "1"}}}},
        ]))

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        client = self.aws.client("dynamodb")
        kwargs["TableName"] = self.table_name
        while True:
            out = self._call(lambda k=kwargs: client.query(**k))
            yield from out.get("Items", [])
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _messages(self, user_id: str, conversation_id: str, now: float, newest_first: bool,
                  limit: int | None = None) -> list[SealedMessage]:
        out: list[SealedMessage] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": "user_id = :u AND begins_with(sk, :c)",
            "ExpressionAttributeValues": {":u": {"S": user_id}, ":c": {"S": conversation_id + "#"}},
            "ScanIndexForward": not newest_first, "ConsistentRead": True,
        }
        if limit:
            query["Limit"] = limit
        for item in self._query(**query):
            if float(item["ttl"]["N"]) <= now:  # TTL deletion lags: filter ourselves
                continue
            out.append(SealedMessage(
                id=item["message_id"]["S"], conversation_id=item["conversation_id"]["S"],
                user_id=user_id, role=item["role"]["S"], content=bytes(item["content"]["B"]),
                created_at=float(item["created_at"]["N"]), expires_at=float(item["ttl"]["N"])))
            if limit and len(out) >= limit:
                break
        return out

    def last_messages(self, user_id: str, conversation_id: str, n: int,
                      now: float) -> list[SealedMessage]:
        return list(reversed(self._messages(user_id, conversation_id, now, True, n)))

    def messages(self, user_id: str, conversation_id: str, now: float) -> list[SealedMessage]:
        return self._messages(user_id, conversation_id, now, False)

    def _heads(self, user_id: str, prefix: str = "") -> Iterator[dict[str, Any]]:
        return self._query(
            KeyConditionExpression="user_id = :u AND begins_with(sk, :h)",
            ExpressionAttributeValues={":u": {"S": user_id}, ":h": {"S": HEAD + prefix}},
            ConsistentRead=True)

    def conversations(self, user_id: str, now: float, limit: int) -> list[ConversationInfo]:
        heads = [h for h in self._heads(user_id) if float(h["ttl"]["N"]) > now]
        heads.sort(key=lambda h: -float(h["updated_at"]["N"]))
        return [ConversationInfo(h["conversation_id"]["S"], float(h["created_at"]["N"]),
                                 float(h["updated_at"]["N"]), int(h["messages"]["N"]))
                for h in heads[:limit]]

    def resolve_conversation(self, user_id: str, id_or_prefix: str, now: float) -> list[str]:
        if not id_or_prefix:
            return []
        ids = [h["conversation_id"]["S"] for h in self._heads(user_id, id_or_prefix)
               if float(h["ttl"]["N"]) > now]
        return [id_or_prefix] if id_or_prefix in ids else ids[:10]

    def delete_conversation(self, user_id: str, conversation_id: str) -> bool:
        client = self.aws.client("dynamodb")
        keys = [item["sk"]["S"] for item in self._query(
            KeyConditionExpression="user_id = :u AND begins_with(sk, :c)",
            ExpressionAttributeValues={":u": {"S": user_id}, ":c": {"S": conversation_id + "#"}},
            ProjectionExpression="sk")]
        keys.append(HEAD + conversation_id)
        for start in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": {"user_id": {"S": user_id}, "sk": {"S": k}}}}
                        for k in keys[start:start + 25]]
            pending: dict[str, Any] = {self.table_name: requests}
            while pending:
                out = self._call(lambda p=pending: client.batch_write_item(RequestItems=p))
                pending = out.get("UnprocessedItems") or {}
        return len(keys) > 1

    def purge_expired(self, user_id: str, now: float) -> int:
        return 0  # DynamoDB's TTL deletes expired items; every read filters them until then

