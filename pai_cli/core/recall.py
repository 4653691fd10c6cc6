"""Search: keyword and vector candidates fused into one 0-1 relevance (fusion.py), with
the rows gone or not current left out before scoring and only what is returned opened."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pai_cli.core import fusion, text, timeframe
from pai_cli.errors import InputError
from pai_cli.records import ACTIVE, RETIRED, SealedMemory, SearchHit

if TYPE_CHECKING:
    from pai_cli.core.memory_service import MemoryService


def _current(s: SealedMemory, as_of: float | None) -> bool:
    """In a default search: active. With as_of: held at that time (Memory.held_at)."""
    if as_of is None:
        return s.status == ACTIVE
    start = s.valid_from if s.valid_from is not None else s.created_at
    return s.status != RETIRED and start <= as_of and (s.valid_to is None or s.valid_to > as_of)


def search(
    service: MemoryService, user_id: str, query: str, k: int = 5, category: str | None = None,
    mode: str = "hybrid", min_score: float | None = None, as_of: float | None = None,
) -> list[SearchHit]:
    """The k most relevant memories, best first: only active ones, or with as_of, those
    that held at that time (superseded ones included; see Memory.held_at).

    In hybrid mode the score is a relevance in 0-1 (fusion.py) and memories under
    min_score (default: the settings') are not returned at all; keyword and vector
    modes return their own scores (keyword: BM25 scaled so that holding every query
    term is ~1; vector: the cosine, see vector_list) and no floor unless one is given."""
    query = text.clean_text(query, "query")
    if k < 1:
        raise InputError("-n must be at least 1.")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise InputError("--min-score must be between 0 and 1.")
    cat = text.clean_category(category) if category else None
    service.check_model(user_id)
    now = service.clock()
    n = max(service.settings.candidates, k)
    keyword: list[tuple[str, float]] = []
    vector: list[tuple[str, float]] = []
    qterms = list(dict.fromkeys(text.terms(query)))
    blinded = service.cipher.blind(user_id, qterms) if service.store.supports_keywords else []
    if mode in ("hybrid", "keyword") and blinded:
        kn = max(service.settings.keyword_candidates, k)
        keyword = service.store.keyword_search(user_id, blinded, kn, cat, now)
    if mode in ("hybrid", "vector"):
        vector = vector_list(service, user_id, query, qterms, blinded, n, cat)
    # Rows gone since the index was written (forgotten, expired) must not count, not
    # even as the best cosine another candidate is measured against: one lookup of
    # every candidate's state (no content, no decryption) before scoring.
    ids = list(dict.fromkeys([m for m, _ in keyword] + [m for m, _ in vector]))
    rows = {s.id: s for s in service.store.get_states(user_id, ids, now)
            if (not cat or s.category == cat) and _current(s, as_of)}
    keyword = [kv for kv in keyword if kv[0] in rows]
    vector = [kv for kv in vector if kv[0] in rows]
    if mode == "hybrid":
        period = timeframe.period(query, now)
        created = {m: r.created_at for m, r in rows.items()} if period is not None else None
        floor = service.settings.min_score if min_score is None else min_score
        ranked = [r for r in fusion.rank(keyword, vector,
                                         fusion.model_for(service.embedder.model_id),
                                         created, period)
                  if r[1] >= floor]
    else:
        floor = min_score or 0.0
        own = keyword if mode == "keyword" else vector
        ranked = [(mid, score, i if mode == "keyword" else None,
                   i if mode == "vector" else None, score if mode == "vector" else None)
                  for i, (mid, score) in enumerate(own, 1) if score >= floor]
    return _hits(service, user_id, ranked, k, now)


def vector_list(service: MemoryService, user_id: str, query: str, qterms: list[str],
                blinded: list[str], n: int, category: str | None) -> list[tuple[str, float]]:
    """The n memories nearest the question, each with a weighted mean of its cosines with
    the question less the words most memories hold (_vector_query) and with the question as
    asked (the weight is the embedder's: fusion.RelevanceModel.asked_weight); for a memory
    of several vectors (core/pieces.py), its best vector's mean. With the
    speaker's name in, every turn of that speaker comes near a question naming them;
    without it, nothing tells two speakers' like facts apart; the mean keeps the name as
    one part of the meaning (README, "The question twice"). One query vector does it: the
    weighted mean of the two unit vectors, searched as a unit vector, gives each memory
    that mean divided by the blend's length."""
    short = _vector_query(service, user_id, query, qterms, blinded)
    weight = fusion.model_for(service.embedder.model_id).asked_weight
    if short == query or not weight:
        return service.index.query(user_id, service.embedder.embed([short])[0], n, category)
    without, asked = service.embedder.embed([short, query])[:2]
    blend = without * (1.0 - weight) + asked * weight
    length = math.sqrt(float((blend * blend).sum()))
    if length < 1e-6:  # opposite vectors: no direction between them
        return service.index.query(user_id, without, n, category)
    return [(mid, cosine * length)
            for mid, cosine in service.index.query(user_id, blend / length, n, category)]


def _vector_query(service: MemoryService, user_id: str, query: str, qterms: list[str],
                  blinded: list[str]) -> str:
    """The query without the words most memories hold (settings.common_share)."""
    if not blinded:
        return query
    shares = service.store.term_shares(user_id, blinded)
    common = {t for t, b in zip(qterms, blinded, strict=True)
              if shares.get(b, 0.0) > service.settings.common_share}
    if not common:
        return query
    kept = [w for w in query.split() if not common.intersection(text.terms(w))]
    return " ".join(kept) or query


def _hits(service: MemoryService, user_id: str,
          ranked: Sequence[tuple[str, float, int | None, int | None, float | None]],
          k: int, now: float) -> list[SearchHit]:
    """The first k ranked memories that can be read. Only those are read whole and
    opened; a row gone between the two reads (forgotten by another process just now)
    is left out, and so is one that cannot be read (named, and the next one taken)."""
    hits: list[SearchHit] = []
    start = 0
    while len(hits) < k and start < len(ranked):
        chunk = ranked[start:start + k - len(hits)]
        start += len(chunk)
        full = {s.id: s for s in service.store.get_many(user_id, [r[0] for r in chunk], now)}
        for mid, score, k_rank, v_rank, v_score in chunk:
            if mid in full:
                hits.extend(SearchHit(memory, score, k_rank, v_rank, v_score)
                            for memory in service.sealer.readable([full[mid]]))
    return hits
