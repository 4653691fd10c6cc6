"""Answering a vector query: the HNSW file's hits, less the dead ones, merged with an exact
scan of the rows newer than the file (kept in memory as a matrix until the database
changes); exact search over every row when the filters eat the HNSW candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pai_cli.backends.local.db import Database
from pai_cli.backends.local.hnsw_files import Loaded

SQL_CHUNK = 500
KEY_CACHE_MAX = 200_000
"""Key -> (memory id, category) entries kept per user for resolving HNSW hits."""
ROWS_ASKED = 2
"""Rows asked of the HNSW file per memory wanted."""
WIDENINGS = 3
"""How many times a search asks the HNSW file again, four times wider, before it scans
every row (at 1M rows, ~100 ms)."""


@dataclass
class View:
    """What a query needs besides the HNSW file, kept while the database is unchanged."""

    stamp: tuple[int, int]
    loaded: Loaded | None
    dead: int
    delta_ids: list[str]
    delta_cats: list[str]
    delta: np.ndarray


def data_stamp(db: Database) -> tuple[int, int]:
    """Moves when another connection committed (data_version) or this one wrote."""
    return (db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes)


def read_view(db: Database, user_id: str, loaded: Loaded | None, dead: int,
              dim: int) -> View:
    """The rows newer than the file, read into one matrix for the exact part of a query."""
    base = loaded.max_key if loaded else 0
    rows = db.execute(
        "SELECT memory_id, category, vec FROM vectors WHERE user_id = ? AND key > ?",
        (user_id, base)).fetchall()
    delta = (np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float16)
             .reshape(len(rows), -1).astype(np.float32) if rows
             else np.zeros((0, dim), dtype=np.float32))
    return View(data_stamp(db), loaded, dead, [r[0] for r in rows], [r[1] for r in rows],
                delta)


def _cosine(mat: np.ndarray, q: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0)
    return mat @ q / np.where(norms > 0, norms, 1.0)


def search(db: Database, user_id: str, view: View, known: dict[int, tuple[str, str]],
           q: np.ndarray, k: int, category: str | None) -> list[tuple[str, float]]:
    """The k best (memory id, cosine), each memory with its best row; `known` is the user's
    key cache (see _resolve)."""
    loaded = view.loaded
    newer = _newer(view, q, category)
    if loaded is None or not len(loaded.index):
        return sorted(newer.items(), key=lambda kv: -kv[1])[:k]
    # A memory can hold several rows (its pieces, core/pieces.py): twice k rows name k
    # memories unless many of them are pieces of the same few. Then, and when dead entries
    # or the category filter ate the hits, the HNSW file is asked again, wider, before the
    # exact scan of every row.
    want = ROWS_ASKED * k + min(view.dead, 4 * k) + (4 * k if category else 0)
    for _ in range(WIDENINGS + 1):
        if want >= len(loaded.index):
            break  # HNSW may return fewer than asked here; exact is as cheap
        scored = _hnsw(db, user_id, view, known, q, want, category)
        for mid, sim in newer.items():
            if sim > scored.get(mid, -2.0):
                scored[mid] = sim
        if len(scored) >= k:
            return sorted(scored.items(), key=lambda kv: -kv[1])[:k]
        want *= 4
    return _exact(db, user_id, q, k, category)


def _hnsw(db: Database, user_id: str, view: View, known: dict[int, tuple[str, str]],
          q: np.ndarray, want: int, category: str | None) -> dict[str, float]:
    """Memory id -> best cosine among the file's `want` nearest rows still alive."""
    matches = view.loaded.index.search(q, want)  # type: ignore[union-attr]
    keys = [int(x) for x in matches.keys]
    sims = dict(zip(keys, (1.0 - float(d) for d in matches.distances), strict=True))
    scored: dict[str, float] = {}
    for key, mid, cat in _resolve(db, user_id, known, keys, cached=view.dead == 0):
        if (category is None or cat == category) and sims[key] > scored.get(mid, -2.0):
            scored[mid] = sims[key]
    return scored


def _newer(view: View, q: np.ndarray, category: str | None) -> dict[str, float]:
    """Memory id -> best cosine among the rows newer than the file (scanned exactly)."""
    scored: dict[str, float] = {}
    if view.delta_ids:
        for mid, cat, sim in zip(view.delta_ids, view.delta_cats,
                                 _cosine(view.delta, q).tolist(), strict=True):
            if (category is None or cat == category) and sim > scored.get(mid, -2.0):
                scored[mid] = sim
    return scored


def _resolve(db: Database, user_id: str, known: dict[int, tuple[str, str]], keys: list[int],
             cached: bool = False) -> list[tuple[int, str, str]]:
    """(key, memory id, category) of the keys still in the table. A key is never reused
    and its memory and category never change (an edit writes a new key), so with no
    dead entries in the file (cached) the keys seen before need no lookup."""
    if len(known) > KEY_CACHE_MAX:
        known.clear()
    out = [(key, *known[key]) for key in keys if key in known] if cached else []
    missing = [key for key in keys if key not in known] if cached else keys
    for start in range(0, len(missing), SQL_CHUNK):
        chunk = missing[start:start + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT key, memory_id, category FROM vectors "
            f"WHERE key IN ({marks}) AND +user_id = ?", (*chunk, user_id),
        ).fetchall()
        out += rows
        for key, mid, cat in rows:
            known[key] = (mid, cat)
    return out


def _scan(db: Database, user_id: str, q: np.ndarray, category: str | None,
          after: int = 0) -> dict[str, float]:
    sql = "SELECT memory_id, vec FROM vectors WHERE user_id = ? AND key > ?"
    params: list[Any] = [user_id, after]
    if category:
        sql += " AND category = ?"
        params.append(category)
    rows = db.execute(sql, params).fetchall()
    if not rows:
        return {}
    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(
        len(rows), -1).astype(np.float32)
    best: dict[str, float] = {}
    for (mid, _), sim in zip(rows, _cosine(mat, q).tolist(), strict=True):
        if sim > best.get(mid, -2.0):
            best[mid] = sim
    return best


def _exact(db: Database, user_id: str, q: np.ndarray, k: int,
           category: str | None) -> list[tuple[str, float]]:
    return sorted(_scan(db, user_id, q, category).items(), key=lambda kv: -kv[1])[:k]
