"""Vectors for the local home: rows in SQLite (the truth) and a usearch HNSW file per user.

The HNSW file is a cache of the `vectors` table, never the other way round. Its name carries
a stamp: the highest row key it holds and a build id that is also written to the database
when the file is made. A query checks the stamp with three indexed lookups:

- rows newer than the stamp are scanned exactly beside the HNSW search (a changed vector
  gets a new key, so an edit is "tombstone the old key + a new row");
- keys deleted since the build are in `vector_tombstones` and dropped from the hits;
- a file that is damaged, of another dimension, ahead of the database, or whose build id
  the database does not know (a database restored from a backup) is rebuilt.

So a crash can never make search disagree with the store, and no start-up pays for a full
verification. Folding new rows and tombstones into the file (`maintain`) is done by write
commands after their output is shown: incrementally (load, remove, add, save) while the file
is healthy, from scratch when a fifth of it is dead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pai_cli.backends.local.db import Database
from pai_cli.ports import Progress

DELTA_FOLD = 2000
"""A write command folds the new rows into the file past this many (exact-scan cost)."""
DELTA_HARD = 20000
"""A query folds them itself past this many: someone kept writing without maintenance."""
DEAD_FOLD = 500
DEAD_REBUILD = 0.2
"""Removing nodes degrades an HNSW graph; past this share of dead entries, rebuild."""
SQL_CHUNK = 500
KEY_CACHE_MAX = 200_000
"""Key -> (memory id, category) entries kept per user for resolving HNSW hits."""
HNSW = {"connectivity": 16, "expansion_add": 128, "expansion_search": 128}
EXPANSION_MAX = 1024


def expansion_for(size: int) -> int:
    """Search width for an index of `size` vectors: the same width finds less of the exact
    top 10 as the graph grows. Measured (bench/vector_query.py, recall@10 vs exact, ties
    allowed): 128 gives 0.984 at 100k but 0.928 at 1M; 256/512/1024 give 0.958/0.977/0.983
    at 1M for ~2/3.5/7 ms. One width per thousand vectors keeps >= 0.98 at both sizes."""
    return max(HNSW["expansion_search"], min(EXPANSION_MAX, size // 1000))
_STAMP = re.compile(r"-k(\d+)-b([0-9a-f]+)\.usearch$")


@dataclass
class _View:
    """What a query needs besides the HNSW file, kept while the database is unchanged."""

    stamp: tuple[int, int]
    loaded: _Loaded | None
    dead: int
    delta_ids: list[str]
    delta_cats: list[str]
    delta: np.ndarray


@dataclass
class _Loaded:
    path: Path
    index: Any
    max_key: int
    build: str


def _user_tag(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:20]


def _as_f16(vec: Any) -> bytes:
    return np.asarray(vec, dtype=np.float16).tobytes()


def _try_view(path: Path) -> Any:
    """A file another process may just have built; None when it cannot be used."""
    from usearch.index import Index

    try:
        index = Index.restore(str(path), view=True)
    except Exception:  # noqa: BLE001 - damaged or partial: the caller rebuilds it
        return None
    if index is not None:
        # Search-time width is not stored in the file: restore() comes back with 64.
        index.expansion_search = expansion_for(len(index))
    return index


def _cosine(mat: np.ndarray, q: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0)
    return mat @ q / np.where(norms > 0, norms, 1.0)


class UsearchVectorIndex:
    def __init__(self, db: Database, folder: Path, dim: int) -> None:
        self.db = db
        self.folder = folder
        self.dim = dim
        self._loaded: dict[str, _Loaded | None] = {}
        self._views: dict[str, _View] = {}
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
            self.db.execute("DELETE FROM meta WHERE key = ?", (self._build_key(user_id),))
        # The file holds the vectors of everything just forgotten: it goes now, not later.
        self._loaded.pop(user_id, None)
        self._views.pop(user_id, None)
        self._remove_files(user_id, keep=None)

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
    def _build_key(self, user_id: str) -> str:
        return f"vector_build:{user_id}"

    def _db_build(self, user_id: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?",
                              (self._build_key(user_id),)).fetchone()
        return row[0] if row else None

    def _max_key(self, user_id: str) -> int:
        return self.db.execute(
            "SELECT max(key) FROM vectors WHERE user_id = ?", (user_id,)).fetchone()[0] or 0

    def _dead(self, user_id: str, upto: int) -> int:
        return self.db.execute(
            "SELECT count(*) FROM vector_tombstones WHERE user_id = ? AND key <= ?",
            (user_id, upto)).fetchone()[0]

    def _delta_count(self, user_id: str, after: int, cap: int) -> int:
        return self.db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM vectors WHERE user_id = ? AND key > ? LIMIT ?)",
            (user_id, after, cap + 1)).fetchone()[0]

    def count(self, user_id: str) -> int:
        return self.db.execute(
            "SELECT count(*) FROM vectors WHERE user_id = ?", (user_id,)).fetchone()[0]

    def keys_of(self, user_id: str) -> Iterator[str]:
        rows = self.db.execute(
            "SELECT memory_id FROM vectors WHERE user_id = ?", (user_id,)).fetchall()
        return iter([r[0] for r in rows])

    def _files(self, user_id: str) -> list[Path]:
        if not self.folder.exists():
            return []
        return sorted(self.folder.glob(f"u{_user_tag(user_id)}-k*.usearch"))

    def _usable(self, user_id: str) -> tuple[_Loaded | None, bool]:
        """(the file to use, whether a file exists that must be rebuilt)."""
        build = self._db_build(user_id)
        max_key = self._max_key(user_id)
        loaded = self._loaded.get(user_id)
        if loaded is not None and loaded.build == build and loaded.max_key <= max_key:
            return loaded, False
        files = self._files(user_id)
        for path in reversed(files):
            m = _STAMP.search(path.name)
            if not m or m[2] != build or int(m[1]) > max_key:
                continue
            index = _try_view(path)
            if index is None or index.ndim != self.dim:
                continue
            return _Loaded(path, index, int(m[1]), m[2]), False
        return None, bool(files) or max_key > 0

    def _current(self, user_id: str) -> _Loaded | None:
        loaded, rebuild = self._usable(user_id)
        if loaded is None and rebuild and self.count(user_id) > DELTA_HARD:
            loaded = self._build(user_id)
        elif loaded is not None and self._delta_count(user_id, loaded.max_key,
                                                       DELTA_HARD) > DELTA_HARD:
            loaded = self._fold(user_id, loaded)
        self._loaded[user_id] = loaded
        self._views.pop(user_id, None)
        return loaded

    # -- queries -------------------------------------------------------------------------
    def query(
        self, user_id: str, vector: Any, k: int, category: str | None
    ) -> list[tuple[str, float]]:
        q = np.asarray(vector, dtype=np.float32)
        view = self._view(user_id)
        loaded = view.loaded
        scored: dict[str, float] = {}
        if loaded is not None and len(loaded.index):
            want = k + min(view.dead, 4 * k) + (4 * k if category else 0)
            if want >= len(loaded.index):
                # Small index: HNSW may return fewer than asked; exact is as cheap here.
                return self._exact(user_id, q, k, category)
            matches = loaded.index.search(q, want)
            keys = [int(x) for x in matches.keys]
            sims = dict(zip(keys, (1.0 - float(d) for d in matches.distances), strict=True))
            for key, mid, cat in self._resolve(user_id, keys, cached=view.dead == 0):
                if category is None or cat == category:
                    scored[mid] = sims[key]
        if view.delta_ids:
            sims_delta = _cosine(view.delta, q)
            scored.update((mid, float(sim)) for mid, cat, sim in
                          zip(view.delta_ids, view.delta_cats, sims_delta, strict=True)
                          if category is None or cat == category)
        best = sorted(scored.items(), key=lambda kv: -kv[1])[:k]
        if len(best) < k and loaded is not None and len(loaded.index):
            # Filters or dead entries ate the HNSW candidates: answer exactly instead.
            return self._exact(user_id, q, k, category)
        return best

    def _stamp(self) -> tuple[int, int]:
        """Moves when another connection committed (data_version) or this one wrote."""
        return (self.db.execute("PRAGMA data_version").fetchone()[0],
                self.db.conn.total_changes)

    def _view(self, user_id: str) -> _View:
        """The file, its dead-entry count and the rows newer than it: four lookups and a
        scan on the first query after any change, one PRAGMA on the next ones."""
        view = self._views.get(user_id)
        if view is not None and view.stamp == self._stamp():
            return view
        loaded = self._current(user_id)
        base = loaded.max_key if loaded else 0
        dead = self._dead(user_id, base) if loaded else 0
        rows = self.db.execute(
            "SELECT memory_id, category, vec FROM vectors WHERE user_id = ? AND key > ?",
            (user_id, base)).fetchall()
        delta = (np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float16)
                 .reshape(len(rows), -1).astype(np.float32) if rows
                 else np.zeros((0, self.dim), dtype=np.float32))
        view = _View(self._stamp(), loaded, dead, [r[0] for r in rows], [r[1] for r in rows],
                     delta)
        self._views[user_id] = view
        return view

    def _resolve(self, user_id: str, keys: list[int],
                 cached: bool = False) -> list[tuple[int, str, str]]:
        """(key, memory id, category) of the keys still in the table. A key is never reused
        and its memory and category never change (an edit writes a new key), so with no
        dead entries in the file (cached) the keys seen before need no lookup."""
        known = self._keys.setdefault(user_id, {})
        if len(known) > KEY_CACHE_MAX:
            known.clear()
        out = [(key, *known[key]) for key in keys if key in known] if cached else []
        missing = [key for key in keys if key not in known] if cached else keys
        for start in range(0, len(missing), SQL_CHUNK):
            chunk = missing[start:start + SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key, memory_id, category FROM vectors "
                f"WHERE key IN ({marks}) AND +user_id = ?", (*chunk, user_id),
            ).fetchall()
            out += rows
            for key, mid, cat in rows:
                known[key] = (mid, cat)
        return out

    def _scan(self, user_id: str, q: np.ndarray, category: str | None,
              after: int = 0) -> dict[str, float]:
        sql = "SELECT memory_id, vec FROM vectors WHERE user_id = ? AND key > ?"
        params: list[Any] = [user_id, after]
        if category:
            sql += " AND category = ?"
            params.append(category)
        rows = self.db.execute(sql, params).fetchall()
        if not rows:
            return {}
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(
            len(rows), -1).astype(np.float32)
        sims = _cosine(mat, q)
        return {rows[i][0]: float(sims[i]) for i in range(len(rows))}

    def _exact(self, user_id: str, q: np.ndarray, k: int,
               category: str | None) -> list[tuple[str, float]]:
        return sorted(self._scan(user_id, q, category).items(), key=lambda kv: -kv[1])[:k]

    # -- building ------------------------------------------------------------------------
    def maintain(self, user_id: str) -> None:
        """Fold what accumulated since the last build, if enough did. Called by write
        commands after their output, so no query waits for it."""
        loaded, rebuild = self._usable(user_id)
        if loaded is None:
            if rebuild and self.count(user_id) > DELTA_FOLD:
                self._loaded[user_id] = self._build(user_id)
                self._views.pop(user_id, None)
            return
        delta = self._delta_count(user_id, loaded.max_key, DELTA_FOLD)
        dead = self._dead(user_id, loaded.max_key)
        if delta > DELTA_FOLD or dead > DEAD_FOLD:
            self._loaded[user_id] = self._fold(user_id, loaded)
            self._views.pop(user_id, None)

    def compact(self, user_id: str, progress: Progress | None = None) -> None:
        self._loaded[user_id] = self._build(user_id, progress)
        self._views.pop(user_id, None)

    def _fold(self, user_id: str, loaded: _Loaded) -> _Loaded | None:
        """Incremental: load the file, remove tombstoned keys, add new rows, save."""
        from usearch.index import Index

        if self._dead(user_id, loaded.max_key) > DEAD_REBUILD * max(len(loaded.index), 1):
            return self._build(user_id)
        with self._lock(user_id):
            index = Index.restore(str(loaded.path), view=False)
            if index is None:
                return self._build(user_id, locked=True)
            dead = [k for (k,) in self.db.execute(
                "SELECT key FROM vector_tombstones WHERE user_id = ? AND key <= ?",
                (user_id, loaded.max_key))]
            if dead:
                index.remove(np.asarray(dead, dtype=np.uint64))
            return self._save(user_id, index, self._add_rows(user_id, index, loaded.max_key))

    def _build(self, user_id: str, progress: Progress | None = None,
               locked: bool = False) -> _Loaded | None:
        from usearch.index import Index

        with contextlib.nullcontext() if locked else self._lock(user_id):
            if self.count(user_id) == 0:
                self.delete_user_files(user_id)
                return None
            index = Index(ndim=self.dim, metric="cos", dtype="f16", **HNSW)
            return self._save(user_id, index, self._add_rows(user_id, index, 0, progress))

    def _add_rows(self, user_id: str, index: Any, after: int,
                  progress: Progress | None = None) -> int:
        """Adds every row with a key above `after`; returns the highest key added."""
        total = self._delta_count(user_id, after, 10**12)
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

    def _save(self, user_id: str, index: Any, max_key: int) -> _Loaded:
        build = os.urandom(6).hex()
        name = f"u{_user_tag(user_id)}-k{max_key}-b{build}.usearch"
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
                (self._build_key(user_id), build))
            self.db.execute("DELETE FROM vector_tombstones WHERE user_id = ? AND key <= ?",
                            (user_id, max_key))
        self._remove_files(user_id, keep=path)
        view = _try_view(path)
        assert view is not None
        return _Loaded(path, view, max_key, build)

    @contextlib.contextmanager
    def _lock(self, user_id: str):  # type: ignore[no-untyped-def]
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.folder / f"u{_user_tag(user_id)}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per user at a time
            yield

    def delete_user_files(self, user_id: str) -> None:
        self._remove_files(user_id, keep=None)

    def _remove_files(self, user_id: str, keep: Path | None) -> None:
        for old in self._files(user_id):
            if old != keep:
                with contextlib.suppress(OSError):
                    old.unlink()
