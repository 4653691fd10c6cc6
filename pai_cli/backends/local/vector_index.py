"""Vectors for the local home: rows in SQLite (the truth) and a usearch HNSW file per user.

The HNSW file is a cache of the `vectors` table, never the other way round. Its name carries
a stamp: the highest row key it holds and a build id that is also written to the database
when the file is made. A query checks the stamp with three indexed lookups:

- rows newer than the stamp are scanned exactly beside the HNSW search (a changed vector
  gets a new key, so an edit is "tombstone the memory's old keys + new rows": a memory
  has a row for its whole text and one per piece, core/pieces.py);
- keys deleted since the build are in `vector_tombstones` and dropped from the hits;
- a file that is damaged, of another dimension, ahead of the database, or whose build id
  the database does not know (a database restored from a backup) is rebuilt.

So a crash can never make search disagree with the store, and no start-up pays for a full
verification. Folding new rows and tombstones into the file (`maintain`) is done by write
commands after their output is shown: incrementally (load, remove, add, save) while the file
is healthy, from scratch when a fifth of it is dead.

This module keeps the rows and decides when to fold; the file itself is hnsw_files, a
query's answer vector_search.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pai_cli.backends.local import hnsw_files
from pai_cli.backends.local.db import Database
from pai_cli.backends.local.hnsw_files import (  # noqa: F401 - importable from here too
    DEAD_REBUILD,
    EXPANSION_MAX,
    HNSW,
    HnswFiles,
    Loaded,
    expansion_for,
)
from pai_cli.backends.local.vector_search import (  # noqa: F401
    KEY_CACHE_MAX,
    SQL_CHUNK,
    View,
    data_stamp,
    read_view,
    search,
)
from pai_cli.ports import Progress

DELTA_FOLD = 2000
"""A write command folds the new rows into the file past this many (exact-scan cost)."""
DELTA_HARD = 20000
"""A query folds them itself past this many: someone kept writing without maintenance."""
DEAD_FOLD = 500


def _as_f16(vec: Any) -> bytes:
    return np.asarray(vec, dtype=np.float16).tobytes()


class UsearchVectorIndex:
    several_per_memory = True
    """A memory's rows share its id (the whole text's vector and its pieces'); a query
    answers with each memory's best row."""

    def __init__(self, db: Database, folder: Path, dim: int) -> None:
        self.db = db
        self.folder = folder
        self.dim = dim
        self.files = HnswFiles(db, folder, dim)
        self._loaded: dict[str, Loaded | None] = {}
        self._views: dict[str, View] = {}
        self._keys: dict[str, dict[int, tuple[str, str]]] = {}

    # -- writes: rows only, inside the caller's transaction -----------------------------
    def upsert(self, user_id: str, items: Sequence[tuple[str, str, Any]]) -> None:
        if not items:
            return
        with self.db.transaction():
            self._drop(user_id, [mid for mid, _, _ in items])
            self.db.executemany(
                "INSERT INTO vectors (memory_id, user_id, category, vec) VALUES (?, ?, ?, ?)",
                [(mid, user_id, cat, _as_f16(vec)) for mid, cat, vec in items],
            )

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> None:
        with self.db.transaction():
            self._drop(user_id, list(memory_ids))

    def delete_user(self, user_id: str) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM vectors WHERE user_id = ?", (user_id,))
            self.db.execute("DELETE FROM vector_tombstones WHERE user_id = ?", (user_id,))
            self.db.execute("DELETE FROM meta WHERE key IN (?, ?)",
                            (hnsw_files.build_key(user_id), hnsw_files.memories_key(user_id)))
        # The file holds the vectors of everything just forgotten: it goes now, not later.
        self._loaded.pop(user_id, None)
        self._views.pop(user_id, None)
        self.files.remove(user_id, keep=None)

    def _drop(self, user_id: str, ids: list[str]) -> None:
        for start in range(0, len(ids), SQL_CHUNK):
            chunk = ids[start:start + SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            keys = self.db.execute(
                f"SELECT key FROM vectors INDEXED BY vectors_user_memory "
                f"WHERE user_id = ? AND memory_id IN ({marks})", (user_id, *chunk),
            ).fetchall()
            if keys:
                self.db.executemany(
                    "INSERT OR IGNORE INTO vector_tombstones (user_id, key) VALUES (?, ?)",
                    [(user_id, k) for (k,) in keys])
                self.db.executemany("DELETE FROM vectors WHERE key = ?", keys)

    # -- state ---------------------------------------------------------------------------
    def count(self, user_id: str) -> int:
        return hnsw_files.count(self.db, user_id)

    def keys_of(self, user_id: str) -> Iterator[str]:
        rows = self.db.execute(
            "SELECT DISTINCT memory_id FROM vectors WHERE user_id = ?", (user_id,)).fetchall()
        return iter([r[0] for r in rows])

    def _current(self, user_id: str) -> Loaded | None:
        loaded, rebuild = self.files.usable(user_id, self._loaded.get(user_id))
        if loaded is None and rebuild and self.count(user_id) > DELTA_HARD:
            loaded = self.files.build(user_id)
        elif loaded is not None and hnsw_files.delta_count(
                self.db, user_id, loaded.max_key, DELTA_HARD) > DELTA_HARD:
            loaded = self.files.fold(user_id, loaded)
        self._loaded[user_id] = loaded
        self._views.pop(user_id, None)
        return loaded

    def _view(self, user_id: str) -> View:
        """The file, its dead-entry count and the rows newer than it: four lookups and a
        scan on the first query after any change, one PRAGMA on the next ones."""
        view = self._views.get(user_id)
        if view is not None and view.stamp == data_stamp(self.db):
            return view
        loaded = self._current(user_id)
        dead = hnsw_files.dead(self.db, user_id, loaded.max_key) if loaded else 0
        view = read_view(self.db, user_id, loaded, dead, self.dim)
        self._views[user_id] = view
        return view

    # -- queries -------------------------------------------------------------------------
    def query(
        self, user_id: str, vector: Any, k: int, category: str | None
    ) -> list[tuple[str, float]]:
        q = np.asarray(vector, dtype=np.float32)
        view = self._view(user_id)
        return search(self.db, user_id, view, self._keys.setdefault(user_id, {}), q, k,
                      category)

    # -- building ------------------------------------------------------------------------
    def maintain(self, user_id: str) -> None:
        """Fold what accumulated since the last build, if enough did. Called by write
        commands after their output, so no query waits for it."""
        loaded, rebuild = self.files.usable(user_id, self._loaded.get(user_id))
        if loaded is None:
            if rebuild and self.count(user_id) > DELTA_FOLD:
                self._loaded[user_id] = self.files.build(user_id)
                self._views.pop(user_id, None)
            return
        delta = hnsw_files.delta_count(self.db, user_id, loaded.max_key, DELTA_FOLD)
        dead = hnsw_files.dead(self.db, user_id, loaded.max_key)
        if delta > DELTA_FOLD or dead > DEAD_FOLD:
            self._loaded[user_id] = self.files.fold(user_id, loaded)
            self._views.pop(user_id, None)

    def compact(self, user_id: str, progress: Progress | None = None) -> None:
        self._loaded[user_id] = self.files.build(user_id, progress)
        self._views.pop(user_id, None)

    def delete_user_files(self, user_id: str) -> None:
        self.files.remove(user_id, keep=None)
