"""The AWS home's key wrapper: KMS GenerateDataKey and Decrypt with an encryption context.

The record format, sealing and blinding are the shared envelope module's. One
GenerateDataKey per (user, purpose) and session, its encryption context naming both (a KMS
context is fixed when the data key is made). The wrapped key travels in every record, so
reading needs one Decrypt per distinct wrapped key, cached for the session by the envelope
cipher; never one KMS call per message."""

from __future__ import annotations

from pai_cli.backends.aws.session import Aws, call, reraise
from pai_cli.backends.envelope import EnvelopeCipher, KeyMismatch


def context(user_id: str, purpose: str) -> dict[str, str]:
    return {"pai:user": user_id, "pai:purpose": purpose}


class KmsKeyWrapper:
    # A new data key every session: fine while the AWS home stores no blinded terms (its store
    # has no keyword search). A keyword index there needs an index key that is the same in
    # every session (e.g. one wrapped key per user kept in the memories table), or stored
    # tokens stop matching.
    durable = False

    def __init__(self, aws: Aws, key_id: str, env: str = "dev") -> None:
        self.aws = aws
        self.key_id = key_id
        self.env = env
        self.calls = 0

    def data_key(self, user_id: str, purpose: str) -> tuple[bytes, bytes]:
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

    def __init__(self, aws: Aws, key_id: str, env: str = "dev") -> None:
        self.kms = KmsKeyWrapper(aws, key_id, env)
        super().__init__(self.kms)

    @property
    def kms_calls(self) -> int:
        return self.kms.calls
