"""Conversation messages in SQLite; a conversation is the set of its messages."""

from __future__ import annotations

from contextlib import AbstractContextManager

from pai_cli.backends.local.db import Database
from pai_cli.records import ConversationInfo, SealedMessage

_COLS = "id, conversation_id, user_id, role, content, created_at, expires_at"


def _row(r: tuple) -> SealedMessage:
    return SealedMessage(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6])


class SqliteConversationStore:
    remote = False

    def __init__(self, db: Database) -> None:
        self.db = db

    def transaction(self) -> AbstractContextManager[None]:
        return self.db.transaction()

    def append(self, message: SealedMessage) -> None:
        m = message
        with self.db.transaction():
            self.db.execute(
                f"INSERT OR IGNORE INTO messages ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (m.id, m.conversation_id, m.user_id, m.role, m.content, m.created_at,
                 m.expires_at),
            )

    def last_messages(
        self, user_id: str, conversation_id: str, n: int, now: float
    ) -> list[SealedMessage]:
        rows = self.db.execute(
            f"SELECT {_COLS} FROM messages WHERE user_id = ? AND conversation_id = ? "
            "AND expires_at > ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (user_id, conversation_id, now, n),
        ).fetchall()
        return [_row(r) for r in reversed(rows)]

    def messages(self, user_id: str, conversation_id: str, now: float) -> list[SealedMessage]:
        rows = self.db.execute(
            f"SELECT {_COLS} FROM messages WHERE user_id = ? AND conversation_id = ? "
            "AND expires_at > ? ORDER BY created_at, rowid",
            (user_id, conversation_id, now),
        ).fetchall()
        return [_row(r) for r in rows]

    def conversations(self, user_id: str, now: float, limit: int) -> list[ConversationInfo]:
        rows = self.db.execute(
            "SELECT conversation_id, min(created_at), max(created_at), count(*) FROM messages "
            "WHERE user_id = ? AND expires_at > ? GROUP BY conversation_id "
            "ORDER BY max(created_at) DESC LIMIT ?",
            (user_id, now, limit),
        ).fetchall()
        return [ConversationInfo(r[0], r[1], r[2], r[3]) for r in rows]

    def resolve_conversation(self, user_id: str, id_or_prefix: str, now: float) -> list[str]:
        if not id_or_prefix or not id_or_prefix.isascii():  # ids are generated ASCII
            return []
        upper = id_or_prefix[:-1] + chr(ord(id_or_prefix[-1]) + 1)
        rows = self.db.execute(
            "SELECT DISTINCT conversation_id FROM messages WHERE user_id = ? "
            "AND conversation_id >= ? AND conversation_id < ? AND expires_at > ? LIMIT 10",
            (user_id, id_or_prefix, upper, now),
        ).fetchall()
        ids = [r[0] for r in rows]
        return [id_or_prefix] if id_or_prefix in ids else ids

    def delete_conversation(self, user_id: str, conversation_id: str) -> bool:
        with self.db.transaction():
            return bool(self.db.execute(
                "DELETE FROM messages WHERE user_id = ? AND conversation_id = ?",
                (user_id, conversation_id),
            ).rowcount)

    def purge_expired(self, user_id: str, now: float) -> int:
        with self.db.transaction():
            return self.db.execute(
                "DELETE FROM messages WHERE user_id = ? AND expires_at <= ?", (user_id, now)
            ).rowcount
