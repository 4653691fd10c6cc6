"""Counts over the blinded keyword terms in FTS5 (rows holding a term, rows, total length),
kept until the database changes: keyword ranking and the common-term shares read them."""

from __future__ import annotations

from collections.abc import Sequence

from pai_cli.backends import bm25
from pai_cli.backends.local.db import Database

MIN_COMMON = 30
"""term_shares leaves out terms fewer memories than this hold: in a handful of memories
every word is "common", and none of them is."""
USER_COUNT_CAP = 20000
"""A user sharing the file has their rows counted exactly up to this many (user_rows)."""
DF_CACHE_MAX = 50000
"""Cached document counts (one per blinded term searched for) past which they start over."""


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


fts5_idf = bm25.idf


class TermStats:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._df: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._stamp: tuple[int, int] | None = None

    def _fresh(self) -> None:
        """Forget the cached counts when the database changed: another connection committed
        (PRAGMA data_version moves) or this one wrote (total_changes moves)."""
        stamp = (self.db.execute("PRAGMA data_version").fetchone()[0],
                 self.db.conn.total_changes)
        if stamp != self._stamp or len(self._df) > DF_CACHE_MAX:
            self._df.clear()
            self._counts.clear()
            self._stamp = stamp

    def doc_freq(self, terms: list[str]) -> dict[str, int]:
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

    def max_rowid(self) -> int:
        self._fresh()
        if "" not in self._counts:
            self._counts[""] = (self.db.execute("SELECT max(rowid) FROM memories").fetchone()[0]
                                or 0)
        return self._counts[""]

    def user_rows(self, user_id: str) -> int:
        """The user's row count, cheaply: counting a user's rows at 1M is ~45 ms, so a user
        alone in the file (the usual case) gets the highest rowid, and a user sharing it
        an exact count up to USER_COUNT_CAP, past which the highest rowid again (terms are
        blinded per user, so their counts are the user's own: shares come out lower, never
        higher)."""
        self._fresh()
        if user_id in self._counts:
            return self._counts[user_id]
        n = self.max_rowid()
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

    def averages(self) -> tuple[int, int]:
        """FTS5's row count and total length in tokens, from its averages record (rowid 1
        of the _data table: varints), as its bm25() reads them."""
        self._fresh()
        if "\0rows" not in self._counts:
            row = self.db.execute("SELECT block FROM memory_terms_data WHERE id = 1").fetchone()
            values = _varints(bytes(row[0])) if row and row[0] else []
            self._counts["\0rows"], self._counts["\0len"] = (
                (values[0], values[1]) if len(values) >= 2 else (self.max_rowid(), 0))
        return self._counts["\0rows"], self._counts["\0len"]

    def shares(self, user_id: str, terms: Sequence[str]) -> dict[str, float]:
        """For blinded terms: the share of the user's memories holding each (terms fewer
        than MIN_COMMON memories hold are left out)."""
        terms = list(dict.fromkeys(terms))
        if not terms:
            return {}
        n = self.user_rows(user_id)
        df = self.doc_freq(terms)
        return {t: (df.get(t, 0) / n if n else 0.0) for t in terms if df.get(t, 0) >= MIN_COMMON}
