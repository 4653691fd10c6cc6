"""The master key of a local home: made on first use, checked against its database, and
what `pai key` does with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pai_cli.backends.local import keyfile
from pai_cli.errors import ConfigError

if TYPE_CHECKING:
    from pai_cli.backends.local.db import Database


def open_master_key(path: Path, db: Database) -> tuple[bytes, str | None]:
    """The master key at path, and a notice for the user: it was just made, the database
    beside it was an empty file, or others may read it.

    A missing key is made only while the database holds no encrypted data (else losing the
    key would silently start a second one); the key's fingerprint is recorded in the
    database on first use and must match after."""
    notice = None
    # One process at a time makes or checks the key: two first runs at once must not each
    # encrypt with a key of their own.
    with keyfile.locked(path):
        key = keyfile.read_key(path)
        if key is not None and db.was_empty:
            # An empty file beside a key that exists: most likely a database that was lost
            # or truncated, not a first run. The new store is empty; say so once.
            notice = (
                f"{db.path} was an empty file, though a master key exists at {path}: pai "
                "set it up as a new, empty store. If you had memories, that database was "
                "lost: restore it from a backup, or `pai memory import` an export."
            )
        if key is None:
            if db.execute("SELECT 1 FROM data_keys LIMIT 1").fetchone():
                raise ConfigError(
                    f"The master key is missing (expected at {path}) but this database "
                    "holds encrypted data: restore it with `pai key restore FILE`."
                )
            if keyfile.create_key(path, keyfile.new_key()):
                notice = (
                    f"pai created your master key at {path}. Back it up now with "
                    "`pai key backup FILE`: without it your memories cannot be read."
                )
            key = keyfile.read_key(path)  # ours, or the one a concurrent first run published
            assert key is not None
        actual = keyfile.fingerprint(key)
        stored = _stored_fingerprint(db)
        if stored is None:  # first use: written once, so a read-only home still opens
            with db.transaction():
                db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('master_key_fingerprint', ?)",
                    (actual,),
                )
                stored = _stored_fingerprint(db)
    if stored != actual:
        raise ConfigError(
            f"The master key at {path} is not the one this database was encrypted with: "
            "restore the right key with `pai key restore FILE`."
        )
    return key, notice or keyfile.loose_permissions(path)


def _stored_fingerprint(db: Database) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = 'master_key_fingerprint'").fetchone()
    return None if row is None else row[0]


class KeyFile:
    """What `pai key backup|restore|path` needs, without the CLI reaching into the home."""

    def __init__(self, path: Path, db: Callable[[], Database],
                 notify: Callable[[str], None]) -> None:
        self.path = path
        self._db = db  # opened only by commands that check the key against it
        self._notify = notify
        self._key: bytes | None = None

    def check(self) -> str:
        """Make the key on first use and check it against the database; its fingerprint."""
        if self._key is None:
            self._key, notice = open_master_key(self.path, self._db())
            if notice:
                self._notify(notice)
        return keyfile.fingerprint(self._key)

    def backup(self, passphrase: str) -> str:
        """The key wrapped under passphrase, as the document `restore` reads."""
        self.check()
        assert self._key is not None
        return keyfile.backup(self._key, passphrase)

    def restore(self, document: str, passphrase: str, force: bool) -> str:
        """Put a backed-up key in place; its fingerprint. A different key already there is
        replaced only with force (data encrypted with it would become unreadable)."""
        key = keyfile.restore(document, passphrase)
        current = keyfile.read_key(self.path)
        if current is not None and current != key and not force:
            raise ConfigError(
                f"A different master key is already at {self.path}: move it aside or pass "
                "--force (data encrypted with it would become unreadable)."
            )
        keyfile.write_key(self.path, key)
        return keyfile.fingerprint(key)
