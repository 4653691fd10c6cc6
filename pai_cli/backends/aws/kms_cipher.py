"""Envelope encryption with KMS as the key wrapper, in the local home's record format.

One GenerateDataKey per (user, purpose) and session, its encryption context naming both
(a KMS context is fixed when the data key is made). The wrapped key travels in every
record, so reading needs one Decrypt per distinct wrapped key, cached for the session;
never one KMS call per message."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pai_cli.backends.aws.session import Aws, call, reraise
from pai_cli.backends.local.cipher import CONTENT, INDEX, _aad
from pai_cli.errors import BackendError

VERSION = b"\x02"  # local records are \x01: the key is wrapped by KMS, not a key file


def context(user_id: str, purpose: str) -> dict[str, str]:
    return {"pai:user": user_id, "pai:purpose": purpose}


class KmsCipher:
    def __init__(self, aws: Aws, key_id: str, env: str = "dev") -> None:
        self.aws = aws
        self.key_id = key_id
        self.env = env
        self._current: dict[tuple[str, str], tuple[bytes, bytes]] = {}  # -> (plain, wrapped)
        self._opened: dict[bytes, bytes] = {}  # wrapped -> plain
        self.kms_calls = 0

    def _data_key(self, user_id: str, purpose: str) -> tuple[bytes, bytes]:
        cached = self._current.get((user_id, purpose))
        if cached is None:
            self.kms_calls += 1
            out = call(lambda: self.aws.client("kms").generate_data_key(
                KeyId=self.key_id, KeySpec="AES_256",
                EncryptionContext=context(user_id, purpose)), f"KMS key {self.key_id}", self.env)
            cached = (out["Plaintext"], out["CiphertextBlob"])
            self._current[(user_id, purpose)] = cached
            self._opened[cached[1]] = cached[0]
        return cached

    def _unwrap(self, user_id: str, purpose: str, wrapped: bytes) -> bytes:
        plain = self._opened.get(wrapped)
        if plain is None:
            from botocore.exceptions import ClientError

            self.kms_calls += 1
            try:
                out = self.aws.client("kms").decrypt(
                    CiphertextBlob=wrapped, EncryptionContext=context(user_id, purpose))
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") == "InvalidCiphertextException":
                    raise BackendError(
                        "A record's data key does not belong to this user or purpose: it was "
                        "moved from another record."
                    ) from None
                reraise(e, f"KMS key {self.key_id}", self.env)
            plain = out["Plaintext"]
            self._opened[wrapped] = plain
        return plain

    def seal(self, user_id: str, kind: str, record_id: str, plaintext: str) -> bytes:
        key, wrapped = self._data_key(user_id, CONTENT)
        nonce = os.urandom(12)
        ct = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), _aad(user_id, kind, record_id))
        return VERSION + struct.pack("!H", len(wrapped)) + wrapped + nonce + ct

    def open(self, user_id: str, kind: str, record_id: str, blob: bytes) -> str:
        blob = bytes(blob)
        if blob[:1] != VERSION or len(blob) < 3:
            raise BackendError(f"{kind} {record_id} has an unknown encryption format.")
        (n,) = struct.unpack("!H", blob[1:3])
        wrapped, rest = blob[3:3 + n], blob[3 + n:]
        key = self._unwrap(user_id, CONTENT, wrapped)
        try:
            pt = AESGCM(key).decrypt(rest[:12], rest[12:], _aad(user_id, kind, record_id))
        except InvalidTag:
            raise BackendError(f"{kind} {record_id} could not be decrypted: it was altered or "
                               "moved from another record.") from None
        return pt.decode("utf-8")

    def blind(self, user_id: str, terms: Iterable[str]) -> list[str]:
        # The AWS home keeps no keyword index (vector documents hold no terms), so blinded
        # terms are never stored and a per-session key is enough.
        key = self._data_key(user_id, INDEX)[0]
        return ["t" + hmac.new(key, t.encode("utf-8"), hashlib.sha256).hexdigest()[:20]
                for t in terms]
