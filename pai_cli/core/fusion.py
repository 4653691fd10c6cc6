"""Reciprocal rank fusion of keyword and vector evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RRF_K = 10
"""Cormack et al. (2009) use 60; on bench/quality a smaller constant, which trusts the top
ranks more, beat 60 at every k (see README, design notes; vector-only still wins at k=1)."""


@dataclass(frozen=True)
class Fused:
    memory_id: str
    score: float
    keyword_rank: int | None
    vector_rank: int | None
    vector_score: float | None


def fuse(
    keyword: Sequence[tuple[str, float]],
    vector: Sequence[tuple[str, float]],
    k: int,
    keyword_weight: float = 1.0,
    vector_weight: float = 1.0,
) -> list[Fused]:
    """Both lists best first. Ties break toward the better vector similarity, then the id."""
    kw_rank = {mid: i + 1 for i, (mid, _) in enumerate(keyword)}
    vec_rank = {mid: i + 1 for i, (mid, _) in enumerate(vector)}
    vec_sim = dict(vector)
    ids = list(dict.fromkeys([m for m, _ in keyword] + [m for m, _ in vector]))
    fused = []
    for mid in ids:
        score = 0.0
        if mid in kw_rank:
            score += keyword_weight / (RRF_K + kw_rank[mid])
        if mid in vec_rank:
            score += vector_weight / (RRF_K + vec_rank[mid])
        fused.append(Fused(mid, score, kw_rank.get(mid), vec_rank.get(mid), vec_sim.get(mid)))
    fused.sort(key=lambda f: (-f.score, -(f.vector_score or -2.0), f.memory_id))
    return fused[:k]
