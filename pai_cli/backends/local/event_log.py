"""Memory events in SQLite, in the same file (and so the same transactions) as the memories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager

from pai_cli.backends.local.db import Database
from pai_cli.records import SealedEvent

_COLS = "id, user_id, memory_id, kind, actor, at, batch, sources, model, before, after, detail"


def _event(r: tuple) -> SealedEvent:
    return SealedEvent(
        id=r[0], user_id=r[1], memory_id=r[2], kind=r[3], actor=r[4], at=r[5], batch=r[6],
        sources=tuple(json.loads(r[7] or "[]")), model=r[8],
        before=None if r[9] is None else bytes(r[9]), after=None if r[10] is None else bytes(r[10]),
        detail=json.loads(r[11] or "{}"),
    )


class SqliteEventLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def transaction(self) -> AbstractContextManager[None]:
        return self.db.transaction()

    def append(self, events: Sequence[SealedEvent]) -> None:
        with self.db.transaction():
            for e in events:
                exists = self.db.execute(
                    "SELECT 1 FROM memory_events WHERE user_id = ? AND id = ?",
                    (e.user_id, e.id)).fetchone()
                if exists:
                    continue
                self.db.execute(
                    f"INSERT INTO memory_events ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (e.id, e.user_id, e.memory_id, e.kind, e.actor, e.at, e.batch,
                     json.dumps(list(e.sources)), e.model, e.before, e.after,
                     json.dumps(e.detail, sort_keys=True)),
                )

    def _where(self, where: str, params: tuple, order: str = "seq", limit: int = -1
               ) -> list[SealedEvent]:
        rows = self.db.execute(
            f"SELECT {_COLS} FROM memory_events WHERE {where} ORDER BY {order} LIMIT ?",
            (*params, limit)).fetchall()
        return [_event(r) for r in rows]

    def of_memory(self, user_id: str, memory_id: str) -> list[SealedEvent]:
        return self._where("user_id = ? AND memory_id = ?", (user_id, memory_id))

    def since(self, user_id: str, since: float, limit: int) -> list[SealedEvent]:
        return self._where("user_id = ? AND at >= ?", (user_id, since), "at DESC, seq DESC", limit)

    def of_batch(self, user_id: str, batch: str) -> list[SealedEvent]:
        return self._where("user_id = ? AND batch = ?", (user_id, batch))

    def resolve_event(self, user_id: str, id_or_prefix: str) -> list[str]:
        if not id_or_prefix:
            return []
        upper = id_or_prefix[:-1] + chr(ord(id_or_prefix[-1]) + 1)
        rows = self.db.execute(
            "SELECT id FROM memory_events WHERE user_id = ? AND id >= ? AND id < ? LIMIT 10",
            (user_id, id_or_prefix, upper)).fetchall()
        ids = [r[0] for r in rows]
        return [id_or_prefix] if id_or_prefix in ids else ids

    def get_event(self, user_id: str, event_id: str) -> SealedEvent | None:
        found = self._where("user_id = ? AND id = ?", (user_id, event_id))
        return found[0] if found else None

    def scrub(self, user_id: str, memory_id: str) -> int:
        with self.db.transaction():
            return self.db.execute(
                "UPDATE memory_events SET before = NULL, after = NULL "
                "WHERE user_id = ? AND memory_id = ?", (user_id, memory_id)).rowcount

    def delete_user(self, user_id: str) -> int:
        with self.db.transaction():
            return self.db.execute(
                "DELETE FROM memory_events WHERE user_id = ?", (user_id,)).rowcount
