"""Keyword evidence for the AWS home: BM25 over the blinded terms, with their postings kept
in the memories table.

The local home ranks by BM25 over blinded terms in SQLite FTS5; neither S3 Vectors nor the
vectors' OpenSearch documents search text, so the AWS home keeps postings of its own. They
live in the memories table (no new table or permission; backed up, restored and deleted
with the memories they index), in one partition per user, "<user>#terms":

    sort key "<token>#<created_at>#<memory id>"   tf, dl (the memory's length in terms), cat
    sort key "#stats"                             rows, length: for IDF and the mean length
    sort key "#key"                               the user's blinding key, wrapped by KMS

User ids never hold a '#', so a user's own Query and user_ids() never see these items, and
blinded tokens ("t" + base32) never start with one.

A search is one Query per query term, newest first (the created_at in the sort key), side by
side, and one GetItem of the counts: about one DynamoDB round trip. Scores are FTS5's BM25
(backends/bm25.py) divided by the query's summed IDF, as the local keyword_search gives them,
so the relevance model fitted there applies unchanged. A term more than POSTING_BUDGET
memories hold is read only that far: it then counts as held by that many (its IDF is small
either way) and ranks nothing unless it is the only term found, as locally.

Postings are written before the memory item (the commit point) and removed after it, so a
crash leaves postings of a memory that is not there: search drops them with every other
candidate whose item is gone, and `pai memory reindex` (sweep) deletes them."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pai_cli.backends import bm25
from pai_cli.backends.aws.session import Aws, call, reraise
from pai_cli.backends.bm25 import COMMON_TERM_MIN_ROWS, COMMON_TERM_SHARE, POSTING_BUDGET
from pai_cli.errors import BackendError

STATS, KEY = "#stats", "#key"
WRITE_BATCH = 25  # BatchWriteItem's limit
UNPROCESSED_TRIES = 8
"""BatchWriteItem hands back what it could not write when throttled: retried with backoff."""


def partition(user_id: str) -> str:
    return f"{user_id}#terms"


def posting_key(token: str, created_at: float, memory_id: str) -> str:
    return f"{token}#{created_at:020.6f}#{memory_id}"


def counts(terms: str) -> tuple[Counter[str], int]:
    """A memory's blinded terms (space-separated, repeats kept) as term counts and length."""
    tokens = terms.split()
    return Counter(tokens), len(tokens)


