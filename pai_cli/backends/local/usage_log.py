"""Token usage and estimated cost per turn, in the local SQLite file."""

from __future__ import annotations

from pai_cli.backends.local.db import Database
from pai_cli.records import UsageRecord


class SqliteUsageLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, user_id: str, record: UsageRecord) -> None:
        r = record
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO usage (user_id, conversation_id, model, input_tokens, "
                "output_tokens, cost_usd, created_at, purpose) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, r.conversation_id, r.model, r.input_tokens, r.output_tokens,
                 r.cost_usd, r.created_at, r.purpose),
            )

    def records(self, user_id: str, since: float) -> list[UsageRecord]:
        rows = self.db.execute(
            "SELECT created_at, conversation_id, model, input_tokens, output_tokens, cost_usd, "
            "purpose FROM usage WHERE user_id = ? AND created_at >= ? ORDER BY created_at",
            (user_id, since),
        ).fetchall()
        return [UsageRecord(*r) for r in rows]
