"""BM25 as SQLite FTS5 computes it, shared by both homes' keyword search so that a memory
scores the same wherever it is kept (the fitted relevance model reads these scores)."""

from __future__ import annotations

import math
from collections.abc import Iterable

K1, B = 1.2, 0.75
"""FTS5's bm25() defaults."""


def idf(rows: int, df: int) -> float:
    """FTS5's own IDF (ext/fts5/fts5_aux.c), so the sum matches the scores it returns."""
    value = math.log((rows - df + 0.5) / (df + 0.5))
    return value if value > 0 else 1e-6


def score(held: Iterable[tuple[float, int]], length: int, average: float) -> float:
    """A memory's BM25 from (IDF, term count) of each query term it holds, its length in
    terms and the average length."""
    norm = K1 * (1 - B + B * length / (average or 1.0))
    return sum(w * tf * (K1 + 1) / (tf + norm) for w, tf in held if tf)
