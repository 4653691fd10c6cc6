"""Vectors in an OpenSearch Serverless VECTORSEARCH collection (opensearch-py, SigV4 "aoss").

Such a collection assigns document ids itself (a custom _id is refused, there is no upsert)
and makes a new document searchable only after a delay. So memory_id is a keyword field:
updates and deletes first find a memory's documents by it, and recall results are always
filtered against the memories table, which is what keeps a just-forgotten memory out even
while its document is still visible. No refresh calls (the service has none) and no text in
the documents: ids, user id, category and the vector.

The vectors are unit length (Titan's are normalised; this adapter normalises again), so
faiss's `innerproduct` space ranks exactly as cosine does, and works on every engine
version (faiss supports `cosinesimil` only from OpenSearch 2.19). Scores come back in the
documented form for the index's space (knn-spaces in the OpenSearch documentation) and are
turned back into a cosine similarity here; an index made before with `cosinesimil` keeps
working, read with that space's formula.

Requests are signed by opensearch-py's AWSV4SignerAuth, with the session's credentials
object: it takes frozen credentials for each request (botocore's SigV4 signer), so assumed
roles, SSO and Lambda's role credentials refresh on their own in a long session."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from pai_cli.backends.aws.session import Aws, call
from pai_cli.errors import BackendError
from pai_cli.ports import Progress

INDEX = "pai-memories"
PAGE = 500


SPACE = "innerproduct"


def mapping(dim: int) -> dict[str, Any]:
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {"properties": {
            "memory_id": {"type": "keyword"},
            "user_id": {"type": "keyword"},
            "category": {"type": "keyword"},
            "embedding": {"type": "knn_vector", "dimension": dim, "method": {
                "name": "hnsw", "space_type": SPACE, "engine": "faiss"}},
        }},
    }


def similarity(score: float, space: str) -> float:
    """The cosine similarity of a hit from its OpenSearch score (vectors of unit length).
    innerproduct (faiss): d = -x.y; score = 1 / (1 + d) when d >= 0, else 1 - d.
    cosinesimil: d = 1 - cos; score = (2 - d) / 2."""
    if space == "cosinesimil":
        return 2.0 * score - 1.0
    if space == "innerproduct":
        if score >= 1.0:
            return score - 1.0
        return 1.0 - 1.0 / score if score > 0 else -1.0
    raise BackendError(f"The OpenSearch index uses space {space!r}: run `pai memory reindex`.")


def unit(vector: Any) -> list[float]:
    values = [float(x) for x in vector]
    norm = sum(x * x for x in values) ** 0.5
    return [x / norm for x in values] if norm > 0 else values


class OpenSearchIndex:
    several_per_memory = False
    """One document per memory, keyed by its id: its pieces (core/pieces.py) would need a
    key each and a delete that finds them all (README, "One memory, several vectors")."""

    def __init__(self, aws: Aws, endpoint: str, index: str = INDEX, env: str = "dev",
                 dim: int = 1024) -> None:
        self.aws = aws
        self.endpoint = endpoint if "://" in endpoint else f"https://{endpoint}"
        self.index = index
        self.env = env
        self.dim = dim
        self.space = SPACE
        self._client: Any = None

    def _call(self, fn: Any) -> Any:
        from opensearchpy.exceptions import (
            AuthorizationException,
            ConnectionError,
            NotFoundError,
            TransportError,
        )

        from pai_cli.errors import ConfigError

        what = f"OpenSearch collection at {self.endpoint}"
        try:
            return call(fn, what, self.env)
        except AuthorizationException:
            raise ConfigError(f"{what} denied access: the collection's data-access policy must "
                              "name your identity.") from None
        except NotFoundError:
            raise ConfigError(f"{what} has no index {self.index}: run `pai deploy --env "
                              f"{self.env} --vector-store opensearch`.") from None
        except ConnectionError:
            raise BackendError(f"Cannot reach {what}.") from None
        except TransportError as e:
            raise BackendError(f"{what} failed: {e.status_code} {e.error}") from None

    @property
    def client(self) -> Any:
        if self._client is None:
            from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection

            url = urlparse(self.endpoint)
            credentials = self.aws.credentials()
            self._client = OpenSearch(
                hosts=[{"host": url.hostname, "port": url.port or (443 if url.scheme == "https"
                                                                   else 80)}],
                http_auth=AWSV4SignerAuth(credentials, self.aws.region, "aoss"),
                use_ssl=url.scheme == "https", verify_certs=url.scheme == "https",
                connection_class=RequestsHttpConnection, timeout=30, max_retries=3,
                retry_on_status=(429, 502, 503, 504), retry_on_timeout=True,
            )
            existing = self._call(lambda: self._space_of_index())
            if existing is None:
                self._call(lambda: self._client.indices.create(index=self.index,
                                                               body=mapping(self.dim)))
            else:
                self.space = existing
        return self._client

    def _space_of_index(self) -> str | None:
        """The existing index's space type (how its scores read); None when there is none."""
        from opensearchpy.exceptions import NotFoundError

        try:
            out = self._client.indices.get_mapping(index=self.index)
        except NotFoundError:
            return None
        props = (out.get(self.index) or next(iter(out.values()), {})).get("mappings", {}).get(
            "properties", {})
        field = props.get("embedding", {})
        return str(field.get("method", {}).get("space_type") or field.get("space_type") or "l2")

    def _doc_ids(self, user_id: str, memory_ids: Sequence[str] | None) -> list[str]:
        must: list[dict[str, Any]] = [{"term": {"user_id": user_id}}]
        if memory_ids is not None:
            must.append({"terms": {"memory_id": list(memory_ids)}})
        out = self._call(lambda: self.client.search(index=self.index, body={
            "size": 10000, "_source": False, "query": {"bool": {"filter": must}}}))
        return [h["_id"] for h in out["hits"]["hits"]]

    def _bulk(self, lines: list[dict[str, Any]]) -> None:
        if not lines:
            return
        out = self._call(lambda: self.client.bulk(body=lines))
        if out.get("errors"):
            failed = [i for i in out["items"] if next(iter(i.values())).get("error")]
            first = next(iter(failed[0].values()))["error"]
            raise BackendError(f"OpenSearch refused {len(failed)} document(s): "
                               f"{first.get('reason', first)}")

    def upsert(self, user_id: str, items: Sequence[tuple[str, str, Any]]) -> None:
        for start in range(0, len(items), PAGE):
            chunk = items[start:start + PAGE]
            stale = self._doc_ids(user_id, [mid for mid, _, _ in chunk])
            lines: list[dict[str, Any]] = [{"delete": {"_index": self.index, "_id": d}}
                                           for d in stale]
            for mid, cat, vec in chunk:
                lines.append({"index": {"_index": self.index}})  # no _id: the service picks
                lines.append({"memory_id": mid, "user_id": user_id, "category": cat,
                              "embedding": unit(vec)})
            self._bulk(lines)

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> None:
        ids = list(memory_ids)
        for start in range(0, len(ids), PAGE):
            docs = self._doc_ids(user_id, ids[start:start + PAGE])
            self._bulk([{"delete": {"_index": self.index, "_id": d}} for d in docs])

    def delete_user(self, user_id: str) -> None:
        self._bulk([{"delete": {"_index": self.index, "_id": d}}
                    for d in self._doc_ids(user_id, None)])

    def keys_of(self, user_id: str) -> Iterator[str]:
        out = self._call(lambda: self.client.search(index=self.index, body={
            "size": 10000, "_source": ["memory_id"],
            "query": {"bool": {"filter": [{"term": {"user_id": user_id}}]}}}))
        yield from dict.fromkeys(h["_source"]["memory_id"] for h in out["hits"]["hits"])

    def query(self, user_id: str, vector: Any, k: int,
              category: str | None) -> list[tuple[str, float]]:
        flt: list[dict[str, Any]] = [{"term": {"user_id": user_id}}]
        if category:
            flt.append({"term": {"category": category}})
        body = {"size": k, "_source": ["memory_id", "user_id"], "query": {"knn": {"embedding": {
            "vector": unit(vector), "k": k,
            "filter": {"bool": {"filter": flt}}}}}}  # filtered inside the k-NN search
        out = self._call(lambda: self.client.search(index=self.index, body=body))
        space = self.space
        best: dict[str, float] = {}
        for hit in out["hits"]["hits"]:
            src = hit.get("_source") or {}
            if src.get("user_id") != user_id:
                continue
            sim = similarity(float(hit["_score"]), space)
            mid = src["memory_id"]
            best[mid] = max(sim, best.get(mid, -2.0))  # an edit's old document may linger
        return sorted(best.items(), key=lambda kv: -kv[1])[:k]

    def compact(self, user_id: str, progress: Progress | None = None) -> None:
        """Nothing to fold: the collection indexes on write."""

    def maintain(self, user_id: str) -> None:
        """Nothing to fold: the collection indexes on write."""
