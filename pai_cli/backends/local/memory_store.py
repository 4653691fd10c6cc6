"""Memories in SQLite, with their blinded keyword terms in an FTS5 table of the same file.

This module writes (rows and their terms in one transaction); reading rows back is
memory_reads, the term counts are term_stats and the keyword ranking keyword_search."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager

from pai_cli.backends.local import keyword_search as keywords
from pai_cli.backends.local.db import Database
from pai_cli.backends.local.keyword_search import (  # noqa: F401 - importable from here too
    COMMON_TERM_MIN_ROWS,
    COMMON_TERM_SHARE,
    POSTING_BUDGET,
    RESCORE,
)
from pai_cli.backends.local.memory_reads import SQLITE_MAX_INT, MemoryReads  # noqa: F401
from pai_cli.backends.local.term_stats import (  # noqa: F401
    DF_CACHE_MAX,
    MIN_COMMON,
    USER_COUNT_CAP,
    TermStats,
)
from pai_cli.errors import BackendError
from pai_cli.records import SealedMemory


class SqliteMemoryStore(MemoryReads):
    supports_keywords = True

    def __init__(self, db: Database) -> None:
        self.db = db
        self.terms = TermStats(db)

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

    def term_shares(self, user_id: str, terms: Sequence[str]) -> dict[str, float]:
        return self.terms.shares(user_id, terms)

    def keyword_search(
        self, user_id: str, terms: Sequence[str], k: int, category: str | None, now: float
    ) -> list[tuple[str, float]]:
        # The budget is read here, at call time, so that this module's POSTING_BUDGET
        # (where it has always been set, and tests lower it) still decides.
        return keywords.search(self.db, self.terms, user_id, terms, k, category, now,
                              posting_budget=POSTING_BUDGET)

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row and row[0] != "" else None

    def set_meta(self, key: str, value: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value),
            )
