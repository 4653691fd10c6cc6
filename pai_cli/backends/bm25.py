"""BM25 as SQLite FTS5 computes it, shared by both homes' keyword search so that a memory
scores the same wherever it is kept (the fitted relevance model reads these scores)."""

from __future__ import annotations

import math
from collections.abc import Sequence

K1, B = 1.2, 0.75
"""FTS5's bm25() defaults."""
COMMON_TERM_MIN_ROWS, COMMON_TERM_SHARE = 1000, 0.5
"""Past 1,000 memories a term in over half of them ranks nothing (both homes)."""
POSTING_BUDGET = 3000
"""Postings a keyword search reads at most (how each home spends it: its keyword search)."""


def idf(rows: int, df: int) -> float:
    """FTS5's own IDF (ext/fts5/fts5_aux.c), so the sum matches the scores it returns."""
    value = math.log((rows - df + 0.5) / (df + 0.5))
    return value if value > 0 else 1e-6


def score(weights: Sequence[float], counts: Sequence[int], length: int,
          average: float) -> float:
    """A memory's BM25 from each query term's IDF (weights) and how often the memory holds
    it (counts), its length in terms and the mean length. Called for every candidate row
    of a keyword search: kept to one plain loop."""
    norm = K1 * (1 - B + B * length / (average or 1.0))
    total = 0.0
    for w, tf in zip(weights, counts, strict=True):
        if tf:
            total += w * tf * (K1 + 1) / (tf + norm)
    return total