class TermIndex:
    def __init__(self, aws: Aws, table: str, env: str = "dev") -> None:
        self.aws = aws
        self.table = table
        self.env = env

    def _ddb(self, fn: Any) -> Any:
        return call(fn, f"DynamoDB table {self.table}", self.env)

    @property
    def _client(self) -> Any:
        return self.aws.client("dynamodb")

    # -- writes --------------------------------------------------------------------------
    def _batch(self, requests: list[dict[str, Any]]) -> None:
        client = self._client
        for start in range(0, len(requests), WRITE_BATCH):
            pending: dict[str, Any] = {self.table: requests[start:start + WRITE_BATCH]}
            for attempt in range(UNPROCESSED_TRIES):
                out = self._ddb(lambda p=pending: client.batch_write_item(RequestItems=p))
                pending = out.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.0))
            else:
                raise BackendError(f"DynamoDB table {self.table} kept refusing keyword "
                                   "postings (throttled): try again in a minute.")

    def put(self, user_id: str, memory_id: str, created_at: float, category: str,
            terms: str, expires_at: float | None = None) -> None:
        """The memory's postings (idempotent: the same keys are overwritten). They expire
        with it: DynamoDB's TTL deletes them as it deletes the memory's item."""
        tf, length = counts(terms)
        pk = partition(user_id)
        ttl = {"ttl": {"N": str(int(expires_at))}} if expires_at is not None else {}
        self._batch([{"PutRequest": {"Item": {
            "user_id": {"S": pk}, "memory_id": {"S": posting_key(t, created_at, memory_id)},
            "tf": {"N": str(n)}, "dl": {"N": str(length)}, "cat": {"S": category}, **ttl}}}
            for t, n in tf.items()])

    def remove(self, user_id: str, memory_id: str, created_at: float,
               tokens: Iterable[str]) -> None:
        pk = partition(user_id)
        self._batch([{"DeleteRequest": {"Key": {
            "user_id": {"S": pk}, "memory_id": {"S": posting_key(t, created_at, memory_id)}}}}
            for t in dict.fromkeys(tokens)])

    def count(self, user_id: str, rows: int, length: int) -> None:
        """Add to the user's memory count and total length (negative on removal)."""
        if rows or length:
            self._ddb(lambda: self._client.update_item(
                TableName=self.table, Key=self._key(user_id, STATS),
                UpdateExpression="ADD #r :r, #l :l",
                ExpressionAttributeNames={"#r": "rows", "#l": "length"},
                ExpressionAttributeValues={":r": {"N": str(rows)}, ":l": {"N": str(length)}}))

    def _key(self, user_id: str, sort: str) -> dict[str, Any]:
        return {"user_id": {"S": partition(user_id)}, "memory_id": {"S": sort}}

    def sweep(self, user_id: str, live: dict[str, tuple[float, str]],
              reread: Any) -> int:
        """Delete the postings no stored memory has (live: memory id -> created_at, terms)
        and set the counts from the memories. Writes go on meanwhile, so a posting that
        looks stale is checked against a fresh read of its memory (reread: ids -> the same
        mapping) before it goes. Returns postings removed."""
        want: set[str] = set()
        rows, length = len(live), 0
        for mid, (created, terms) in live.items():
            tf, n = counts(terms)
            length += n
            want.update(posting_key(t, created, mid) for t in tf)
        stale: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": {":u": {"S": partition(user_id)}}, "ConsistentRead": True}
        while True:
            out = self._ddb(lambda k=kwargs: self._client.query(**k))
            for item in out.get("Items", []):
                sort = item["memory_id"]["S"]
                if sort.startswith("#"):
                    continue
                if sort not in want:
                    stale.append(item)
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        if stale:
            now_held = reread(list(dict.fromkeys(i["memory_id"]["S"].rsplit("#", 1)[1]
                                                 for i in stale)))
            still = {posting_key(t, created, mid) for mid, (created, terms) in now_held.items()
                     for t in terms.split()}
            stale = [i for i in stale if i["memory_id"]["S"] not in still]
        self._batch([{"DeleteRequest": {"Key": {"user_id": i["user_id"],
                                                "memory_id": i["memory_id"]}}} for i in stale])
        self._ddb(lambda: self._client.put_item(TableName=self.table, Item={
            **self._key(user_id, STATS), "rows": {"N": str(rows)},
            "length": {"N": str(length)}}))
        return len(stale)

    def drop(self, user_id: str) -> None:
        """Every posting and count of the user (the wrapped key stays: it opens nothing)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": {":u": {"S": partition(user_id)}},
            "ProjectionExpression": "user_id, memory_id", "ConsistentRead": True}
        doomed: list[dict[str, Any]] = []
        while True:
            out = self._ddb(lambda k=kwargs: self._client.query(**k))
            doomed += [{"DeleteRequest": {"Key": i}} for i in out.get("Items", [])
                       if i["memory_id"]["S"] != KEY]
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        self._batch(doomed)

    # -- the blinding key ----------------------------------------------------------------
    def kept_key(self, user_id: str) -> bytes | None:
        out = self._ddb(lambda: self._client.get_item(
            TableName=self.table, Key=self._key(user_id, KEY), ConsistentRead=True))
        value = out.get("Item", {}).get("wrapped", {}).get("B")
        return bytes(value) if value else None

    def keep_key(self, user_id: str, wrapped: bytes, replace: bytes | None = None) -> bytes:
        """Keep the wrapped key unless one is kept already (two first sessions racing must
        blind with the same key), or in place of `replace` if that is still the one kept;
        returns the one kept then."""
        from botocore.exceptions import ClientError

        item = {**self._key(user_id, KEY), "wrapped": {"B": wrapped}}
        if replace is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(memory_id)"}
        else:
            condition = {"ConditionExpression": "#w = :old",
                         "ExpressionAttributeNames": {"#w": "wrapped"},
                         "ExpressionAttributeValues": {":old": {"B": replace}}}
        for _ in range(3):
            try:
                self._client.put_item(TableName=self.table, Item=item, **condition)
                return wrapped
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    reraise(e, f"DynamoDB table {self.table}", self.env)
            except Exception as e:  # noqa: BLE001 - a connection error: one line
                reraise(e, f"DynamoDB table {self.table}", self.env)
            kept = self.kept_key(user_id)
            if kept is not None:
                return kept
            condition = {"ConditionExpression": "attribute_not_exists(memory_id)"}
        raise BackendError(f"DynamoDB table {self.table}: the keyword key of {user_id} kept "
                           "changing; try again.")

    # -- search --------------------------------------------------------------------------
    def _postings(self, user_id: str, token: str, budget: int) -> tuple[list[Any], bool]:
        """Up to `budget` postings of a term, newest first, and whether there were more."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "user_id = :u AND begins_with(memory_id, :t)",
            "ExpressionAttributeValues": {":u": {"S": partition(user_id)},
                                          ":t": {"S": token + "#"}},
            "ScanIndexForward": False, "ConsistentRead": True, "Limit": budget + 1}
        found: list[Any] = []
        while len(found) <= budget:
            kwargs["Limit"] = budget + 1 - len(found)
            out = self._ddb(lambda k=kwargs: self._client.query(**k))
            found += out.get("Items", [])
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return found[:budget], len(found) > budget

    def _count(self, user_id: str, token: str) -> int:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "Select": "COUNT",
            "KeyConditionExpression": "user_id = :u AND begins_with(memory_id, :t)",
            "ExpressionAttributeValues": {":u": {"S": partition(user_id)},
                                          ":t": {"S": token + "#"}}}
        total = 0
        while True:
            out = self._ddb(lambda k=kwargs: self._client.query(**k))
            total += int(out.get("Count", 0))
            if "LastEvaluatedKey" not in out:
                return total
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _stats(self, user_id: str) -> tuple[int, int]:
        out = self._ddb(lambda: self._client.get_item(
            TableName=self.table, Key=self._key(user_id, STATS), ConsistentRead=True))
        item = out.get("Item", {})
        return (int(item.get("rows", {}).get("N", 0)), int(item.get("length", {}).get("N", 0)))

    def search(self, user_id: str, terms: Sequence[str], k: int, category: str | None,
               budget: int = POSTING_BUDGET) -> list[tuple[str, float]]:
        """BM25 divided by the query terms' summed IDF (a memory holding each query term
        once, at the mean length, scores ~1), best first, newer first among equals."""
        terms = list(dict.fromkeys(terms))
        if not terms:
            return []
        _ = self._client  # made here, not raced for by the threads below
        with ThreadPoolExecutor(max_workers=min(8, len(terms) + 1)) as pool:
            stats = pool.submit(self._stats, user_id)
            lists = list(pool.map(lambda t: self._postings(user_id, t, budget), terms))
            rows, length = stats.result()
            # A term past the budget: its exact count, for its IDF (a COUNT query reads
            # the postings but returns none of them).
            df = {t: (self._count(user_id, t) if more else len(items))
                  for t, (items, more) in zip(terms, lists, strict=True)}
        rows = max(rows, max(df.values()), 1)
        weight = {t: bm25.idf(rows, df[t]) for t in terms}
        idf_sum = sum(weight.values())
        # As the local home: past 1,000 memories a term over half of them holds ranks
        # nothing; a term past the budget ranks by its newest postings only.
        ranked_by = [t for t in terms if df[t] and not (
            rows >= COMMON_TERM_MIN_ROWS and df[t] > rows * COMMON_TERM_SHARE)]
        average = length / rows if length else 1.0
        held_by: dict[str, dict[str, int]] = {}
        sizes: dict[str, tuple[int, str]] = {}
        for t, (items, _) in zip(terms, lists, strict=True):
            if t not in ranked_by:
                continue
            for item in items:
                if category and item["cat"]["S"] != category:
                    continue
                sort = item["memory_id"]["S"]
                _, created, mid = sort.split("#", 2)
                held_by.setdefault(mid, {})[t] = int(item["tf"]["N"])
                sizes[mid] = (int(item["dl"]["N"]), created)
        scored = sorted(
            ((bm25.score([weight[t] for t in held], list(held.values()), sizes[mid][0],
                         average) / idf_sum, sizes[mid][1], mid)
             for mid, held in held_by.items()),
            reverse=True)
        return [(mid, score) for score, _, mid in scored[:k]]
