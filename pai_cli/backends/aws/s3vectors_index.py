"""Vectors in S3 Vectors: the memory id is the key, user id and category are filterable
metadata, and no text is stored. The default vector store of the AWS home: it costs per
use, while an OpenSearch Serverless collection bills ~1 OCU even when idle."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.ports import Progress

PUT_BATCH = 500  # PutVectors takes at most 500 vectors a call
DELETE_BATCH = 500


class S3VectorsIndex:
    several_per_memory = False
    """One document per memory, keyed by its id: its pieces (core/pieces.py) would need a
    key each and a delete that finds them all (README, "One memory, several vectors")."""

    def __init__(self, aws: Aws, bucket: str, index: str, env: str = "dev") -> None:
        self.aws = aws
        self.bucket = bucket
        self.index = index
        self.env = env

    def _call(self, fn: Any) -> Any:
        return call(fn, f"S3 Vectors index {self.bucket}/{self.index}", self.env)

    @property
    def _client(self) -> Any:
        return self.aws.client("s3vectors")

    def upsert(self, user_id: str, items: Sequence[tuple[str, str, Any]]) -> None:
        for start in range(0, len(items), PUT_BATCH):
            vectors = [{"key": mid, "data": {"float32": [float(x) for x in vec]},
                        "metadata": {"user_id": user_id, "category": cat}}
                       for mid, cat, vec in items[start:start + PUT_BATCH]]
            self._call(lambda v=vectors: self._client.put_vectors(
                vectorBucketName=self.bucket, indexName=self.index, vectors=v))

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> None:
        ids = list(memory_ids)
        for start in range(0, len(ids), DELETE_BATCH):
            chunk = ids[start:start + DELETE_BATCH]
            self._call(lambda c=chunk: self._client.delete_vectors(
                vectorBucketName=self.bucket, indexName=self.index, keys=c))

    def keys_of(self, user_id: str) -> Iterator[str]:
        """ListVectors cannot filter: this pages through the index (forget --all, reindex)."""
        token = None
        while True:
            kwargs: dict[str, Any] = {"vectorBucketName": self.bucket, "indexName": self.index,
                                      "returnMetadata": True, "maxResults": 500}
            if token:
                kwargs["nextToken"] = token
            out = self._call(lambda k=kwargs: self._client.list_vectors(**k))
            for v in out.get("vectors", []):
                if (v.get("metadata") or {}).get("user_id") == user_id:
                    yield v["key"]
            token = out.get("nextToken")
            if not token:
                return

    def delete_user(self, user_id: str) -> None:
        self.delete(user_id, list(self.keys_of(user_id)))

    def query(self, user_id: str, vector: Any, k: int,
              category: str | None) -> list[tuple[str, float]]:
        flt: dict[str, Any] = {"user_id": {"$eq": user_id}}
        if category:
            flt = {"$and": [flt, {"category": {"$eq": category}}]}
        out = self._call(lambda: self._client.query_vectors(
            vectorBucketName=self.bucket, indexName=self.index, topK=min(k, 100),
            queryVector={"float32": [float(x) for x in vector]}, filter=flt,
            returnDistance=True, returnMetadata=True))
        hits = []
        for v in out.get("vectors", []):
            # Defence in depth: the filter already scopes by user; never trust it alone.
            if (v.get("metadata") or {}).get("user_id") != user_id:
                continue
            hits.append((v["key"], 1.0 - float(v.get("distance", 1.0))))
        return hits

    def compact(self, user_id: str, progress: Progress | None = None) -> None:
        """Nothing to fold: S3 Vectors indexes on write."""

    def maintain(self, user_id: str) -> None:
        """Nothing to fold: S3 Vectors indexes on write."""
