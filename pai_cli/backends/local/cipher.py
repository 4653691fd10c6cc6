"""Envelope encryption for the local home: per-user data keys wrapped by the master key."""

from __future__ import annotations

import base64
import hmac
import os
import time
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pai_cli.backends.local.db import Database
from pai_cli.errors import BackendError, ConfigError

VERSION = b"\x01"
CONTENT, INDEX = "content", "index"


def _aad(*parts: str) -> bytes:
    # A separator no id can contain, so ("a", "bc") and ("ab", "c") never collide.
    return "\x1f".join(("pai-v1", *parts)).encode("utf-8")


class LocalCipher:
    """AES-256-GCM per record with (user, kind, record id) as associated data, so a
    ciphertext copied onto another record or another user's row fails to open."""

    def __init__(self, db: Database, master: bytes, key_path: str = "the master key") -> None:
        self.db = db
        self._master = AESGCM(master)
        self._key_path = key_path
        self._keys: dict[tuple[str, str], bytes] = {}
        self._aead: dict[str, AESGCM] = {}
        self._blinded: dict[str, dict[str, str]] = {}

    def _data_key(self, user_id: str, purpose: str) -> bytes:
        cached = self._keys.get((user_id, purpose))
        if cached is not None:
            return cached
        aad = _aad("data-key", user_id, purpose)
        row = self.db.execute(
            "SELECT wrapped FROM data_keys WHERE user_id = ? AND purpose = ?", (user_id, purpose)
        ).fetchone()
        if row is None:
            fresh = os.urandom(32)
            nonce = os.urandom(12)
            wrapped = nonce + self._master.encrypt(nonce, fresh, aad)
            with self.db.transaction():
                self.db.execute(
                    "INSERT OR IGNORE INTO data_keys (user_id, purpose, wrapped, created_at) "
                    "VALUES (?, ?, ?, ?)", (user_id, purpose, wrapped, time.time()),
                )
                # Another process may have won the race: use whatever is stored.
                row = self.db.execute(
                    "SELECT wrapped FROM data_keys WHERE user_id = ? AND purpose = ?",
                    (user_id, purpose),
                ).fetchone()
        blob = bytes(row[0])
        try:
            key = self._master.decrypt(blob[:12], blob[12:], aad)
        except InvalidTag:
            raise ConfigError(
                f"{self._key_path} does not open this database's keys (wrong master key): "
                "restore the right one with `pai key restore FILE`."
            ) from None
        self._keys[(user_id, purpose)] = key
        return key

    def _content_aead(self, user_id: str) -> AESGCM:
        aead = self._aead.get(user_id)
        if aead is None:
            aead = self._aead[user_id] = AESGCM(self._data_key(user_id, CONTENT))
        return aead

    def seal(self, user_id: str, kind: str, record_id: str, plaintext: str) -> bytes:
        nonce = os.urandom(12)
        ct = self._content_aead(user_id).encrypt(
            nonce, plaintext.encode("utf-8"), _aad(user_id, kind, record_id)
        )
        return VERSION + nonce + ct

    def open(self, user_id: str, kind: str, record_id: str, blob: bytes) -> str:
        blob = bytes(blob)
        if blob[:1] != VERSION:
            raise BackendError(f"{kind} {record_id} has an unknown encryption format.")
        try:
            pt = self._content_aead(user_id).decrypt(
                blob[1:13], blob[13:], _aad(user_id, kind, record_id)
            )
        except InvalidTag:
            raise BackendError(
                f"{kind} {record_id} could not be decrypted: it was altered or moved from "
                "another record."
            ) from None
        return pt.decode("utf-8")

    def blind(self, user_id: str, terms: Iterable[str]) -> list[str]:
        key = self._data_key(user_id, INDEX)
        # Words repeat a lot across memories: hashing each once was ~40% of import time.
        cache = self._blinded.setdefault(user_id, {})
        out = []
        for term in terms:
            token = cache.get(term)
            if token is None:
                digest = hmac.digest(key, term.encode("utf-8"), "sha256")[:10]
                token = "t" + base64.b32encode(digest).decode("ascii").lower()
                if len(cache) < 200_000:
                    cache[term] = token
            out.append(token)
        return out
