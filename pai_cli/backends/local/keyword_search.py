"""Keyword search over the blinded terms: FTS5 posting lists pick the candidates, BM25 (FTS5's
own formula) ranks them, scaled so that scores compare across queries."""

from __future__ import annotations

from collections.abc import Sequence

from pai_cli.backends import bm25

# The posting budget: FTS5 scores every row a query term matches (~1.3 us a row here). Past
# it the commonest terms are left out (they carry the least BM25 weight), and if the rarest
# alone is over it, only the newest rows that fit the budget are ranked.
from pai_cli.backends.bm25 import COMMON_TERM_MIN_ROWS, COMMON_TERM_SHARE, POSTING_BUDGET
from pai_cli.backends.local.db import Database
from pai_cli.backends.local.term_stats import TermStats, fts5_idf

RESCORE = 200
"""How many of the rows holding the most query-term IDF are scored with the full BM25."""


def discriminative(stats: TermStats, terms: list[str],
                   posting_budget: int = POSTING_BUDGET) -> tuple[list[str], int, float]:
    """The query terms worth ranking by, the lowest rowid worth ranking, and the sum of
    every query term's IDF (what a memory holding each of them once would score).

    A term in more than half of the rows has (almost) no BM25 weight, yet an OR query
    scores every row it is in; past the posting budget the commonest remaining terms go
    too, and when even the rarest term is that common, ranking is kept to the newest rows
    (recent memories are the likelier answer; IDF still comes from every row). At 100k+
    memories this keeps keyword search to a few milliseconds; below 1,000 rows nothing
    is dropped."""
    n = stats.max_rowid()
    df = stats.doc_freq(terms)
    if n < COMMON_TERM_MIN_ROWS:
        kept, lowest = [t for t in terms if df.get(t, 0) > 0], 0
    else:
        useful = sorted((df[t], t) for t in terms
                        if 0 < df.get(t, 0) <= n * COMMON_TERM_SHARE)
        kept, postings = [], 0
        for count, term in useful:
            if kept and postings + count > posting_budget:
                break
            kept.append(term)
            postings += count
        lowest = n - int(n * posting_budget / postings) if postings > posting_budget else 0
    # The scale counts every query term, kept or not: a term no memory holds is the
    # most telling one, and a memory matching only the others is a partial match.
    # The row count is FTS5's own (its averages record), as in the scores.
    rows = max(stats.averages()[0], 1)
    return kept, lowest, sum(fts5_idf(rows, df.get(t, 0)) for t in terms)


def search(
    db: Database, stats: TermStats, user_id: str, terms: Sequence[str], k: int,
    category: str | None, now: float, posting_budget: int = POSTING_BUDGET,
) -> list[tuple[str, float]]:
    """BM25 (FTS5's formula: k1 1.2, b 0.75, its IDF) divided by the sum of the query
    terms' IDF, so a memory holding every query term once, at average length, scores
    about 1 and one holding none 0, whatever the query: the fusion can weigh it against
    a cosine.

    Not FTS5's own ranking: its bm25() reads every matched row's length and positions
    (~5 us a row here, 10+ ms at the posting budget). Instead the posting lists alone
    (rowids, ~0.3 us a row) give each row the IDF of the query terms it holds; the
    RESCORE best of those are read back (their terms, for term counts and length) and
    scored with the full formula, which gives FTS5's own scores for them."""
    terms = list(dict.fromkeys(terms))
    kept, lowest, idf_sum = (discriminative(stats, terms, posting_budget) if terms
                             else ([], 0, 0.0))
    if not kept:
        return []
    rows, total_len = stats.averages()
    df = stats.doc_freq(kept)
    idf = {t: fts5_idf(max(rows, 1), df.get(t, 0)) for t in kept}
    want = max(RESCORE, 4 * k) * (4 if category else 1)
    if len(kept) == 1:
        # One term: every row holding it holds the same IDF; FTS5 walks its posting
        # list newest first and stops at `want`.
        sql = ("SELECT rowid FROM memory_terms WHERE memory_terms MATCH ? AND rowid > ? "
               "ORDER BY rowid DESC LIMIT ?")
        args: list = [f'"{kept[0]}"', lowest, want]
    else:
        # Each row's held IDF, summed by SQLite over the posting lists.
        postings = " UNION ALL ".join(
            "SELECT rowid, ? AS w FROM memory_terms WHERE memory_terms MATCH ? AND rowid > ?"
            for _ in kept)
        sql = (f"SELECT rowid FROM ({postings}) GROUP BY rowid "
               "ORDER BY sum(w) DESC, rowid DESC LIMIT ?")
        args = [*(x for t in kept for x in (idf[t], f'"{t}"', lowest)), want]
    best = [r for (r,) in db.execute(sql, args)]
    if not best:
        return []
    # Score first, from FTS5's content table alone (its documented shadow table
    # <name>_content, column c0: the blinded terms): a third of the time of reading them
    # through the FTS5 table, and half of joining each row to its memory. Only the best
    # scored are then looked up in memories, to keep the user's live rows (of the
    # category) and get their ids: usually k of them, not RESCORE.
    marks = ",".join("?" * len(best))
    avg = total_len / rows if rows and total_len else 1.0
    scored = []
    for rowid, held_terms in db.execute(
            f"SELECT id, c0 FROM memory_terms_content WHERE id IN ({marks})", best):
        # bm25.score's formula, written out: this loop runs for every candidate row, and
        # the call cost 0.1 ms a search at 100k (tests check both homes score alike).
        tokens = held_terms.split()
        norm = bm25.K1 * (1 - bm25.B + bm25.B * len(tokens) / avg)
        score = 0.0
        for t in kept:
            tf = tokens.count(t)
            if tf:
                score += idf[t] * tf * (bm25.K1 + 1) / (tf + norm)
        scored.append((score, rowid))
    scored.sort(reverse=True)
    scale = 1.0 / idf_sum if idf_sum > 0 else 1.0
    out: list[tuple[str, float]] = []
    start = 0
    while len(out) < k and start < len(scored):
        chunk = scored[start:start + k - len(out) + 8]
        start += len(chunk)
        ids = _live_ids(db, user_id, [rowid for _, rowid in chunk], category, now)
        out += [(ids[rowid], score * scale) for score, rowid in chunk if rowid in ids]
    return out[:k]


def _live_ids(db: Database, user_id: str, rowids: list[int], category: str | None,
              now: float) -> dict[int, str]:
    """rowid -> memory id of those rows that are the user's, live (and of the category).
    Terms are blinded with a per-user key, so another user's rows cannot match a query;
    the user is still checked so that no path depends on that. The unary + keep SQLite's
    planner on the rowids: left to itself it walked the user's (or the expiry) index over
    every row (1 s at 1M instead of 1 ms)."""
    marks = ",".join("?" * len(rowids))
    sql = (f"SELECT rowid, id FROM memories WHERE rowid IN ({marks}) AND +user_id = ? "
           "AND (+expires_at IS NULL OR +expires_at > ?)")
    params: list = [*rowids, user_id, now]
    if category:
        sql += " AND +category = ?"
        params.append(category)
    return dict(db.execute(sql, params).fetchall())
