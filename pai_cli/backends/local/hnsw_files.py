"""The usearch HNSW file per user: its name and stamp, whether it still matches the
`vectors` table, and building it (from scratch, or folding new rows and tombstones in)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pai_cli.backends.local.db import Database
from pai_cli.ports import Progress

DEAD_REBUILD = 0.2
"""Removing nodes degrades an HNSW graph; past this share of dead entries, rebuild."""
HNSW = {"connectivity": 16, "expansion_add": 128, "expansion_search": 192}
EXPANSION_MAX = 1024
MEMORIES_PER_WIDTH = 1000
"""The search width grows by one per this many memories (expansion_for)."""


def expansion_for(memories: int) -> int:
    """Search width for an index of the vectors of `memories` memories: the same width
    finds less of the exact top 10 as the graph grows. Measured (bench/vector_query.py,
    recall@10 vs exact, ties allowed): 128 gives 0.984 at 100k but 0.928 at 1M;
    256/512/1024 give 0.958/0.977/0.983 at 1M for ~2/3.5/7 ms. One width per thousand
    memories keeps >= 0.98 at 1M. At 100k graphs differ from build to build (two threads
    build them), and on one 128 gave only 0.972: 160/192/256 gave 0.9875/0.989/0.9925 there,
    192 for ~0.2 ms of a hybrid query. Memories, not vectors: 100k memories of two sentences
    (300k vectors, core/pieces.py) find 0.9945 of their top 10 memories at 192 and 0.997 at
    300, and 300 took their hybrid query over 5 ms (5.3-5.6 against 4.8 ms)."""
    return max(HNSW["expansion_search"], min(EXPANSION_MAX, memories // MEMORIES_PER_WIDTH))


_STAMP = re.compile(r"-k(\d+)-b([0-9a-f]+)\.usearch$")


@dataclass
class Loaded:
    path: Path
    index: Any
    max_key: int
    build: str


def _user_tag(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:20]


def _try_view(path: Path, memories: int | None) -> Any:
    """A file another process may just have built; None when it cannot be used.
    `memories`: how many memories its vectors are of (None: as many as vectors)."""
    from usearch.index import Index

    try:
        index = Index.restore(str(path), view=True)
    except Exception:  # noqa: BLE001 - damaged or partial: the caller rebuilds it
        return None
    if index is not None:
        # Search-time width is not stored in the file: restore() comes back with 64.
        index.expansion_search = expansion_for(len(index) if memories is None else memories)
    return index


# -- the table's side of the stamp -----------------------------------------------------------
def build_key(user_id: str) -> str:
    return f"vector_build:{user_id}"


def memories_key(user_id: str) -> str:
    return f"vector_memories:{user_id}"


def built_memories(db: Database, user_id: str, build: str | None) -> int | None:
    """How many memories the vectors of build `build` are of: None for a file built before
    the count was kept, or by a pai that does not keep it (the count names its build)."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (memories_key(user_id),)).fetchone()
    made, _, memories = str(row[0]).partition(":") if row else ("", "", "")
    return int(memories) if build and made == build and memories.isdigit() else None


def distinct_memories(db: Database, user_id: str) -> int:
    return db.execute(
        "SELECT count(*) FROM (SELECT DISTINCT memory_id FROM vectors "
        "INDEXED BY vectors_user_memory WHERE user_id = ?)", (user_id,)).fetchone()[0]


def db_build(db: Database, user_id: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (build_key(user_id),)).fetchone()
    return row[0] if row else None


def max_key(db: Database, user_id: str) -> int:
    return db.execute(
        "SELECT max(key) FROM vectors WHERE user_id = ?", (user_id,)).fetchone()[0] or 0


def dead(db: Database, user_id: str, upto: int) -> int:
    return db.execute(
        "SELECT count(*) FROM vector_tombstones WHERE user_id = ? AND key <= ?",
        (user_id, upto)).fetchone()[0]


def delta_count(db: Database, user_id: str, after: int, cap: int) -> int:
    return db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM vectors WHERE user_id = ? AND key > ? LIMIT ?)",
        (user_id, after, cap + 1)).fetchone()[0]


def count(db: Database, user_id: str) -> int:
    return db.execute(
        "SELECT count(*) FROM vectors WHERE user_id = ?", (user_id,)).fetchone()[0]


