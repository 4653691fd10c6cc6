"""The AWS home's key wrapper: KMS GenerateDataKey and Decrypt with an encryption context.

The record format, sealing and blinding are the shared envelope module's. One
GenerateDataKey per (user, purpose) and session, its encryption context naming both (a KMS
context is fixed when the data key is made); the blinding key alone is made once per user
and kept wrapped beside the user's postings, since stored tokens must keep matching. The
wrapped key travels in every record, so reading needs one Decrypt per distinct wrapped key,
cached for the session by the envelope cipher; never one KMS call per message."""

from __future__ import annotations

from typing import Protocol

from pai_cli.backends.aws.session import Aws, call, reraise
from pai_cli.backends.envelope import INDEX, EnvelopeCipher, KeyMismatch


def context(user_id: str, purpose: str) -> dict[str, str]:
    return {"pai:user": user_id, "pai:purpose": purpose}


class KeptKeys(Protocol):
    """Where a user's wrapped blinding key is kept (backends/aws/term_index.py)."""

    def kept_key(self, user_id: str) -> bytes | None: ...
    def keep_key(self, user_id: str, wrapped: bytes, replace: bytes | None = None) -> bytes:
        """Keeps it unless one is kept already (or in place of `replace`, if that is still
        the one kept); returns the one kept."""
        ...


class KmsKeyWrapper:
    # Content keys are new every session (each record names its own). The blinding ("index")
    # key must be the same in every session, or stored tokens stop matching the queries: it is
    # made once per user and kept wrapped (`kept`), and each session unwraps it.
    durable = False

    def __init__(self, aws: Aws, key_id: str, env: str = "dev",
                 kept: KeptKeys | None = None) -> None:
        self.aws = aws
        self.key_id = key_id
        self.env = env
        self.kept = kept
        self.calls = 0

    def data_key(self, user_id: str, purpose: str) -> tuple[bytes, bytes]:
        if purpose == INDEX and self.kept is not None:
            wrapped = self.kept.kept_key(user_id)
            if wrapped is None:
                plain, made = self._generate(user_id, purpose)
                wrapped = self.kept.keep_key(user_id, made)
                if wrapped == made:
                    return plain, made
            try:
                return self.unwrap(user_id, purpose, wrapped), wrapped
            except KeyMismatch:
                # Not this KMS key's (a table restored into another account or key): the
                # tokens made with it can never be matched again, so a new key replaces it
                # and `pai memory reindex` re-blinds what was stored with the old one.
                plain, made = self._generate(user_id, purpose)
                kept = self.kept.keep_key(user_id, made, replace=wrapped)
                if kept == made:
                    return plain, made
                return self.unwrap(user_id, purpose, kept), kept  # another session's new one
        return self._generate(user_id, purpose)

    def _generate(self, user_id: str, purpose: str) -> tuple[bytes, bytes]:
        self.calls += 1
        out = call(lambda: self.aws.client("kms").generate_data_key(
            KeyId=self.key_id, KeySpec="AES_256",
            EncryptionContext=context(user_id, purpose)), f"KMS key {self.key_id}", self.env)
        return out["Plaintext"], out["CiphertextBlob"]

    def unwrap(self, user_id: str, purpose: str, wrapped: bytes) -> bytes:
        from botocore.exceptions import ClientError

        self.calls += 1
        try:
            out = self.aws.client("kms").decrypt(
                CiphertextBlob=wrapped, EncryptionContext=context(user_id, purpose))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "InvalidCiphertextException":
                raise KeyMismatch from None
            reraise(e, f"KMS key {self.key_id}", self.env)
        return out["Plaintext"]


class KmsCipher(EnvelopeCipher):
    """The envelope cipher with KMS as its wrapper."""

    def __init__(self, aws: Aws, key_id: str, env: str = "dev",
                 kept: KeptKeys | None = None) -> None:
        self.kms = KmsKeyWrapper(aws, key_id, env, kept)
        super().__init__(self.kms)

    @property
    def kms_calls(self) -> int:
        return self.kms.calls
