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
# What a backup may ask for, checked before anything is allocated: a document is untrusted
# input, and n=2^30 would ask for a terabyte (p=0 or n=3 make the library raise).
SCRYPT_N_RANGE, SCRYPT_R_MAX, SCRYPT_P_MAX = (2**14, 2**20), 32, 16
SCRYPT_MEMORY_MAX = 1 << 30  # bytes: scrypt needs 128 * n * r


def fingerprint(master: bytes) -> str:
    return hmac.new(master, b"pai-master-key-check", hashlib.sha256).hexdigest()[:16]


def loose_permissions(path: Path) -> str | None:
    """A warning when others may read or change the key file (as ssh says of a private key);
    None when only its owner can."""
    import stat

    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if os.name != "posix" or not mode & 0o077:
        return None
    return (f"the master key file {path} is open to other users (mode {mode:04o}): whoever can "
            f"read it can read your memories. Fix it with `chmod 600 {path}`.")


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
    """An exclusive lock beside the key file, held while the key is made or checked.

    In a folder pai may not write (a read-only home) there is no lock to take, and none is
    needed: no key can be made there, so an existing key is only read."""
    import errno
    import fcntl

    fd = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not path.exists():
            raise ConfigError(
                f"Cannot use the master key folder {path.parent} ({e.strerror}): set PAI_HOME "
                "(or PAI_MASTER_KEY_FILE) to a place you can write.") from None
    if fd is None:
        yield
        return
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
        if kdf.get("name", "scrypt") != "scrypt" or len(salt) < 16 or len(nonce) != 12:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        raise InputError("That file is not a pai key backup (made by `pai key backup`).") from None
    if not (SCRYPT_N_RANGE[0] <= n <= SCRYPT_N_RANGE[1] and n & (n - 1) == 0
            and 1 <= r <= SCRYPT_R_MAX and 1 <= p <= SCRYPT_P_MAX
            and 128 * n * r <= SCRYPT_MEMORY_MAX):
        raise InputError(
            f"This key backup asks for scrypt parameters pai does not accept (n={n}, r={r}, "
            f"p={p}): it was not made by `pai key backup`, or it was altered."
        )
    try:
        key = AESGCM(_scrypt(passphrase, salt, n, r, p)).decrypt(
            nonce, wrapped, BACKUP_FORMAT.encode()
        )
    except InvalidTag:
        raise InputError("Wrong passphrase for this key backup: try again.") from None
    if len(key) != 32:
        raise InputError("That key backup does not hold a pai master key.")
    return key
