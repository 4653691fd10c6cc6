"""Memories in SQLite, with their blinded keyword terms in an FTS5 table of the same file."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

from pai_cli.backends.local.db import Database
from pai_cli.errors import BackendError
from pai_cli.records import SealedMemory

_COLS = (
    "rowid, id, user_id, content, category, created_at, updated_at, expires_at, pinned, "
    "source_conversation, source_message, origin, importance, valid_from, valid_to, "
    "superseded_by, status, sources, conflicts_with, processed"
)
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
SQLITE_MAX_INT = 2**63 - 1
COMMON_TERM_MIN_ROWS = 1000
COMMON_TERM_SHARE = 0.5
MIN_COMMON = 30
USER_COUNT_CAP = 20000
"""term_shares leaves out terms fewer memories than this hold: in a handful of memories
every word is "common", and none of them is."""
BM25_K1, BM25_B = 1.2, 0.75
"""FTS5's bm25() defaults, which keyword_search computes itself."""
RESCORE = 200
"""How many of the rows holding the most query-term IDF are scored with the full BM25."""
DF_CACHE_MAX = 50000
"""Cached document counts (one per blinded term searched for) past which they start over."""
POSTING_BUDGET = 3000
"""FTS5 scores every row a query term matches (~1.3 us a row here). Past this many postings
the commonest terms are left out (they carry the least BM25 weight), and if the rarest alone
is over it, only the newest rows that fit the budget are ranked."""


def _varints(data: bytes) -> list[int]:
    """SQLite's varints (big-endian 7-bit groups; a ninth byte holds 8 bits)."""
    out, value, size = [], 0, 0
    for byte in data:
        size += 1
        if size == 9:
            out.append((value << 8) | byte)
            value, size = 0, 0
            continue
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            out.append(value)
            value, size = 0, 0
    return out


def _idf(rows: int, df: int) -> float:
    """FTS5's own IDF (ext/fts5/fts5_aux.c), so the sum matches the scores it returns."""
    idf = math.log((rows - df + 0.5) / (df + 0.5))
    return idf if idf > 0 else 1e-6


def _row(r: tuple) -> SealedMemory:
    return SealedMemory(
        id=r[1], user_id=r[2], content=bytes(r[3]), category=r[4], created_at=r[5],
        updated_at=r[6], expires_at=r[7], pinned=bool(r[8]), terms="",
        source_conversation=r[9], source_message=r[10], origin=r[11], importance=r[12],
        valid_from=r[13], valid_to=r[14], superseded_by=r[15], status=r[16],
        sources=tuple(json.loads(r[17] or "[]")), conflicts_with=r[18], processed=bool(r[19]),
    )


