"""The durable queue of memory writes, in the same SQLite file as the messages it follows."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

from pai_cli.backends.local.db import Database
from pai_cli.records import Job

_COLS = "id, user_id, kind, payload, created_at, tries, next_at, parked_at, last_error"


def _job(r: tuple) -> Job:
    return Job(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6], r[7], r[8])


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

    def pending(self, user_id: str, limit: int, now: float) -> list[Job]:
        rows = self.db.execute(
            f"SELECT {_COLS} FROM jobs WHERE user_id = ? AND parked_at IS NULL AND next_at <= ? "
            "ORDER BY id LIMIT ?", (user_id, now, limit),
        ).fetchall()
        return [_job(r) for r in rows]

    def jobs(self, user_id: str) -> list[Job]:
        rows = self.db.execute(
            f"SELECT {_COLS} FROM jobs WHERE user_id = ? ORDER BY id", (user_id,)).fetchall()
        return [_job(r) for r in rows]

    def fail(self, job_id: int, error: str, next_at: float, park: bool, now: float) -> None:
        with self.db.transaction():
            self.db.execute(
                "UPDATE jobs SET tries = tries + 1, last_error = ?, next_at = ?, "
                "parked_at = CASE WHEN ? THEN ? ELSE NULL END WHERE id = ?",
                (error[:500], next_at, int(park), now, job_id),
            )

    def retry(self, user_id: str, job_ids: Sequence[int] | None = None) -> int:
        with self.db.transaction():
            if job_ids is None:
                return self.db.execute(
                    "UPDATE jobs SET parked_at = NULL, next_at = 0, tries = 0 WHERE user_id = ?",
                    (user_id,)).rowcount
            marks = ",".join("?" * len(job_ids))
            return self.db.execute(
                f"UPDATE jobs SET parked_at = NULL, next_at = 0, tries = 0 "
                f"WHERE user_id = ? AND id IN ({marks})", (user_id, *job_ids)).rowcount

    def discard(self, user_id: str, prefix: bytes = b"") -> int:
        with self.db.transaction():
            return self.db.execute(
                "DELETE FROM jobs WHERE user_id = ? AND substr(payload, 1, ?) = ?",
                (user_id, len(prefix), prefix),
            ).rowcount

    def done(self, job_id: int) -> bool:
        with self.db.transaction():
            return bool(self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount)
