"""The REPL's input history, encrypted like every other text pai writes."""

from __future__ import annotations

from collections.abc import Iterator

from pai_cli.backends.local.db import Database
from pai_cli.ports import Cipher

KIND = "input"
KEEP = 1000


class EncryptedInputHistory:
    def __init__(self, db: Database, cipher: Cipher, user_id: str) -> None:
        self.db = db
        self.cipher = cipher
        self.user_id = user_id

    def load(self) -> Iterator[str]:
        """Newest first, as prompt-toolkit's History.load_history_strings expects."""
        rows = self.db.execute(
            "SELECT id, entry FROM input_history WHERE user_id = ? ORDER BY id DESC LIMIT ?",
            (self.user_id, KEEP),
        ).fetchall()
        for row_id, blob in rows:
            yield self.cipher.open(self.user_id, KIND, str(row_id), bytes(blob))

    def append(self, entry: str) -> None:
        with self.db.transaction():
            row_id = (self.db.execute("SELECT coalesce(max(id), 0) + 1 FROM input_history")
                      .fetchone()[0])
            self.db.execute(
                "INSERT INTO input_history (id, user_id, entry) VALUES (?, ?, ?)",
                (row_id, self.user_id, self.cipher.seal(self.user_id, KIND, str(row_id), entry)),
            )
            self.db.execute(
                "DELETE FROM input_history WHERE user_id = ? AND id <= "
                "(SELECT coalesce(max(id), 0) - ? FROM input_history WHERE user_id = ?)",
                (self.user_id, KEEP, self.user_id),
            )