class SqliteMemoryStore:
    supports_keywords = True

    def __init__(self, db: Database) -> None:
        self.db = db
        self._df: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._stamp: tuple[int, int] | None = None

    def transaction(self) -> AbstractContextManager[None]:
        return self.db.transaction()

    def insert(self, memories: Sequence[SealedMemory]) -> list[str]:
        """The ids newly stored; an id the user already has is skipped. Only that: any other
        constraint a row breaks (a NaN date is stored as NULL) fails the whole transaction,
        where INSERT OR IGNORE would count the row as "already present" and drop it."""
        inserted = []
        with self.db.transaction():
            for m in memories:
                try:
                    cur = self.db.execute(
                        "INSERT INTO memories (id, user_id, content, category, created_at, "
                        "updated_at, expires_at, pinned, source_conversation, source_message, "
                        "origin, importance, valid_from, valid_to, superseded_by, status, "
                        "sources, conflicts_with, processed) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (user_id, id) DO NOTHING",
                        (m.id, m.user_id, m.content, m.category, m.created_at, m.updated_at,
                         m.expires_at, int(m.pinned), m.source_conversation, m.source_message,
                         m.origin, m.importance, m.valid_from, m.valid_to, m.superseded_by,
                         m.status, json.dumps(list(m.sources)), m.conflicts_with,
                         int(m.processed)),
                    )
                except sqlite3.IntegrityError as e:
                    raise BackendError(
                        f"Memory {m.id} could not be stored ({e}): nothing of its batch was "
                        "written."
                    ) from None
                if cur.rowcount:
                    self.db.execute(
                        "INSERT INTO memory_terms (rowid, terms) VALUES (?, ?)",
                        (cur.lastrowid, m.terms),
                    )
                    inserted.append(m.id)
        return inserted

    def update(self, memory: SealedMemory) -> bool:
        m = memory
        with self.db.transaction():
            row = self.db.execute(
                "SELECT rowid FROM memories WHERE id = ? AND user_id = ?", (m.id, m.user_id)
            ).fetchone()
            if row is None:
                return False
            self.db.execute(
                "UPDATE memories SET content = ?, category = ?, updated_at = ?, expires_at = ?, "
                "pinned = ?, importance = ?, valid_from = ?, valid_to = ?, superseded_by = ?, "
                "status = ?, sources = ?, conflicts_with = ?, processed = ? WHERE rowid = ?",
                (m.content, m.category, m.updated_at, m.expires_at, int(m.pinned),
                 m.importance, m.valid_from, m.valid_to, m.superseded_by, m.status,
                 json.dumps(list(m.sources)), m.conflicts_with, int(m.processed), row[0]),
            )
            self.db.execute(
                "UPDATE memory_terms SET terms = ? WHERE rowid = ?", (m.terms, row[0])
            )
        return True

    def get(self, user_id: str, memory_id: str, now: float) -> SealedMemory | None:
        r = self.db.execute(
            f"SELECT {_COLS} FROM memories WHERE id = ? AND user_id = ? AND {_LIVE}",
            (memory_id, user_id, now),
        ).fetchone()
        return _row(r) if r else None

    def get_many(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            # Named index: left to itself SQLite's planner walked the (user_id, created_at)
            # index over all of the user's rows (140 ms at 1M instead of 0.05 ms).
            f"SELECT {_COLS} FROM memories INDEXED BY memories_user_id "
            f"WHERE user_id = ? AND id IN ({marks}) AND {_LIVE}",
            (user_id, *ids, now),
        ).fetchall()
        return [_row(r) for r in rows]

    def get_states(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]:
        """get_many without the content (b"") or sources: what search needs to keep only the
        candidates that hold, read for ~100 candidates per search (a third of get_many's
        time: no blobs read, no JSON parsed)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            "SELECT id, category, created_at, expires_at, status, valid_from, valid_to "
            "FROM memories INDEXED BY memories_user_id "
            f"WHERE user_id = ? AND id IN ({marks}) AND {_LIVE}", (user_id, *ids, now),
        ).fetchall()
        return [SealedMemory(id=r[0], user_id=user_id, content=b"", category=r[1],
                             created_at=r[2], updated_at=r[2], expires_at=r[3], pinned=False,
                             terms="", status=r[4], valid_from=r[5], valid_to=r[6])
                for r in rows]

    def resolve_id(self, user_id: str, id_or_prefix: str, now: float) -> list[str]:
        if not id_or_prefix.isascii():
            # Ids are ASCII (generated, or checked on import): nothing else can match, and a
            # lone surrogate from a terminal could not even be sent to SQLite.
            return []
        exact = self.db.execute(
            f"SELECT id FROM memories WHERE id = ? AND user_id = ? AND {_LIVE}",
            (id_or_prefix, user_id, now),
        ).fetchone()
        if exact:
            return [exact[0]]
        if not id_or_prefix:
            return []
        # Range scan on the unique index instead of LIKE, whose wildcards users could type.
        upper = id_or_prefix[:-1] + chr(ord(id_or_prefix[-1]) + 1)
        rows = self.db.execute(
            f"SELECT id FROM memories INDEXED BY memories_user_id WHERE user_id = ? AND id >= ? "
            f"AND id < ? AND {_LIVE} LIMIT 10", (user_id, id_or_prefix, upper, now),
        ).fetchall()
        return [r[0] for r in rows]

    def list(
        self, user_id: str, now: float, category: str | None, limit: int | None,
        include_inactive: bool = False,
    ) -> list[SealedMemory]:
        where = f"user_id = ? AND {_LIVE}"
        params: list = [user_id, now]
        if not include_inactive:
            where += " AND status = 'active'"
        if category:
            where += " AND category = ?"
            params.append(category)
        sql = f"SELECT {_COLS} FROM memories WHERE {where} ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(min(limit, SQLITE_MAX_INT))  # "-n 10**30": all of them
        return [_row(r) for r in self.db.execute(sql, params)]

    def iter_all(self, user_id: str, now: float, batch: int = 1000) -> Iterator[SealedMemory]:
        # Keyset pages, not one open cursor: callers may write between pages.
        last = 0
        while True:
            rows = self.db.execute(
                f"SELECT {_COLS} FROM memories WHERE user_id = ? AND {_LIVE} AND rowid > ? "
                "ORDER BY rowid LIMIT ?", (user_id, now, last, batch),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield from (_row(r) for r in rows)

    def count(self, user_id: str, now: float) -> int:
        return self.db.execute(
            f"SELECT count(*) FROM memories WHERE user_id = ? AND {_LIVE}", (user_id, now)
        ).fetchone()[0]

    def _delete_rows(self, where: str, params: tuple) -> list[str]:
        """Delete this user's rows matching where (which names user_id); returns their ids."""
        with self.db.transaction():
            rows = self.db.execute(
                f"SELECT rowid, id FROM memories WHERE {where}", params
            ).fetchall()
            if rows:
                self.db.executemany(
                    "DELETE FROM memory_terms WHERE rowid = ?", [(r[0],) for r in rows]
                )
                self.db.executemany("DELETE FROM memories WHERE rowid = ?", [(r[0],) for r in rows])
        return [r[1] for r in rows]

    def delete(self, user_id: str, memory_id: str) -> bool:
        return bool(self._delete_rows("id = ? AND user_id = ?", (memory_id, user_id)))

    def delete_all(self, user_id: str) -> list[str]:
        return self._delete_rows("user_id = ?", (user_id,))

    def purge_expired(self, user_id: str, now: float) -> list[str]:
        return self._delete_rows(
            "user_id = ? AND expires_at IS NOT NULL AND expires_at <= ?", (user_id, now))

    def sweep_orphans(self, user_id: str) -> int:
        return 0  # every write is one SQLite transaction: nothing is ever left half-made

    def _fresh(self) -> None:
        """Forget the cached counts when the database changed: another connection committed
        (PRAGMA data_version moves) or this one wrote (total_changes moves)."""
        stamp = (self.db.execute("PRAGMA data_version").fetchone()[0],
                 self.db.conn.total_changes)
        if stamp != self._stamp or len(self._df) > DF_CACHE_MAX:
            self._df.clear()
            self._counts.clear()
            self._stamp = stamp

    def _doc_freq(self, terms: list[str]) -> dict[str, int]:
        """How many rows hold each term (the terms no row holds are left out). fts5vocab
        counts a term's rows by walking its whole posting list (~10 ms for the commonest
        terms at 1M), so counts are kept until the database changes (_fresh): a process
        that searches again (chat, the API, the REPL) asks SQLite only for new terms."""
        self._fresh()
        missing = [t for t in terms if t not in self._df]
        if missing:
            marks = ",".join("?" * len(missing))
            found = dict(self.db.execute(
                f"SELECT term, doc FROM memory_terms_vocab WHERE term IN ({marks})", missing
            ).fetchall())
            for t in missing:
                self._df[t] = found.get(t, 0)
        return {t: self._df[t] for t in terms if self._df[t]}

    def _max_rowid(self) -> int:
        self._fresh()
        if "" not in self._counts:
            self._counts[""] = (self.db.execute("SELECT max(rowid) FROM memories").fetchone()[0]
                                or 0)
        return self._counts[""]

    def _discriminative(self, terms: list[str]) -> tuple[list[str], int, float]:
        """The query terms worth ranking by, the lowest rowid worth ranking, and the sum of
        every query term's IDF (what a memory holding each of them once would score).

        A term in more than half of the rows has (almost) no BM25 weight, yet an OR query
        scores every row it is in; past POSTING_BUDGET rows the commonest remaining terms go
        too, and when even the rarest term is that common, ranking is kept to the newest rows
        (recent memories are the likelier answer; IDF still comes from every row). At 100k+
        memories this keeps keyword search to a few milliseconds; below 1,000 rows nothing
        is dropped."""
        n = self._max_rowid()
        df = self._doc_freq(terms)
        if n < COMMON_TERM_MIN_ROWS:
            kept, lowest = [t for t in terms if df.get(t, 0) > 0], 0
        else:
            useful = sorted((df[t], t) for t in terms
                            if 0 < df.get(t, 0) <= n * COMMON_TERM_SHARE)
            kept, postings = [], 0
            for count, term in useful:
                if kept and postings + count > POSTING_BUDGET:
                    break
                kept.append(term)
                postings += count
            lowest = n - int(n * POSTING_BUDGET / postings) if postings > POSTING_BUDGET else 0
        # The scale counts every query term, kept or not: a term no memory holds is the
        # most telling one, and a memory matching only the others is a partial match.
        # The row count is FTS5's own (its averages record), as in the scores.
        rows = max(self._averages()[0], 1)
        return kept, lowest, sum(_idf(rows, df.get(t, 0)) for t in terms)

    def _user_rows(self, user_id: str) -> int:
        """The user's row count, cheaply: counting a user's rows at 1M is ~45 ms, so a user
        alone in the file (the usual case) gets the highest rowid, and a user sharing it
        an exact count up to USER_COUNT_CAP, past which the highest rowid again (terms are
        blinded per user, so their counts are the user's own: shares come out lower, never
        higher)."""
        self._fresh()
        if user_id in self._counts:
            return self._counts[user_id]
        n = self._max_rowid()
        other = self.db.execute(
            "SELECT 1 FROM memories INDEXED BY memories_user_id WHERE user_id < ? OR user_id > ? "
            "LIMIT 1", (user_id, user_id)).fetchone()
        if other is None:
            self._counts[user_id] = n
            return n
        counted = self.db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM memories INDEXED BY memories_user_id "
            "WHERE user_id = ? LIMIT ?)", (user_id, USER_COUNT_CAP + 1)).fetchone()[0]
        self._counts[user_id] = n if counted > USER_COUNT_CAP else counted
        return self._counts[user_id]

    def term_shares(self, user_id: str, terms: Sequence[str]) -> dict[str, float]:
        """For blinded terms: the share of the user's memories holding each (terms fewer
        than MIN_COMMON memories hold are left out)."""
        terms = list(dict.fromkeys(terms))
        if not terms:
            return {}
        n = self._user_rows(user_id)
        df = self._doc_freq(terms)
        return {t: (df.get(t, 0) / n if n else 0.0) for t in terms if df.get(t, 0) >= MIN_COMMON}

    def keyword_search(
        self, user_id: str, terms: Sequence[str], k: int, category: str | None, now: float
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
        kept, lowest, idf_sum = self._discriminative(terms) if terms else ([], 0, 0.0)
        if not kept:
            return []
        rows, total_len = self._averages()
        df = self._doc_freq(kept)
        idf = {t: _idf(max(rows, 1), df.get(t, 0)) for t in kept}
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
        best = [r for (r,) in self.db.execute(sql, args)]
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
        for rowid, held_terms in self.db.execute(
                f"SELECT id, c0 FROM memory_terms_content WHERE id IN ({marks})", best):
            tokens = held_terms.split()
            norm = BM25_K1 * (1 - BM25_B + BM25_B * len(tokens) / avg)
            score = 0.0
            for t in kept:
                tf = tokens.count(t)
                if tf:
                    score += idf[t] * tf * (BM25_K1 + 1) / (tf + norm)
            scored.append((score, rowid))
        scored.sort(reverse=True)
        scale = 1.0 / idf_sum if idf_sum > 0 else 1.0
        out: list[tuple[str, float]] = []
        start = 0
        while len(out) < k and start < len(scored):
            chunk = scored[start:start + k - len(out) + 8]
            start += len(chunk)
            ids = self._live_ids(user_id, [rowid for _, rowid in chunk], category, now)
            out += [(ids[rowid], score * scale) for score, rowid in chunk if rowid in ids]
        return out[:k]

    def _live_ids(self, user_id: str, rowids: list[int], category: str | None,
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
        return dict(self.db.execute(sql, params).fetchall())

    def _averages(self) -> tuple[int, int]:
        """FTS5's row count and total length in tokens, from its averages record (rowid 1
        of the _data table: varints), as its bm25() reads them."""
        self._fresh()
        if "\0rows" not in self._counts:
            row = self.db.execute("SELECT block FROM memory_terms_data WHERE id = 1").fetchone()
            values = _varints(bytes(row[0])) if row and row[0] else []
            self._counts["\0rows"], self._counts["\0len"] = (
                (values[0], values[1]) if len(values) >= 2 else (self._max_rowid(), 0))
        return self._counts["\0rows"], self._counts["\0len"]

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row and row[0] != "" else None

    def set_meta(self, key: str, value: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value),
            )