class HnswFiles:
    """One user's files in `folder`: finding the usable one, building, removing."""

    def __init__(self, db: Database, folder: Path, dim: int) -> None:
        self.db = db
        self.folder = folder
        self.dim = dim

    def files(self, user_id: str) -> list[Path]:
        if not self.folder.exists():
            return []
        return sorted(self.folder.glob(f"u{_user_tag(user_id)}-k*.usearch"))

    def usable(self, user_id: str,
               loaded: Loaded | None) -> tuple[Loaded | None, bool]:
        """(the file to use, whether a file exists that must be rebuilt); `loaded` is the
        one already open, kept while it still matches."""
        build = db_build(self.db, user_id)
        top = max_key(self.db, user_id)
        if loaded is not None and loaded.build == build and loaded.max_key <= top:
            return loaded, False
        files = self.files(user_id)
        for path in reversed(files):
            m = _STAMP.search(path.name)
            if not m or m[2] != build or int(m[1]) > top:
                continue
            index = _try_view(path, built_memories(self.db, user_id, build))
            if index is None or index.ndim != self.dim:
                continue
            return Loaded(path, index, int(m[1]), m[2]), False
        return None, bool(files) or top > 0

    def fold(self, user_id: str, loaded: Loaded) -> Loaded | None:
        """Incremental: load the file, remove tombstoned keys, add new rows, save."""
        from usearch.index import Index

        if dead(self.db, user_id, loaded.max_key) > DEAD_REBUILD * max(len(loaded.index), 1):
            return self.build(user_id)
        with self._lock(user_id):
            index = Index.restore(str(loaded.path), view=False)
            if index is None:
                return self.build(user_id, locked=True)
            gone = [k for (k,) in self.db.execute(
                "SELECT key FROM vector_tombstones WHERE user_id = ? AND key <= ?",
                (user_id, loaded.max_key))]
            if gone:
                index.remove(np.asarray(gone, dtype=np.uint64))
            return self._save(user_id, index, self._add_rows(user_id, index, loaded.max_key))

    def build(self, user_id: str, progress: Progress | None = None,
              locked: bool = False) -> Loaded | None:
        from usearch.index import Index

        with contextlib.nullcontext() if locked else self._lock(user_id):
            if count(self.db, user_id) == 0:
                self.remove(user_id, keep=None)
                return None
            index = Index(ndim=self.dim, metric="cos", dtype="f16", **HNSW)
            return self._save(user_id, index, self._add_rows(user_id, index, 0, progress))

    def _add_rows(self, user_id: str, index: Any, after: int,
                  progress: Progress | None = None) -> int:
        """Adds every row with a key above `after`; returns the highest key added."""
        total = delta_count(self.db, user_id, after, 10**12)
        done, last = 0, after
        while True:
            rows = self.db.execute(
                "SELECT key, vec FROM vectors WHERE user_id = ? AND key > ? ORDER BY key "
                "LIMIT 20000", (user_id, last)).fetchall()
            if not rows:
                return last
            keys = np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))
            mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16)
            index.add(keys, mat.reshape(len(rows), self.dim))
            last = rows[-1][0]
            done += len(rows)
            if progress:
                progress(done, total)

    def _save(self, user_id: str, index: Any, top: int) -> Loaded:
        build = os.urandom(6).hex()
        memories = distinct_memories(self.db, user_id)  # ~35 ms at 300k rows, per build
        name = f"u{_user_tag(user_id)}-k{top}-b{build}.usearch"
        path = self.folder / name
        tmp = path.with_name(f".{name}.tmp")
        index.save(str(tmp))
        os.replace(tmp, path)
        # The database learns the new build id (and forgets the tombstones folded in) in one
        # commit; a crash on either side of it leaves a mismatch, which means a rebuild.
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (build_key(user_id), build))
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (memories_key(user_id), f"{build}:{memories}"))
            self.db.execute("DELETE FROM vector_tombstones WHERE user_id = ? AND key <= ?",
                            (user_id, top))
        self.remove(user_id, keep=path)
        view = _try_view(path, memories)
        assert view is not None
        return Loaded(path, view, top, build)

    @contextlib.contextmanager
    def _lock(self, user_id: str):  # type: ignore[no-untyped-def]
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.folder / f"u{_user_tag(user_id)}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per user at a time
            yield

    def remove(self, user_id: str, keep: Path | None) -> None:
        """Every file of the user's but `keep`."""
        for old in self.files(user_id):
            if old != keep:
                with contextlib.suppress(OSError):
                    old.unlink()
