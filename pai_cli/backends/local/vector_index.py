"""Vectors for the local home: rows in SQLite (the truth) and a usearch HNSW file per user.

The HNSW file is a cache of the `vectors` table, never the other way round. Its file name
carries a stamp: the highest row key it holds and the user's delete counter when it was
built. On a query the stamp is compared with two indexed lookups (max key, delete counter):
rows newer than the stamp are scanned exactly beside the HNSW search, rows deleted since are
dropped when hits are resolved against the table, and the file is rebuilt only when the
stamp cannot be right (the database went back in time) or the difference grows large. A
crash can therefore never make search disagree with the store, and no start-up pays for a
full verification.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pai_cli.backends.local.db import Database
from pai_cli.ports import Progress

DELTA_MAX = 4000
"""Newer rows than this are folded into the HNSW file before answering (exact scan cost)."""
DEAD_RATIO = 0.2
HNSW = {"connectivity": 16, "expansion_add": 128, "expansion_search": 128}
"""expansion_search 64 gave recall@10 0.89 (ties allowed) at 1M; 128 costs ~0.2 ms more."""
_STAMP = re.compile(r"-k(\d+)-d(\d+)-n(\d+)\.usearch$")


@dataclass
class _Loaded:
    path: Path
    index: Any
    max_key: int
    deletes: int
    dim: int


def _user_tag(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:20]


def _as_f16(vec: Any) -> bytes:
    return np.asarray(vec, dtype=np.float16).tobytes()


def _try_view(path: Path) -> Any:
    """A file another process may just have built; None when it cannot be used."""
    from usearch.index import Index

    try:
        return Index.restore(str(path), view=True)
    except Exception:  # noqa: BLE001 - damaged or partial: the caller rebuilds it
        return None


class UsearchVectorIndex:
    def __init__(self, db: Database, folder: Path, dim: int) -> None:
        self.db = db
        self.folder = folder
        self.dim = dim
        self._loaded: dict[str, _Loaded | None] = {}

    # -- writes: rows only, inside the caller's transaction -----------------------------
    def upsert(self, user_id: str, items: Sequence[tuple[str, str, Any]]) -> None:
        if not items:
            return
        with self.db.transaction():
            ids = [mid for mid, _, _ in items]
            replaced = self._drop(user_id, ids)
            # A changed vector gets a new key, so the HNSW file's copy becomes a dead key.
            self.db.executemany(
                "INSERT INTO vectors (memory_id, user_id, category, vec) VALUES (?, ?, ?, ?)",
                [(mid, user_id, cat, _as_f16(vec)) for mid, cat, vec in items],
            )
            self._count_deletes(user_id, replaced)

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> None:
        with self.db.transaction():
            self._count_deletes(user_id, self._drop(user_id, list(memory_ids)))

    def delete_user(self, user_id: str) -> None:
        with self.db.transaction():
            n = self.db.execute("DELETE FROM vectors WHERE user_id = ?", (user_id,)).rowcount
            self._count_deletes(user_id, n)

    def _drop(self, user_id: str, ids: list[str]) -> int:
        n = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            n += self.db.execute(
                # "+user_id" keeps the planner on the unique memory_id index (see memory_store).
                f"DELETE FROM vectors WHERE +user_id = ? AND memory_id IN ({marks})",
                (user_id, *chunk),
            ).rowcount
        return n

    def _count_deletes(self, user_id: str, n: int) -> None:
        if n:
            self.db.execute(
                "INSERT INTO vector_deletes (user_id, n) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET n = n + excluded.n", (user_id, n),
            )

    # -- state ---------------------------------------------------------------------------
    def _db_state(self, user_id: str) -> tuple[int, int]:
        max_key = self.db.execute(
            "SELECT max(key) FROM vectors WHERE user_id = ?", (user_id,)
        ).fetchone()[0] or 0
        row = self.db.execute(
            "SELECT n FROM vector_deletes WHERE user_id = ?", (user_id,)
        ).fetchone()
        return max_key, (row[0] if row else 0)

    def count(self, user_id: str) -> int:
        return self.db.execute(
            "SELECT count(*) FROM vectors WHERE user_id = ?", (user_id,)
        ).fetchone()[0]

    def _files(self, user_id: str) -> list[Path]:
        if not self.folder.exists():
            return []
        return sorted(self.folder.glob(f"u{_user_tag(user_id)}-k*.usearch"))

    def _open_file(self, user_id: str) -> _Loaded | None:
        for path in reversed(self._files(user_id)):
            m = _STAMP.search(path.name)
            if not m:
                continue
            index = _try_view(path)
            if index is None or index.ndim != self.dim:
                continue
            return _Loaded(path, index, int(m[1]), int(m[2]), index.ndim)
        return None

    def _current(self, user_id: str) -> tuple[_Loaded | None, int, int]:
        """The HNSW file to use (rebuilt first if its stamp cannot be trusted)."""
        max_key, deletes = self._db_state(user_id)
        loaded = self._loaded.get(user_id)
        unusable = False
        if loaded is None:
            loaded = self._open_file(user_id)
            # A file is there but none could be used (damaged, other dimension): rebuild it.
            unusable = loaded is None and bool(self._files(user_id))
        stale = unusable or (
            loaded is not None and (loaded.max_key > max_key or loaded.deletes > deletes)
        )
        too_far = False
        if max_key and not stale:
            base_key = loaded.max_key if loaded else 0
            base_del = loaded.deletes if loaded else 0
            size = len(loaded.index) if loaded else 0
            delta = self.db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM vectors WHERE user_id = ? AND key > ? "
                "LIMIT ?)", (user_id, base_key, DELTA_MAX + 1),
            ).fetchone()[0]
            too_far = delta > DELTA_MAX or (
                deletes - base_del > max(500, DEAD_RATIO * size)
            )
        if stale or too_far:
            loaded = self._build(user_id)
        self._loaded[user_id] = loaded
        return loaded, max_key, deletes

    # -- queries -------------------------------------------------------------------------
    def query(
        self, user_id: str, vector: Any, k: int, category: str | None
    ) -> list[tuple[str, float]]:
        q = np.asarray(vector, dtype=np.float32)
        loaded, _, deletes = self._current(user_id)
        base_key = loaded.max_key if loaded else 0
        scored: dict[str, float] = {}
        if loaded is not None and len(loaded.index):
            dead = max(0, deletes - loaded.deletes)
            want = k + dead + (k * 4 if category else 0)
            matches = loaded.index.search(q, min(want, len(loaded.index)))
            keys = [int(x) for x in matches.keys]
            sims = dict(zip(keys, (1.0 - float(d) for d in matches.distances), strict=True))
            for key, mid, cat in self._resolve(user_id, keys):
                if category is None or cat == category:
                    scored[mid] = sims[key]
        for mid, cat, blob in self.db.execute(
            "SELECT memory_id, category, vec FROM vectors WHERE user_id = ? AND key > ?",
            (user_id, base_key),
        ):
            if category is None or cat == category:
                v = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
                scored[mid] = float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q) or 1.0))
        best = sorted(scored.items(), key=lambda kv: -kv[1])[:k]
        if category is not None and len(best) < k:
            return self._exact(user_id, q, k, category)
        return best

    def _resolve(self, user_id: str, keys: list[int]) -> list[tuple[int, str, str]]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        return self.db.execute(
            f"SELECT key, memory_id, category FROM vectors WHERE +user_id = ? AND key IN ({marks})",
            (user_id, *keys),
        ).fetchall()

    def _exact(self, user_id: str, q: np.ndarray, k: int, category: str) -> list[tuple[str, float]]:
        rows = self.db.execute(
            "SELECT memory_id, vec FROM vectors WHERE user_id = ? AND category = ?",
            (user_id, category),
        ).fetchall()
        if not rows:
            return []
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(
            len(rows), -1
        ).astype(np.float32)
        sims = mat @ q / (np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0) + 1e-12)
        top = np.argsort(-sims)[:k]
        return [(rows[i][0], float(sims[i])) for i in top]

    # -- building ------------------------------------------------------------------------
    def compact(self, user_id: str, progress: Progress | None = None) -> None:
        self._loaded[user_id] = self._build(user_id, progress)

    def _build(self, user_id: str, progress: Progress | None = None) -> _Loaded | None:
        from usearch.index import Index

        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.folder / f"u{_user_tag(user_id)}.lock"
        with open(lock_path, "w") as lock:
            # One builder per user at a time; a second one waits, then finds the file made.
            fcntl.flock(lock, fcntl.LOCK_EX)
            max_key, deletes = self._db_state(user_id)
            total = self.count(user_id)
            if total == 0:
                self._remove_files(user_id, keep=None)
                return None
            name = f"u{_user_tag(user_id)}-k{max_key}-d{deletes}-n{total}.usearch"
            path = self.folder / name
            view = _try_view(path) if path.exists() else None
            if view is None:
                index = Index(ndim=self.dim, metric="cos", dtype="f16", **HNSW)
                done, last = 0, 0
                while True:
                    rows = self.db.execute(
                        "SELECT key, vec FROM vectors WHERE user_id = ? AND key > ? "
                        "AND key <= ? ORDER BY key LIMIT 20000", (user_id, last, max_key),
                    ).fetchall()
                    if not rows:
                        break
                    keys = np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))
                    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16)
                    index.add(keys, mat.reshape(len(rows), self.dim))
                    last = rows[-1][0]
                    done += len(rows)
                    if progress:
                        progress(done, total)
                tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
                index.save(str(tmp))
                os.replace(tmp, path)
                view = Index.restore(str(path), view=True)
            self._remove_files(user_id, keep=path)
        return _Loaded(path, view, max_key, deletes, self.dim)

    def _remove_files(self, user_id: str, keep: Path | None) -> None:
        for old in self._files(user_id):
            if old != keep:
                with contextlib.suppress(OSError):
                    old.unlink()
