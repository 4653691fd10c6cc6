"""Retrieval candidates measured by evaluate.py --candidates (every set, same code).

Each candidate is a function (context, question) -> ranked memory ids. They use the same
adapters pai does (FTS5 over blinded terms, the usearch index, the embedder), with deeper
candidate lists and other fusions, so that what wins here can be moved into pai as it is.
Their vector lists embed the question once (as asked, or with `common_share` its commonest
words left out), not as pai's search does (core/recall.vector_list).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from evaluate import PlainBM25, rrf

from pai_cli.core import text

Method = Callable[[dict, dict], list[str]]
DEPTH = 50


def _lists(ctx: dict, q: dict, common_share: float | None = None) -> dict:
    """Keyword and vector candidate lists for a question, cached on the question."""
    key = ("lists", ctx["user"], common_share)
    cache = q.setdefault("_cache", {})
    if key in cache:
        return cache[key]
    svc, user = ctx["svc"], ctx["user"]
    now = time.time()
    qterms = list(dict.fromkeys(text.terms(q["question"])))
    blinded = svc.cipher.blind(user, qterms)
    kw = svc.store.keyword_search(user, blinded, DEPTH, None, now) if blinded else []
    vq = q["question"]
    if common_share is not None:
        vq = _drop_common(ctx, q["question"], common_share)
    vec = svc.index.query(user, svc.embedder.embed([vq])[0], DEPTH, None)
    cache[key] = {"kw": kw, "vec": vec}
    return cache[key]


def _df(ctx: dict) -> tuple[dict[str, int], int]:
    if "df" not in ctx:
        df: dict[str, int] = {}
        for t in ctx["turns"].values():
            for term in set(text.terms(t["content"])):
                df[term] = df.get(term, 0) + 1
        ctx["df"] = (df, len(ctx["turns"]))
    return ctx["df"]


def _drop_common(ctx: dict, question: str, share: float) -> str:
    """The question without words found in more than `share` of the user's memories."""
    df, n = _df(ctx)
    words = question.split()
    kept = [w for w in words
            if not any(df.get(t, 0) > share * n for t in text.terms(w))]
    return " ".join(kept) or question


def _weighted_rrf(kw: list, vec: list, k: float, wk: float, wv: float) -> list[str]:
    score: dict[str, float] = {}
    for r, (m, _) in enumerate(kw, 1):
        score[m] = score.get(m, 0.0) + wk / (k + r)
    for r, (m, _) in enumerate(vec, 1):
        score[m] = score.get(m, 0.0) + wv / (k + r)
    return [m for m, _ in sorted(score.items(), key=lambda kv: -kv[1])]


def _convex(kw: list, vec: list, alpha: float, norm: str = "max", c: float = 5.0) -> list[str]:
    """alpha * keyword + (1 - alpha) * vector, each score mapped to 0-1."""
    ks: dict[str, float] = {}
    if kw:
        top = kw[0][1] or 1.0
        for m, s in kw:
            ks[m] = s / top if norm == "max" else s / (s + c)
    vs: dict[str, float] = {}
    if vec:
        lo = min(s for _, s in vec)
        hi = max(s for _, s in vec)
        for m, s in vec:
            vs[m] = (s - lo) / (hi - lo) if norm == "max" and hi > lo else max(s, 0.0)
    ids = set(ks) | set(vs)
    fused = {m: alpha * ks.get(m, 0.0) + (1 - alpha) * vs.get(m, 0.0) for m in ids}
    return [m for m, _ in sorted(fused.items(), key=lambda kv: -kv[1])]


def candidate_methods() -> dict[str, Method]:
    out: dict[str, Method] = {}

    def stemmed_bm25(k1: float, b: float, tok: str) -> Method:
        def run(ctx: dict, q: dict) -> list[str]:
            key = f"bm25-{k1}-{b}-{tok}"
            if key not in ctx:
                ids = list(ctx["turns"])
                docs = [ctx["turns"][i]["content"] for i in ids]
                if tok == "pai":
                    docs = [" ".join(text.terms(d)) for d in docs]
                ctx[key] = PlainBM25(ids, docs, k1, b)
            query = " ".join(text.terms(q["question"])) if tok == "pai" else q["question"]
            return [m for m, _ in ctx[key].search(query, 10)]
        return run

    out["BM25 stemmed+stopwords k1=1.2 b=0.75"] = stemmed_bm25(1.2, 0.75, "pai")
    out["BM25 stemmed+stopwords k1=0.9 b=0.4"] = stemmed_bm25(0.9, 0.4, "pai")
    out["BM25 stemmed+stopwords k1=1.5 b=0.9"] = stemmed_bm25(1.5, 0.9, "pai")

    def vec_common(share: float) -> Method:
        def run(ctx: dict, q: dict) -> list[str]:
            return [m for m, _ in _lists(ctx, q, share)["vec"]][:10]
        return run

    out["vector, query w/o words in >20% of memories"] = vec_common(0.2)

    def wrrf(k: float, wk: float, wv: float, share: float | None = None) -> Method:
        def run(ctx: dict, q: dict) -> list[str]:
            lists = _lists(ctx, q, share)
            return _weighted_rrf(lists["kw"], lists["vec"], k, wk, wv)[:10]
        return run

    out["RRF k=60, kw depth 50"] = wrrf(60, 1, 1)
    out["RRF k=10, kw depth 50"] = wrrf(10, 1, 1)
    out["RRF k=10, kw w=2, depth 50"] = wrrf(10, 2, 1)
    out["RRF k=60, kw depth 50, vec w/o common"] = wrrf(60, 1, 1, 0.2)
    out["RRF k=10, kw w=2, vec w/o common"] = wrrf(10, 2, 1, 0.2)

    def convex(alpha: float, norm: str, share: float | None = None) -> Method:
        def run(ctx: dict, q: dict) -> list[str]:
            lists = _lists(ctx, q, share)
            return _convex(lists["kw"], lists["vec"], alpha, norm)[:10]
        return run

    for a in (0.3, 0.5):
        out[f"convex a={a} max-norm, vec w/o common"] = convex(a, "max", 0.2)

    def absolute(a: float, adaptive: bool, share: float | None = 0.2) -> Method:
        def run(ctx: dict, q: dict) -> list[str]:
            lists = _lists(ctx, q, share)
            kw, vec = dict(lists["kw"]), dict(lists["vec"])
            floor = min(vec.values(), default=0.0)
            w = a * min(max(kw.values(), default=0.0), 1.0) if adaptive else a
            fused = {m: w * min(kw.get(m, 0.0), 1.5) + (1 - w) * vec.get(m, floor)
                     for m in set(kw) | set(vec)}
            return [m for m, _ in sorted(fused.items(), key=lambda kv: -kv[1])][:10]
        return run

    for a in (0.2, 0.3, 0.4, 0.5):
        out[f"abs convex a={a}, vec w/o common"] = absolute(a, False)
    for a in (0.3, 0.5, 0.7):
        out[f"abs convex adaptive a={a}*best kw, vec w/o common"] = absolute(a, True)
    out["abs convex a=0.3"] = absolute(0.3, False, None)
    _ = math
    _ = rrf
    return out
