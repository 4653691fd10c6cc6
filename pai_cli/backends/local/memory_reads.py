"""Reading memory rows back: by id or id prefix, listed newest first, paged through, counted.
Only live rows (not past their expiry) are ever returned."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from pai_cli.backends.local.db import Database
from pai_cli.records import SealedMemory

_COLS = (
    "rowid, id, user_id, content, category, created_at, updated_at, expires_at, pinned, "
    "source_conversation, source_message, origin, importance, valid_from, valid_to, "
    "superseded_by, status, sources, conflicts_with, processed"
)
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
SQLITE_MAX_INT = 2**63 - 1


def _row(r: tuple) -> SealedMemory:
    return SealedMemory(
        id=r[1], user_id=r[2], content=bytes(r[3]), category=r[4], created_at=r[5],
        updated_at=r[6], expires_at=r[7], pinned=bool(r[8]), terms="",
        source_conversation=r[9], source_message=r[10], origin=r[11], importance=r[12],
        valid_from=r[13], valid_to=r[14], superseded_by=r[15], status=r[16],
        sources=tuple(json.loads(r[17] or "[]")), conflicts_with=r[18], processed=bool(r[19]),
    )


_STATE_FIELDS = dict(vars(SealedMemory(id="", user_id="", content=b"", category="",
                                        created_at=0.0, updated_at=0.0, expires_at=None,
                                        pinned=False, terms="")))
"""Every field of a SealedMemory, in order, at its default (a template for _state)."""
_new = object.__new__


def _state(user_id: str, r: tuple) -> SealedMemory:
    """A SealedMemory of a get_states row: (id, category, created_at, expires_at, status,
    valid_from, valid_to). Its fields are filled in directly: the frozen dataclass's own
    __init__ takes ~2.2 us (one object.__setattr__ per field) against ~0.8 here, and search
    makes ~100 of these per query. Equal to SealedMemory(id=r[0], user_id=user_id,
    content=b"", category=r[1], created_at=r[2], updated_at=r[2], expires_at=r[3],
    pinned=False, terms="", status=r[4], valid_from=r[5], valid_to=r[6]), field for field
    (tests/test_retrieval.py)."""
    s = _new(SealedMemory)
    s.__dict__.update(_STATE_FIELDS, id=r[0], user_id=user_id, content=b"", category=r[1],
                      created_at=r[2], updated_at=r[2], expires_at=r[3], pinned=False,
                      terms="", status=r[4], valid_from=r[5], valid_to=r[6])
    return s


class MemoryReads:
    """The store's read side, a base of SqliteMemoryStore (which sets db)."""

    db: Database

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
        return [_state(user_id, r) for r in rows]

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
