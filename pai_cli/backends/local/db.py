"""The one SQLite file of the local home: WAL, migrations, transactions, error translation."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pai_cli.backends.local.migrations import MIGRATIONS
from pai_cli.errors import BackendError, ConfigError, PaiError


class Database:
    def __init__(self, path: Path, timeout_s: float = 15.0) -> None:
        """timeout_s: how long a writer waits for another one before giving up ("database
        is locked"); PAI_DB_TIMEOUT through Settings.db_timeout.

        A database pai may not write (its file or folder read-only, a read-only mount) is
        opened read-only: commands that only read work, and a write fails with the
        read-only error, not with the lock file that could not be made."""
        self.path = path
        self._depth = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            exists = path.exists()
            self.was_empty = exists and path.stat().st_size == 0
            """A zero-byte file where a database was: it is set up as a new, empty store
            (master_key.py says so when a key is already there: a database was likely lost)."""
        except OSError as e:
            raise ConfigError(
                f"Cannot use the pai data folder {path.parent} ({e.strerror}): check its "
                "permissions, or set PAI_HOME to a folder you can write."
            ) from None
        self.read_only = exists and not (os.access(path, os.W_OK)
                                         and os.access(path.parent, os.W_OK))
        try:
            if self.read_only:
                self._open_read_only(timeout_s)
                return
            try:
                lock = _lock_file(path)
            except OSError as e:
                if not exists or e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise ConfigError(
                        f"Cannot use the pai data folder {path.parent} ({e.strerror}): check "
                        "its permissions, or set PAI_HOME to a folder you can write."
                    ) from None
                self.read_only = True
                self._open_read_only(timeout_s)
                return
            try:
                # Switching a new file to WAL and migrating take locks SQLite's busy handler
                # does not always wait for: processes opening the database at once take turns.
                fcntl.flock(lock, fcntl.LOCK_EX)
                fresh = not exists
                timeout_ms = max(0, int(timeout_s * 1000))
                self.conn = sqlite3.connect(
                    path, isolation_level=None, timeout=timeout_ms / 1000,
                    check_same_thread=False,
                )
                if fresh:
                    os.chmod(path, 0o600)
                self.conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    raise BackendError(f"Could not switch {path} to WAL mode (got {mode}).")
                # FULL: a commit that pai reported is on disk even after a power cut.
                self.conn.execute("PRAGMA synchronous = FULL")
                # Forgotten rows are overwritten, not left in free pages (off by default in
                # many SQLite builds, e.g. macOS's and python.org's).
                self.conn.execute("PRAGMA secure_delete = ON")
                self._migrate()
            finally:
                os.close(lock)
        except sqlite3.Error as e:
            raise translate(e, path) from e

    def _open_read_only(self, timeout_s: float) -> None:
        """mode=ro first; a WAL database in a folder where SQLite cannot make its -shm file
        opens only as immutable (nothing can write there, so nothing changes under it)."""
        from urllib.parse import quote

        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        for extra in ("", "&immutable=1"):
            self.conn = sqlite3.connect(uri + extra, uri=True, isolation_level=None,
                                        timeout=timeout_s, check_same_thread=False)
            try:
                self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                break
            except sqlite3.OperationalError:
                self.conn.close()
                if extra:
                    raise
        applied = set()
        if self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                             "name='migrations'").fetchone():
            applied = {r[0] for r in self.conn.execute("SELECT name FROM migrations")}
        if any(name not in applied for name, _ in MIGRATIONS):
            raise BackendError(
                f"The pai database at {self.path} is read-only and was made by an older pai: "
                "open it once where pai can write it (it is upgraded then)."
            )

    def close(self) -> None:
        # Keeps the planner's statistics fresh after a command that wrote. Not after one
        # that only read: SQLite (3.40 here) re-ran ANALYZE of the memories table on every
        # `pai search` (~20-45 ms at 10k), a write in a read-only command. analysis_limit
        # bounds the ANALYZE it runs to a sample, as SQLite advises for optimize.
        try:  # (closing twice is allowed: a closed connection raises ProgrammingError)
            if self.conn.total_changes and not self.read_only:
                self.conn.execute("PRAGMA analysis_limit = 400")
                self.conn.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass
        self.conn.close()

    def _migrate(self) -> None:
        applied = set()
        has_table = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='migrations'"
        ).fetchone()
        if has_table:
            applied = {r[0] for r in self.conn.execute("SELECT name FROM migrations")}
        pending = [(n, sql) for n, sql in MIGRATIONS if n not in applied]
        if not pending:
            return
        with self.transaction():
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL)"
            )
            applied = {r[0] for r in self.conn.execute("SELECT name FROM migrations")}
            for name, sql in MIGRATIONS:
                if name in applied:
                    continue
                for statement in _statements(sql):
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
                )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE takes the write lock up front, so two writers queue on
        busy_timeout instead of failing with 'database is locked' on lock upgrade."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (disk full, I/O error): do not let a
            # failing ROLLBACK hide the error that matters.
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def execute(self, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: list) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)


def _lock_file(path: Path) -> int:
    """The file whose lock processes opening the database take turns on."""
    return os.open(path.with_name(f".{path.name}.open-lock"), os.O_WRONLY | os.O_CREAT, 0o600)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def translate(exc: BaseException, path: Path | None) -> PaiError | None:
    """A one-line, actionable error for what SQLite raised; None if it is not SQLite's."""
    if not isinstance(exc, sqlite3.Error):
        return None
    where = f" at {path}" if path else ""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return BackendError(
            f"The pai database{where} is locked by another program: close other pai "
            "sessions (or the program holding it) and try again."
        )
    if "readonly" in text or "read-only" in text:
        return BackendError(
            f"The pai database{where} is read-only: check the permissions of the file and "
            "its folder (pai needs to write there)."
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return BackendError(
            f"The pai database{where} is corrupted: move it aside and restore it from a "
            "backup, or run `pai memory import` of an export into a fresh PAI_HOME."
        )
    if "unable to open" in text:
        return BackendError(
            f"Cannot open the pai database{where}: check that the folder exists and is "
            "writable, or set PAI_HOME to another folder."
        )
    if "disk" in text and "full" in text:
        return BackendError(f"The disk holding the pai database{where} is full: free space.")
    return BackendError(f"The pai database{where} failed: {exc}.")
