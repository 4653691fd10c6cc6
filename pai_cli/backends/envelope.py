"""The one record format of both homes: envelope encryption with AES-256-GCM.

A data key per (user, purpose) encrypts records; a key wrapper holds the master key and
wraps the data keys: the local key file (`backends/local/cipher.py`) or KMS
(`backends/aws/kms_cipher.py`). Every record written is

    0x02 | len(wrapped): u16 big-endian | wrapped data key | nonce (12) | ciphertext + tag (16)

with associated data "pai-v1" 0x1f user id 0x1f record kind 0x1f record id, so a ciphertext
copied onto another record, another kind or another user's row fails to open.

Why every record carries its wrapped key, rather than one version byte with a reference to
a key table:
- It is already the KMS format (KMS has no key table: a reference would need a new DynamoDB
  table and a read of it on every cold start), so the AWS home's records stay as they are and
  both homes write one format.
- A record opens with the wrapper alone: no lookup that could point at the wrong row, and a
  new data key (a rotated master key, a KMS session) changes only the records written with
  it, because each record names its own key.
- It costs 62 bytes a record in the local home (a 60-byte wrapped key and its length): ~6 MB
  per 100k memories, next to the 512-byte vector each memory has anyway. Sealing and opening
  stay one dictionary lookup and one AES-GCM call.
A wrapped key moved from another user's record does not unwrap (the key file binds user and
purpose as associated data, KMS as encryption context); within one user, the record's
associated data is what makes a moved ciphertext fail.

Read but no longer written, kept so existing data keeps opening:
- 0x01 (the local home before this format): nonce | ciphertext + tag, sealed with the data key
  the key file's table keeps for (user, "content"); same associated data. `pai memory
  reindex` and every edit rewrite memories as 0x02; messages, jobs and input history are
  never rewritten and open as they are until they expire or are trimmed.
0x02 records the KMS home wrote before this module are byte for byte the format above.

Blinding (keyword-index tokens) keeps the local home's format, since local stores hold
blinded terms in FTS and must keep matching them: HMAC-SHA-256 under the user's "index" data
key, truncated to 80 bits, base32. Stored tokens must keep matching the next session's
queries, so the blinding key is the same in every session: the key file keeps it locally, and
the AWS home makes it once per user with KMS and keeps it wrapped beside the user's postings
(backends/aws/term_index.py), while content keys there are new each session.
"""

from __future__ import annotations

import base64
import hmac
import os
import struct
from collections.abc import Iterable
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pai_cli.errors import UnreadableRecord

VERSION = b"\x02"
LEGACY_LOCAL = b"\x01"
CONTENT, INDEX = "content", "index"
NONCE, TAG = 12, 16
# Words repeat a lot across memories: hashing each once was ~40% of import time. Bounded so
# a huge import cannot grow it without end.
BLIND_CACHE = 200_000


def aad(*parts: str) -> bytes:
    # A separator no id can contain, so ("a", "bc") and ("ab", "c") never collide.
    return "\x1f".join(("pai-v1", *parts)).encode("utf-8")


class KeyMismatch(Exception):
    """A wrapped data key that was not made for this (user, purpose) by this wrapper."""


class KeyWrapper(Protocol):
    """Makes and unwraps data keys; the master key never leaves it."""

    durable: bool
    """True when data_key gives the same key for (user, purpose) in every session (a key kept
    in a table); False when each session gets a new one (KMS GenerateDataKey)."""

    def data_key(self, user_id: str, purpose: str) -> tuple[bytes, bytes]:
        """(plaintext key, wrapped key) to seal with now; called once per (user, purpose) and
        session."""
        ...

    def unwrap(self, user_id: str, purpose: str, wrapped: bytes) -> bytes:
        """The plaintext of a wrapped key; KeyMismatch when it is not (user, purpose)'s. Called
        once per distinct wrapped key and session."""
        ...


class EnvelopeCipher:
    """The port's Cipher over a key wrapper: seal, open and blind for both homes."""

    def __init__(self, wrapper: KeyWrapper) -> None:
        self.wrapper = wrapper
        self._current: dict[tuple[str, str], tuple[bytes, bytes, AESGCM]] = {}  # -> key, header
        self._opened: dict[tuple[str, str, bytes], AESGCM] = {}
        self._blinded: dict[str, dict[str, str]] = {}

    def _sealing_key(self, user_id: str, purpose: str) -> tuple[bytes, bytes, AESGCM]:
        current = self._current.get((user_id, purpose))
        if current is None:
            plain, wrapped = self.wrapper.data_key(user_id, purpose)
            header = VERSION + struct.pack("!H", len(wrapped)) + wrapped
            current = self._current[(user_id, purpose)] = (plain, header, AESGCM(plain))
            self._opened[(user_id, purpose, wrapped)] = current[2]
        return current

    def _opening_key(self, user_id: str, purpose: str, wrapped: bytes) -> AESGCM:
        aead = self._opened.get((user_id, purpose, wrapped))
        if aead is None:
            aead = AESGCM(self.wrapper.unwrap(user_id, purpose, wrapped))
            self._opened[(user_id, purpose, wrapped)] = aead
        return aead

    def seal(self, user_id: str, kind: str, record_id: str, plaintext: str) -> bytes:
        _, header, aead = self._sealing_key(user_id, CONTENT)
        nonce = os.urandom(NONCE)
        return header + nonce + aead.encrypt(
            nonce, plaintext.encode("utf-8"), aad(user_id, kind, record_id)
        )

    def open(self, user_id: str, kind: str, record_id: str, blob: bytes) -> str:
        blob = bytes(blob)
        version = blob[:1]
        if version == VERSION and len(blob) >= 3:
            start = 3 + struct.unpack_from("!H", blob, 1)[0]
        elif version == LEGACY_LOCAL and self.wrapper.durable:
            start = 1
        else:
            raise UnreadableRecord(f"{kind} {record_id} has an unknown encryption format.")
        if len(blob) < start + NONCE + TAG:
            raise _moved(kind, record_id)
        if start == 1:
            aead = self._sealing_key(user_id, CONTENT)[2]
        else:
            try:
                aead = self._opening_key(user_id, CONTENT, blob[3:start])
            except KeyMismatch:
                raise _moved(kind, record_id) from None
        try:
            pt = aead.decrypt(
                blob[start:start + NONCE], blob[start + NONCE:], aad(user_id, kind, record_id)
            )
        except InvalidTag:
            raise _moved(kind, record_id) from None
        return pt.decode("utf-8")

    def blind(self, user_id: str, terms: Iterable[str]) -> list[str]:
        key = self._sealing_key(user_id, INDEX)[0]
        cache = self._blinded.setdefault(user_id, {})
        out = []
        for term in terms:
            token = cache.get(term)
            if token is None:
                digest = hmac.digest(key, term.encode("utf-8"), "sha256")[:10]
                token = "t" + base64.b32encode(digest).decode("ascii").lower()
                if len(cache) < BLIND_CACHE:
                    cache[term] = token
            out.append(token)
        return out


def _moved(kind: str, record_id: str) -> UnreadableRecord:
    return UnreadableRecord(
        f"{kind} {record_id} could not be decrypted: it was altered or moved from another record."
    )
