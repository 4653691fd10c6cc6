"""Memories in DynamoDB (HASH user_id, RANGE memory_id) with the full body in S3.

Items hold the sealed content too (our notes are at most 64 KiB, well inside DynamoDB's
400 KB), so reads are one DynamoDB call; the S3 object at memories/{user}/{id}.json is the
durable full copy the reference's recovery path rebuilds from. Two indexes, both
partitioned by user_id, list a user's memories by time and by category without a Scan.

Bodies are encrypted at rest with the pai key, named on every PutObject: with
`ServerSideEncryption="aws:kms"` alone S3 would use the AWS managed aws/s3 key, and the
bucket policy refuses any put that names another key than pai's.

Write order: S3 body first, then the DynamoDB item, which is the commit point. A failed
item write deletes the body it just wrote; a crash between the two leaves a body no read
path can see, which `pai memory reindex` sweeps away.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

from pai_cli.backends.aws.session import NOT_DEPLOYED, Aws, call, reraise
from pai_cli.records import SealedMemory

BY_TIME = "user-created-index"
BY_CATEGORY = "user-category-created-index"
META_USER = "#meta"


def body_key(user_id: str, memory_id: str) -> str:
    return f"memories/{user_id}/{memory_id}.json"


def cat_time(category: str, created_at: float) -> str:
    return f"{category}#{created_at:020.6f}"


def _item(m: SealedMemory) -> dict[str, Any]:
    item: dict[str, Any] = {
        "user_id": m.user_id,
        "memory_id": m.id,
        "content": m.content,
        "category": m.category,
        "created_at": Decimal(f"{m.created_at:.6f}"),
        "updated_at": Decimal(f"{m.updated_at:.6f}"),
        "cat_time": cat_time(m.category, m.created_at),
        "pinned": m.pinned,
        "s3_key": body_key(m.user_id, m.id),
    }
    if m.expires_at is not None:
        item["ttl"] = int(m.expires_at)  # DynamoDB TTL wants whole epoch seconds
        item["expires_at"] = Decimal(f"{m.expires_at:.6f}")
    for name in ("source_conversation", "source_message", "superseded_by", "conflicts_with"):
        if getattr(m, name):
            item[name] = getattr(m, name)
    item["origin"] = m.origin
    item["status"] = m.status
    item["processed"] = m.processed
    if m.importance is not None:
        item["importance"] = m.importance
    for name in ("valid_from", "valid_to"):
        if getattr(m, name) is not None:
            item[name] = Decimal(f"{getattr(m, name):.6f}")
    if m.sources:
        item["sources"] = list(m.sources)
    return item


def _float(item: dict[str, Any], name: str) -> float | None:
    return float(item[name]) if item.get(name) is not None else None


def _memory(item: dict[str, Any]) -> SealedMemory:
    return SealedMemory(
        id=item["memory_id"],
        user_id=item["user_id"],
        content=bytes(item["content"].value if hasattr(item["content"], "value")
                      else item["content"]),
        category=item["category"],
        created_at=float(item["created_at"]),
        updated_at=float(item["updated_at"]),
        expires_at=float(item["expires_at"]) if "expires_at" in item else None,
        pinned=bool(item.get("pinned")),
        terms="",
        source_conversation=item.get("source_conversation"),
        source_message=item.get("source_message"),
        origin=item.get("origin", "user"),
        importance=int(item["importance"]) if item.get("importance") is not None else None,
        valid_from=_float(item, "valid_from"),
        valid_to=_float(item, "valid_to"),
        superseded_by=item.get("superseded_by"),
        status=item.get("status", "active"),
        sources=tuple(item.get("sources") or ()),
        conflicts_with=item.get("conflicts_with"),
        processed=bool(item.get("processed", True)),
    )


def _live(item: dict[str, Any], now: float) -> bool:
    # DynamoDB deletes expired items up to days later (moto never does): filter ourselves.
    return "expires_at" not in item or float(item["expires_at"]) > now


class DynamoMemoryStore:
    supports_keywords = False

    def __init__(self, aws: Aws, table: str, bucket: str, env: str = "dev",
                 kms_key: str = "") -> None:
        self.aws = aws
        self.table_name = table
        self.bucket = bucket
        self.env = env
        self.kms_key = kms_key
        """The key's ARN, or its alias (then resolved to the ARN once, with DescribeKey)."""
        self._table: Any = None

    @property
    def kms_key_arn(self) -> str:
        if not self.kms_key:
            from pai_cli.errors import ConfigError

            raise ConfigError(f"No KMS key named for the bucket {self.bucket}: "
                              f"{NOT_DEPLOYED.format(env=self.env)}.")
        if not self.kms_key.startswith("arn:") or ":alias/" in self.kms_key:
            # The bucket policy compares the header with the key's ARN: never an alias.
            kms = self.aws.client("kms")
            self.kms_key = call(lambda: kms.describe_key(KeyId=self.kms_key)["KeyMetadata"][
                "Arn"], f"KMS key {self.kms_key}", self.env)
        return self.kms_key

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

    def _s3(self, fn: Any) -> Any:
        return call(fn, f"S3 bucket {self.bucket}", self.env)

    def transaction(self) -> AbstractContextManager[None]:
        # No transaction spans DynamoDB, S3 and the vector store: ordering and idempotent,
        # id-keyed writes stand in for it (see the module docstring).
        return contextlib.nullcontext()

    # -- writes --------------------------------------------------------------------------
    def _put_body(self, m: SealedMemory) -> str | None:
        """Returns the version written, so a rollback removes that one and no other."""
        body = json.dumps({"format": 1, "memory_id": m.id, "user_id": m.user_id,
                           "sealed": base64.b64encode(m.content).decode("ascii")}).encode()
        out = self._s3(lambda: self.aws.client("s3").put_object(
            Bucket=self.bucket, Key=body_key(m.user_id, m.id), Body=body,
            ContentType="application/json", ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.kms_key_arn, BucketKeyEnabled=True))
        return out.get("VersionId")

    def _undo_body(self, m: SealedMemory, version: str | None) -> None:
        key = body_key(m.user_id, m.id)
        if version:
            self._s3(lambda: self.aws.client("s3").delete_object(
                Bucket=self.bucket, Key=key, VersionId=version))
        else:  # an unversioned bucket: the object is this write's and nobody else's
            self._s3(lambda: self.aws.client("s3").delete_object(Bucket=self.bucket, Key=key))

    def _existing(self, user_id: str, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        client = self.aws.client("dynamodb")
        for start in range(0, len(ids), 100):
            keys = [{"user_id": {"S": user_id}, "memory_id": {"S": i}}
                    for i in ids[start:start + 100]]
            request = {self.table_name: {"Keys": keys, "ProjectionExpression": "memory_id"}}
            while request:
                out = self._ddb(lambda r=request: client.batch_get_item(RequestItems=r))
                found |= {x["memory_id"]["S"] for x in out["Responses"].get(self.table_name, [])}
                request = out.get("UnprocessedKeys") or {}
        return found

    def insert(self, memories: Sequence[SealedMemory]) -> list[str]:
        from botocore.exceptions import ClientError

        if not memories:
            return []
        known = self._existing(memories[0].user_id, [m.id for m in memories])
        inserted = []
        for m in memories:
            if m.id in known:
                continue
            version = self._put_body(m)
            try:
                self.table.put_item(Item=_item(m),
                                    ConditionExpression="attribute_not_exists(memory_id)")
            except ClientError as e:
                self._undo_body(m, version)  # only our version: a racing winner keeps its own
                if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue  # another process wrote it first
                reraise(e, f"DynamoDB table {self.table_name}", self.env)
            except BaseException:
                self._undo_body(m, version)
                raise
            inserted.append(m.id)
        return inserted

    def update(self, memory: SealedMemory) -> bool:
        """Only an existing item is replaced: an edit racing a forget must not bring the
        memory back."""
        from botocore.exceptions import ClientError

        version = self._put_body(memory)
        try:
            self.table.put_item(Item=_item(memory),
                                ConditionExpression="attribute_exists(memory_id)")
        except ClientError as e:
            self._undo_body(memory, version)
            if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            reraise(e, f"DynamoDB table {self.table_name}", self.env)
        return True

    def _delete_body(self, user_id: str, memory_id: str) -> None:
        """Every version and delete marker: forgetting must not leave old copies behind."""
        from pai_cli.errors import BackendError

        s3 = self.aws.client("s3")
        key = body_key(user_id, memory_id)
        pages = self._s3(lambda: list(s3.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=key)))
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for page in pages
                  for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                  if v["Key"] == key]
        if not doomed:
            return
        for start in range(0, len(doomed), 1000):
            chunk = doomed[start:start + 1000]
            out = self._s3(lambda c=chunk: s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": c, "Quiet": True}))
            if out.get("Errors"):  # S3 answers 200 and lists per-key failures
                err = out["Errors"][0]
                raise BackendError(f"S3 kept {len(out['Errors'])} version(s) of {key}: "
                                   f"{err.get('Code')} {err.get('Message', '')}".strip())

    def delete(self, user_id: str, memory_id: str) -> bool:
        out = self._ddb(lambda: self.table.delete_item(
            Key={"user_id": user_id, "memory_id": memory_id}, ReturnValues="ALL_OLD"))
        self._delete_body(user_id, memory_id)
        return "Attributes" in out

    def delete_all(self, user_id: str) -> list[str]:
        ids = [m.id for m in self._query_all(user_id)]
        for memory_id in ids:
            self.delete(user_id, memory_id)
        return ids

    def purge_expired(self, user_id: str, now: float) -> list[str]:
        expired = [m.id for m in self._query_all(user_id) if m.expires_at and m.expires_at <= now]
        for memory_id in expired:
            self.delete(user_id, memory_id)
        return expired

    # -- reads ---------------------------------------------------------------------------
    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            out = self._ddb(lambda k=kwargs: self.table.query(**k))
            yield from out.get("Items", [])
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _query_all(self, user_id: str) -> Iterator[SealedMemory]:
        from boto3.dynamodb.conditions import Key

        for item in self._query(KeyConditionExpression=Key("user_id").eq(user_id),
                                ConsistentRead=True):
            yield _memory(item)

    def get(self, user_id: str, memory_id: str, now: float) -> SealedMemory | None:
        out = self._ddb(lambda: self.table.get_item(
            Key={"user_id": user_id, "memory_id": memory_id}, ConsistentRead=True))
        item = out.get("Item")
        return _memory(item) if item and _live(item, now) else None

    def get_many(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]:
        client = self.aws.client("dynamodb")
        from boto3.dynamodb.types import TypeDeserializer

        des = TypeDeserializer()
        found: list[SealedMemory] = []
        for start in range(0, len(ids), 100):
            keys = [{"user_id": {"S": user_id}, "memory_id": {"S": i}}
                    for i in dict.fromkeys(ids[start:start + 100])]
            request = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                out = self._ddb(lambda r=request: client.batch_get_item(RequestItems=r))
                for raw in out["Responses"].get(self.table_name, []):
                    item = {k: des.deserialize(v) for k, v in raw.items()}
                    if _live(item, now):
                        found.append(_memory(item))
                request = out.get("UnprocessedKeys") or {}
        return found

    def get_states(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]:
        return self.get_many(user_id, ids, now)  # one BatchGetItem either way

    def resolve_id(self, user_id: str, id_or_prefix: str, now: float) -> list[str]:
        from boto3.dynamodb.conditions import Key

        if self.get(user_id, id_or_prefix, now):
            return [id_or_prefix]
        if not id_or_prefix:
            return []
        items = self._query(KeyConditionExpression=Key("user_id").eq(user_id)
                            & Key("memory_id").begins_with(id_or_prefix),
                            ConsistentRead=True, Limit=10)
        return [i["memory_id"] for i, _ in zip(items, range(10), strict=False) if _live(i, now)]

    def list(self, user_id: str, now: float, category: str | None,
             limit: int | None, include_inactive: bool = False) -> list[SealedMemory]:
        from boto3.dynamodb.conditions import Key

        if category:
            cond = Key("user_id").eq(user_id) & Key("cat_time").begins_with(category + "#")
            index = BY_CATEGORY
        else:
            cond = Key("user_id").eq(user_id)
            index = BY_TIME
        out: list[SealedMemory] = []
        for item in self._query(IndexName=index, KeyConditionExpression=cond,
                                ScanIndexForward=False):
            if _live(item, now) and (include_inactive
                                     or item.get("status", "active") == "active"):
                out.append(_memory(item))
                if limit is not None and len(out) >= limit:
                    break
        return out

    def iter_all(self, user_id: str, now: float, batch: int = 1000) -> Iterator[SealedMemory]:
        for m in self._query_all(user_id):
            if m.expires_at is None or m.expires_at > now:
                yield m

    def count(self, user_id: str, now: float) -> int:
        return sum(1 for _ in self.iter_all(user_id, now))

    def term_shares(self, user_id: str, terms: Sequence[str]) -> dict[str, float]:
        return {}  # no keyword index here (see the README's design notes)

    def keyword_search(self, user_id: str, terms: Sequence[str], k: int, category: str | None,
                       now: float) -> list[tuple[str, float]]:
        return []

    def user_ids(self) -> list[str]:
        """Every user with memories here (a Scan of the keys: for a whole-home reindex only,
        never on a request). Partitions that are not a user's (#meta, a user's #events)
        are left out: user ids never hold a '#'."""
        client = self.aws.client("dynamodb")
        found: set[str] = set()
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ProjectionExpression": "user_id"}
        while True:
            out = self._ddb(lambda k=kwargs: client.scan(**k))
            found |= {i["user_id"]["S"] for i in out.get("Items", []) if "#" not in i["user_id"]["S"]}
            if "LastEvaluatedKey" not in out:
                return sorted(found)
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def get_meta(self, key: str) -> str | None:
        out = self._ddb(lambda: self.table.get_item(Key={"user_id": META_USER, "memory_id": key},
                                                     ConsistentRead=True))
        value = out.get("Item", {}).get("value")
        return value or None

    def set_meta(self, key: str, value: str) -> None:
        self._ddb(lambda: self.table.put_item(
            Item={"user_id": META_USER, "memory_id": key, "value": value}))

    def sweep_orphans(self, user_id: str) -> int:
        """Delete bodies no item points to: what a crash between the S3 write and the
        DynamoDB write leaves behind (see the module docstring). Returns how many."""
        known = {m.id for m in self._query_all(user_id)}
        prefix = f"memories/{user_id}/"
        paginator = self.aws.client("s3").get_paginator("list_object_versions")
        orphans: set[str] = set()
        for page in self._s3(lambda: list(paginator.paginate(Bucket=self.bucket,
                                                             Prefix=prefix))):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                memory_id = v["Key"][len(prefix):].removesuffix(".json")
                if memory_id not in known:
                    orphans.add(memory_id)
        for memory_id in orphans:
            self._delete_body(user_id, memory_id)
        return len(orphans)
