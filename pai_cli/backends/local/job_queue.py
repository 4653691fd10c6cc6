"""The durable queue of memory writes, in the same SQLite file as the messages it follows."""

from __future__ import annotations

from contextlib import AbstractContextManager

from pai_cli.backends.local.db import Database


class SqliteJobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def transaction(self) -> AbstractContextManager[None]:
        return self.db.transaction()

    def enqueue(self, user_id: str, kind: str, payload: bytes, now: float) -> int:
        with self.db.transaction():
            cur = self.db.execute(
                "INSERT INTO jobs (user_id, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                (user_id, kind, payload, now),
            )
        return int(cur.lastrowid or 0)

    def pending(self, user_id: str, limit: int) -> list[tuple[int, str, bytes]]:
        rows = self.db.execute(
            "SELECT id, kind, payload FROM jobs WHERE user_id = ? ORDER BY id LIMIT ?",
            (user_id, limit),
        ).fetchall()
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def discard(self, user_id: str, prefix: bytes = b"") -> int:
        with self.db.transaction():
            return self.db.execute(
                "DELETE FROM jobs WHERE user_id = ? AND substr(payload, 1, ?) = ?",
                (user_id, len(prefix), prefix),
            ).rowcount

    def done(self, job_id: int) -> bool:
        with self.db.transaction():
            return bool(self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount)
