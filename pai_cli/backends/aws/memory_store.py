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
from dataclasses import replace
from typing import Any

from pai_cli.backends.aws.memory_items import body_key, cat_time, kept_terms  # noqa: F401
from pai_cli.backends.aws.memory_items import from_item as _memory
from pai_cli.backends.aws.memory_items import is_live as _live
from pai_cli.backends.aws.memory_items import to_item as _item
from pai_cli.backends.aws.session import NOT_DEPLOYED, Aws, call, reraise
from pai_cli.backends.aws.term_index import TermIndex
from pai_cli.records import SealedMemory

BY_TIME = "user-created-index"
BY_CATEGORY = "user-category-created-index"
META_USER = "#meta"
STATE_FIELDS = ("user_id", "memory_id", "category", "created_at", "updated_at", "expires_at",
                "pinned", "origin", "status", "processed", "importance", "valid_from",
                "valid_to", "superseded_by", "conflicts_with", "source_conversation",
                "source_message", "sources")
"""What a search's state check reads of an item: all but the content and the terms."""


class DynamoMemoryStore:
    supports_keywords = True

    def __init__(self, aws: Aws, table: str, bucket: str, env: str = "dev",
                 kms_key: str = "") -> None:
        self.aws = aws
        self.table_name = table
        self.bucket = bucket
        self.env = env
        self.kms_key = kms_key
        """The key's ARN, or its alias (then resolved to the ARN once, with DescribeKey)."""
        self._table: Any = None
        self.terms = TermIndex(aws, table, env)
        """The keyword postings, and the kept blinding key (term_index.py)."""

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

    def _batch_get(self, user_id: str, ids: Sequence[str], **read: Any) -> Iterator[dict]:
        """The items of these ids (raw, as DynamoDB's client gives them), 100 a call."""
        client = self.aws.client("dynamodb")
        for start in range(0, len(ids), 100):
            keys = [{"user_id": {"S": user_id}, "memory_id": {"S": i}}
                    for i in dict.fromkeys(ids[start:start + 100])]
            request = {self.table_name: {"Keys": keys, **read}}
            while request:
                out = self._ddb(lambda r=request: client.batch_get_item(RequestItems=r))
                yield from out["Responses"].get(self.table_name, [])
                request = out.get("UnprocessedKeys") or {}

    def _existing(self, user_id: str, ids: Sequence[str]) -> set[str]:
        return {x["memory_id"]["S"] for x in self._batch_get(
            user_id, ids, ProjectionExpression="memory_id")}

    def insert(self, memories: Sequence[SealedMemory]) -> list[str]:
        from botocore.exceptions import ClientError

        if not memories:
            return []
        known = self._existing(memories[0].user_id, [m.id for m in memories])
        inserted = []
        length = 0
        for m in memories:
            if m.id in known:
                continue
            m = replace(m, terms=kept_terms(m.terms))
            version = self._put_body(m)
            # Postings before the item: a crash between leaves postings of no memory,
            # which search drops and reindex sweeps (term_index.py).
            self.terms.put(m.user_id, m.id, m.created_at, m.category, m.terms, m.expires_at)
            try:
                self.table.put_item(Item=_item(m),
                                    ConditionExpression="attribute_not_exists(memory_id)")
            except ClientError as e:
                self._undo_body(m, version)  # only our version: a racing winner keeps its own
                self._undo_terms(m)
                if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue  # another process wrote it first
                reraise(e, f"DynamoDB table {self.table_name}", self.env)
            except BaseException:
                self._undo_body(m, version)
                self._undo_terms(m)
                raise
            length += len(m.terms.split())
            inserted.append(m.id)
        self.terms.count(memories[0].user_id, len(inserted), length)  # one update a batch
        return inserted

    def update(self, memory: SealedMemory) -> bool:
        """Only an existing item is replaced: an edit racing a forget must not bring the
        memory back."""
        from botocore.exceptions import ClientError

        memory = replace(memory, terms=kept_terms(memory.terms))
        version = self._put_body(memory)
        self.terms.put(memory.user_id, memory.id, memory.created_at, memory.category,
                       memory.terms, memory.expires_at)
        try:
            out = self.table.put_item(Item=_item(memory), ReturnValues="ALL_OLD",
                                      ConditionExpression="attribute_exists(memory_id)")
        except ClientError as e:
            self._undo_body(memory, version)
            self._undo_terms(memory)  # an edit racing a forget leaves no postings behind
            if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            reraise(e, f"DynamoDB table {self.table_name}", self.env)
        except BaseException:
            self._undo_body(memory, version)
            self._undo_terms(memory)
            raise
        old = _memory(out["Attributes"]) if out.get("Attributes") else None
        self._retire_terms(old, memory)
        return True

    def _retire_terms(self, old: SealedMemory | None, new: SealedMemory | None) -> None:
        """After the item changed from old to new (None: deleted): remove the postings
        only old had and move the counts (rows count every memory, as FTS5's do)."""
        if old is None:
            return
        now_held = set(new.terms.split()) if new and new.created_at == old.created_at else set()
        self.terms.remove(old.user_id, old.id, old.created_at,
                          [t for t in old.terms.split() if t not in now_held])
        before = len(old.terms.split())
        after = len(new.terms.split()) if new else 0
        self.terms.count(old.user_id, 0 if new else -1, after - before)

    def _undo_terms(self, m: SealedMemory) -> None:
        """After a failed item write: remove the postings just written that the stored
        item (if any) does not hold. Best effort: reindex sweeps what this misses."""
        with contextlib.suppress(Exception):
            out = self.table.get_item(Key={"user_id": m.user_id, "memory_id": m.id},
                                      ConsistentRead=True)
            stored = _memory(out["Item"]) if out.get("Item") else None
            held = (set(stored.terms.split()) if stored and stored.created_at == m.created_at
                    else set())
            self.terms.remove(m.user_id, m.id, m.created_at,
                              [t for t in m.terms.split() if t not in held])

    def _held_terms(self, user_id: str, ids: list[str]) -> dict[str, tuple[float, str]]:
        """Memory id -> (created_at, terms), read again (consistent) for the sweep."""
        return {x["memory_id"]["S"]: (float(x["created_at"]["N"]),
                                      x.get("terms", {}).get("S", ""))
                for x in self._batch_get(user_id, ids, ConsistentRead=True,
                                         ProjectionExpression="memory_id, created_at, #t",
                                         ExpressionAttributeNames={"#t": "terms"})}

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
        if "Attributes" in out:
            self._retire_terms(_memory(out["Attributes"]), None)
        self._delete_body(user_id, memory_id)
        return "Attributes" in out

    def delete_all(self, user_id: str) -> list[str]:
        ids = [m.id for m in self._query_all(user_id)]
        for memory_id in ids:  # the postings all go at once below, not memory by memory
            self._ddb(lambda m=memory_id: self.table.delete_item(
                Key={"user_id": user_id, "memory_id": m}))
            self._delete_body(user_id, memory_id)
        self.terms.drop(user_id)  # with any posting a crash left behind, and the counts
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

    def get_many(self, user_id: str, ids: Sequence[str], now: float,
                 **read: Any) -> list[SealedMemory]:
        from boto3.dynamodb.types import TypeDeserializer

        des = TypeDeserializer()
        found: list[SealedMemory] = []
        for raw in self._batch_get(user_id, ids, ConsistentRead=True, **read):
            item = {k: des.deserialize(v) for k, v in raw.items()}
            if _live(item, now):
                found.append(_memory(item))
        return found

    def get_states(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]:
        """Without content or terms (as the local store's): a search reads ~100 states, and
        the items' sealed text and blinded terms are most of their bytes."""
        names = {f"#{n}": n for n in STATE_FIELDS}
        return self.get_many(user_id, ids, now, ProjectionExpression=", ".join(names),
                             ExpressionAttributeNames=names)

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
        # The counts come from reading each term's postings: the search just did, and a
        # second round trip per term for the vector query's common words is not worth it
        # at a person's memory counts (the README's design notes).
        return {}

    def keyword_search(self, user_id: str, terms: Sequence[str], k: int, category: str | None,
                       now: float) -> list[tuple[str, float]]:
        """BM25 over the blinded terms (term_index.py). Memories gone or expired since
        may be among the results: search drops them with its one read of their states."""
        return self.terms.search(user_id, terms, k, category)

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
        memories = list(self._query_all(user_id))
        known = {m.id for m in memories}
        self.terms.sweep(user_id, {m.id: (m.created_at, m.terms) for m in memories},
                         lambda ids: self._held_terms(user_id, ids))
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
