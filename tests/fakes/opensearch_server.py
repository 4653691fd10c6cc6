"""A local stand-in for an OpenSearch Serverless VECTORSEARCH collection: the few endpoints
pai uses (index create/exists/_mapping, _bulk, _search with knn and filters, _count), with
the collection's rules: a custom _id is refused, a new document is searchable only after a
delay, and there is no refresh API.

Mappings and scores follow the OpenSearch documentation (documentation-website,
_mappings/supported-field-types/knn-methods-engines.md and knn-spaces.md): a knn_vector
method needs index.knn, each engine supports the spaces listed there (faiss's hnsw:
l2, innerproduct, hamming, and cosinesimil only from 2.19), dimensions up to 16,000, and a
hit's score is the documented function of its space's distance, e.g. innerproduct on faiss:
d = -x.y, score = 1 / (1 + d) if d >= 0 else -d + 1; cosinesimil: score = (2 - d) / 2 with
d = 1 - cos. engine_version sets which rules apply (default 2.17, before faiss cosinesimil)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

from fakes.http import ScriptedServer, Seen, send


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    if "term" in query:
        (f, v), = query["term"].items()
        return doc.get(f) == (v["value"] if isinstance(v, dict) else v)
    if "terms" in query:
        (f, vs), = query["terms"].items()
        return doc.get(f) in vs
    if "bool" in query:
        return all(_matches(doc, q) for q in query["bool"].get("filter", []))
    if "match_all" in query:
        return True
    raise ValueError(f"query not emulated: {query}")


@dataclass
class Doc:
    source: dict[str, Any]
    visible_at: float


SPACES = {  # engine -> {space: first version that supports it with hnsw}
    "faiss": {"l2": (1, 0), "innerproduct": (1, 0), "hamming": (2, 16), "cosinesimil": (2, 19)},
    "lucene": {"l2": (2, 2), "cosinesimil": (2, 2), "innerproduct": (2, 13)},
    "nmslib": {"l2": (1, 0), "l1": (1, 0), "linf": (1, 0), "cosinesimil": (1, 0),
               "innerproduct": (1, 0)},
}
MAX_DIMENSION = 16_000


class MappingRefused(ValueError):
    pass


def check_mapping(body: dict[str, Any], version: tuple[int, int]) -> dict[str, Any]:
    """The embedding field's method, as OpenSearch would accept it; raises as it would."""
    knn = ((body.get("settings") or {}).get("index") or {}).get("knn")
    fields = ((body.get("mappings") or {}).get("properties") or {})
    vectors = {k: v for k, v in fields.items() if v.get("type") == "knn_vector"}
    if not vectors:
        raise MappingRefused("no knn_vector field")
    (name, spec), = vectors.items()
    method = spec.get("method") or {}
    if method and knn is not True:
        raise MappingRefused("Index setting [index.knn] must be true for a knn_vector "
                             "field with a method")
    dim = spec.get("dimension")
    if not isinstance(dim, int) or not 1 <= dim <= MAX_DIMENSION:
        raise MappingRefused(f"Dimension value must be between 1 and {MAX_DIMENSION}")
    engine = method.get("engine", "faiss")
    space = method.get("space_type") or spec.get("space_type") or "l2"
    if engine not in SPACES:
        raise MappingRefused(f"Invalid engine type: {engine}")
    since = SPACES[engine].get(space)
    if method.get("name", "hnsw") != "hnsw" or since is None or version < since:
        raise MappingRefused(f"Validation Failed: 1: {engine} engine does not support space "
                             f"type [{space}] in version {version[0]}.{version[1]};")
    return {"field": name, "engine": engine, "space": space}


def knn_score(space: str, engine: str, x: np.ndarray, y: np.ndarray) -> float:
    """OpenSearch's score of a hit (knn-spaces.md), from the distance of its space."""
    if space == "l2":
        return 1.0 / (1.0 + float(np.sum((x - y) ** 2)))
    if space == "cosinesimil":
        d = 1.0 - float(x @ y / ((np.linalg.norm(x) * np.linalg.norm(y)) or 1.0))
        return (2.0 - d) / 2.0
    if space == "innerproduct":
        if engine == "lucene":
            d = float(x @ y)
            return d + 1.0 if d > 0 else 1.0 / (1.0 + (-1.0 * d))
        d = -float(x @ y)
        return 1.0 / (1.0 + d) if d >= 0 else -d + 1.0
    raise ValueError(f"space not emulated: {space}")


