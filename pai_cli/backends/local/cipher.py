"""The local home's key wrapper: per-user data keys wrapped by the master key file.

The record format, sealing and blinding are the shared envelope module's; this module only
keeps one data key per (user, purpose) in the `data_keys` table, wrapped with AES-256-GCM
under the master key, so every session of a home seals with the same keys (blinded terms
stored in FTS must keep matching)."""

from __future__ import annotations

import os
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pai_cli.backends.envelope import EnvelopeCipher, KeyMismatch, aad
from pai_cli.backends.local.db import Database
from pai_cli.errors import ConfigError


class KeyFileWrapper:
    durable = True

    def __init__(self, db: Database, master: bytes, key_path: str = "the master key") -> None:
        self.db = db
        self._master = AESGCM(master)
        self._key_path = key_path

    def _stored(self, user_id: str, purpose: str) -> bytes | None:
        row = self.db.execute(
            "SELECT wrapped FROM data_keys WHERE user_id = ? AND purpose = ?", (user_id, purpose)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def data_key(self, user_id: str, purpose: str) -> tuple[bytes, bytes]:
        wrapped = self._stored(user_id, purpose)
        if wrapped is None:
            fresh = os.urandom(32)
            nonce = os.urandom(12)
            made = nonce + self._master.encrypt(nonce, fresh, aad("data-key", user_id, purpose))
            with self.db.transaction():
                self.db.execute(
                    "INSERT OR IGNORE INTO data_keys (user_id, purpose, wrapped, created_at) "
                    "VALUES (?, ?, ?, ?)", (user_id, purpose, made, time.time()),
                )
                # Another process may have won the race: use whatever is stored.
                wrapped = self._stored(user_id, purpose)
            assert wrapped is not None
        try:
            return self.unwrap(user_id, purpose, wrapped), wrapped
        except KeyMismatch:
            # A key of the database's own table that does not open: the master key is not
            # the one this database was made with.
            raise ConfigError(
                f"{self._key_path} does not open this database's keys (wrong master key): "
                "restore the right one with `pai key restore FILE`."
            ) from None

    def unwrap(self, user_id: str, purpose: str, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(wrapped[:12], wrapped[12:], aad("data-key", user_id,
                                                                         purpose))
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
            raise KeyMismatch from None


class LocalCipher(EnvelopeCipher):
    """The envelope cipher with the master key file as its wrapper."""

    def __init__(self, db: Database, master: bytes, key_path: str = "the master key") -> None:
        super().__init__(KeyFileWrapper(db, master, key_path))
