"""The master key file of the local home, and its passphrase-wrapped backup."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pai_cli.errors import ConfigError, InputError

PREFIX = "pai-master-key-v1:"
BACKUP_FORMAT = "pai-key-backup-v1"
# scrypt at n=2^17, r=8 costs ~128 MiB and ~0.3 s: cheap once, dear for a guesser.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1


def fingerprint(master: bytes) -> str:
    return hmac.new(master, b"pai-master-key-check", hashlib.sha256).hexdigest()[:16]


def read_key(path: Path) -> bytes | None:
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="ascii").strip()
        if not text.startswith(PREFIX):
            raise ValueError
        key = base64.b64decode(text[len(PREFIX):], validate=True)
        if len(key) != 32:
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(
            f"The master key file {path} is damaged: restore it with `pai key restore FILE`."
        ) from None
    except OSError as e:
        raise ConfigError(f"Cannot read the master key file {path}: {e.strerror}.") from None
    return key


def _temp_with(path: Path, key: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(PREFIX + base64.b64encode(key).decode("ascii") + "\n")
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_key(path: Path, key: bytes) -> None:
    """Replace the key file: a private temp file (0600 from the start), then a rename."""
    tmp = _temp_with(path, key)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def create_key(path: Path, key: bytes) -> bool:
    """Publish a new key only if none exists (a hard link fails if the name is taken), so
    two first runs can never leave different keys behind. False if another one won."""
    tmp = _temp_with(path, key)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)
    return True


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the key file, held while the key is made or checked."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def new_key() -> bytes:
    return os.urandom(32)


def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def backup(key: bytes, passphrase: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(passphrase) < 8:
        raise InputError("The passphrase is too short: use at least 8 characters.")
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _scrypt(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    wrapped = AESGCM(kek).encrypt(nonce, key, BACKUP_FORMAT.encode())
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return json.dumps({
        "format": BACKUP_FORMAT,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": b64(salt)},
        "cipher": "AES-256-GCM",
        "nonce": b64(nonce),
        "wrapped_key": b64(wrapped),
        "fingerprint": fingerprint(key),
    }, indent=2) + "\n"


def restore(document: str, passphrase: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        doc = json.loads(document)
        if doc.get("format") != BACKUP_FORMAT:
            raise ValueError
        kdf = doc["kdf"]
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(doc["nonce"])
        wrapped = base64.b64decode(doc["wrapped_key"])
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InputError("That file is not a pai key backup (made by `pai key backup`).") from None
    try:
        key = AESGCM(_scrypt(passphrase, salt, n, r, p)).decrypt(
            nonce, wrapped, BACKUP_FORMAT.encode()
        )
    except InvalidTag:
        raise InputError("Wrong passphrase for this key backup: try again.") from None
    return key