@dataclass
class AossFake:
    delay: float = 0.0
    engine_version: tuple[int, int] = (2, 17)
    indexes: dict[str, dict[str, Doc]] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)

    def visible(self, index: str) -> Iterator[tuple[str, Doc]]:
        now = time.monotonic()
        for doc_id, doc in self.indexes.get(index, {}).items():
            if doc.visible_at <= now:
                yield doc_id, doc

    def handle(self, seen: Seen, h: BaseHTTPRequestHandler) -> None:
        path = seen.path.split("?")[0].strip("/")
        parts = path.split("/")
        j = {"Content-Type": "application/json"}
        if parts[-1] == "_refresh":
            send(h, 400, json.dumps({"error": {"reason": "refresh is not supported in "
                                               "OpenSearch Serverless"}}).encode(), j)
        elif seen.method == "HEAD":
            h.send_response(200 if parts[0] in self.indexes else 404)
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif seen.method == "PUT" and len(parts) == 1:
            try:
                self.methods[parts[0]] = check_mapping(seen.json(), self.engine_version)
            except MappingRefused as e:
                send(h, 400, json.dumps({"error": {"type": "mapper_parsing_exception",
                                                   "reason": str(e)}, "status": 400}).encode(), j)
                return
            self.indexes[parts[0]] = {}
            self.mappings[parts[0]] = seen.json()
            send(h, 200, json.dumps({"acknowledged": True, "index": parts[0]}).encode(), j)
        elif seen.method == "GET" and len(parts) == 2 and parts[1] == "_mapping":
            if parts[0] not in self.indexes:
                send(h, 404, json.dumps({"error": {"type": "index_not_found_exception",
                                                   "reason": f"no such index [{parts[0]}]"},
                                         "status": 404}).encode(), j)
                return
            body = {parts[0]: {"mappings": self.mappings[parts[0]].get("mappings", {})}}
            send(h, 200, json.dumps(body).encode(), j)
        elif parts[-1] == "_bulk":
            send(h, 200, json.dumps(self.bulk(seen.body)).encode(), j)
        elif parts[-1] == "_search":
            send(h, 200, json.dumps(self.search(parts[0], seen.json())).encode(), j)
        elif parts[-1] == "_count":
            q = seen.json()["query"]
            n = sum(1 for _, d in self.visible(parts[0]) if _matches(d.source, q))
            send(h, 200, json.dumps({"count": n}).encode(), j)
        else:
            send(h, 404, json.dumps({"error": f"no route {seen.method} {path}"}).encode(), j)

    def bulk(self, body: bytes) -> dict[str, Any]:
        lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
        items, errors, i = [], False, 0
        while i < len(lines):
            (action, meta), = lines[i].items()
            index = meta["_index"]
            if action == "index":
                source = lines[i + 1]
                i += 2
                if "_id" in meta:
                    errors = True
                    items.append({"index": {"status": 400, "error": {
                        "type": "illegal_argument_exception",
                        "reason": "Document ID is not supported in create/index operation "
                                  "request"}}})
                    continue
                doc_id = uuid.uuid4().hex[:20]
                self.indexes.setdefault(index, {})[doc_id] = Doc(
                    source, time.monotonic() + self.delay)
                items.append({"index": {"_id": doc_id, "status": 201, "result": "created"}})
            elif action == "delete":
                i += 1
                gone = self.indexes.get(index, {}).pop(meta["_id"], None)
                items.append({"delete": {"_id": meta["_id"], "status": 200 if gone else 404,
                                         "result": "deleted" if gone else "not_found"}})
            else:
                raise ValueError(f"bulk action not emulated: {action}")
        return {"took": 1, "errors": errors, "items": items}

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        query = body["query"]
        size = body.get("size", 10)
        docs = list(self.visible(index))
        if "knn" in query:
            (fld, spec), = query["knn"].items()
            q = np.asarray(spec["vector"], dtype=np.float32)
            method = self.methods[index]
            scored = []
            for doc_id, doc in docs:
                if "filter" in spec and not _matches(doc.source, spec["filter"]):
                    continue
                v = np.asarray(doc.source[fld], dtype=np.float32)
                scored.append((knn_score(method["space"], method["engine"], v, q), doc_id, doc))
            scored.sort(key=lambda x: -x[0])
            hits = scored[: min(spec["k"], size)]
        else:
            hits = [(1.0, i, d) for i, d in docs if _matches(d.source, query)][:size]
        keep = body.get("_source", True)
        out = []
        for score, doc_id, doc in hits:
            hit: dict[str, Any] = {"_index": index, "_id": doc_id, "_score": score}
            if keep is not False:
                src = doc.source if keep is True else {k: doc.source.get(k) for k in keep}
                hit["_source"] = src
            out.append(hit)
        return {"hits": {"total": {"value": len(out)}, "hits": out}}


@contextmanager
def aoss_fake(delay: float = 0.0, engine_version: tuple[int, int] = (2, 17),
              ) -> Iterator[tuple[AossFake, ScriptedServer]]:
    fake = AossFake(delay=delay, engine_version=engine_version)
    with ScriptedServer(fake.handle) as server:
        yield fake, server
