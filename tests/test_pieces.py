"""A memory that says several things gets a vector per piece beside its own, and search
answers with the best of them (core/pieces.py, README "One memory, several vectors")."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from pai_cli.config import load_settings
from pai_cli.core.pieces import MAX_PIECES, MIN_WORDS, pieces
from pai_cli.records import ImportRecord
from pai_cli.wiring import Wiring

FIXTURES = Path(__file__).parent / "fixtures"
TWO_THINGS = ("Odile: Worse. Between the ice and the fireworks the emergency room was nonstop "
              "all night. But the big news is that I registered for the Lisbon half marathon "
              "in March.")


def test_sentences_become_pieces_and_short_ones_join_a_neighbour() -> None:
    assert pieces(TWO_THINGS) == [
        "Odile: Worse. Between the ice and the fireworks the emergency room was nonstop all night.",
        "Odile: But the big news is that I registered for the Lisbon half marathon in March.",
    ]
    # One thing said, or short sentences only: the memory's own vector is enough.
    assert pieces("My sister moved to Lisbon last spring.") == []
    assert pieces("Maya: Thanks! See you soon.") == []
    # No label: the sentences as they are; a short last sentence joins the one before.
    assert pieces("I dislike coffee a lot, honestly, always. Dogs are better than cats "
                  "in every way. Truly.") == [
        "I dislike coffee a lot, honestly, always.",
        "Dogs are better than cats in every way. Truly."]


def test_a_long_text_keeps_every_word_in_at_most_max_pieces() -> None:
    sentences = [f"Sentence number {i} says one more distinct thing here." for i in range(50)]
    out = pieces(" ".join(sentences))
    assert 1 < len(out) <= MAX_PIECES
    assert " ".join(out).split() == " ".join(sentences).split()
    assert all(len(p.split()) >= MIN_WORDS for p in out)


@pytest.fixture
def home(pai_home: Path):
    w = Wiring(load_settings("alice"))
    yield w
    w.close()


def _rows(w: Wiring, memory_id: str) -> int:
    return w.db.execute("SELECT count(*) FROM vectors WHERE memory_id = ?",
                        (memory_id,)).fetchone()[0]


def _cosine(w: Wiring, a: str, b: str) -> float:
    va, vb = (np.asarray(v, dtype=np.float32) for v in w.embedder.embed([a, b]))
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


@pytest.mark.parametrize("built", [False, True], ids=["exact", "hnsw file"])
def test_search_answers_with_a_memorys_best_vector_once(home: Wiring, built: bool) -> None:
    svc = home.memories
    # Enough others that the HNSW file, once built, is searched rather than scanned.
    others = [ImportRecord(i, f"Note {i}: the {w} on shelf {i} needs dusting every week.",
                           "general", None, None)
              for i, w in enumerate(["vase", "lamp", "clock", "radio", "book"] * 60)]
    svc.import_records("alice", others)
    m = svc.add("alice", TWO_THINGS)
    assert _rows(home, m.id) == 3  # the whole text and its two pieces
    if built:
        svc.index.compact("alice")
        loaded = svc.index._current("alice")
        assert loaded is not None and len(loaded.index) > 2 * 30  # searched, not scanned
    query = "which race did Odile sign up for"
    hits = svc.search("alice", query, 30, mode="vector")
    ids = [h.memory.id for h in hits]
    assert len(ids) == len(set(ids)) == 30
    [score] = [h.score for h in hits if h.memory.id == m.id]
    whole = _cosine(home, query, TWO_THINGS)
    best_piece = max(_cosine(home, query, p) for p in pieces(TWO_THINGS))
    assert best_piece > whole + 0.05  # the marathon alone is much closer than the turn
    # float16 rows and, with the file, the HNSW's own arithmetic
    assert score == pytest.approx(best_piece, abs=2e-3)
    assert ids[0] == m.id
    # Edited after the file was built: its three old rows are tombstoned, the new ones found.
    svc.edit("alice", m.id, "Odile: The emergency room was calm all week for once. Her "
                            "brother adopted a grey kitten called Pebble from the shelter.")
    hits = svc.search("alice", "what is the name of the kitten", 30, mode="vector")
    assert [h.memory.id for h in hits].count(m.id) == 1 and hits[0].memory.id == m.id
    assert _rows(home, m.id) == 3


def test_a_few_memories_of_many_pieces_do_not_crowd_out_the_rest(home: Wiring,
                                                                 monkeypatch) -> None:
    from pai_cli.backends.local import vector_search

    svc = home.memories
    others = [ImportRecord(i, f"Note {i}: the {w} on shelf {i} needs dusting every week.",
                           "general", None, None)
              for i, w in enumerate(["vase", "lamp", "clock", "radio", "book"] * 60)]
    # Eight long notes on one subject: 8 x 17 rows, more than the 2 x 50 first asked for.
    long_notes = [ImportRecord(1000 + n, " ".join(
        f"Sourdough starter log {n}.{i}: fed the starter with rye flour and water today."
        for i in range(16)), "general", None, None) for n in range(8)]
    svc.import_records("alice", others + long_notes)
    svc.index.compact("alice")
    assert home.db.execute("SELECT count(*) FROM vectors").fetchone()[0] == 300 + 8 * 17

    def no_scan(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("scanned every row instead of asking the HNSW file wider")

    monkeypatch.setattr(vector_search, "_exact", no_scan)
    asked: list[int] = []
    hnsw = vector_search._hnsw
    monkeypatch.setattr(vector_search, "_hnsw", lambda *a: asked.append(a[5]) or hnsw(*a))
    q = home.embedder.embed(["feeding the sourdough starter with rye flour"])[0]
    hits = svc.index.query("alice", q, 50, None)
    ids = [mid for mid, _ in hits]
    assert len(ids) == len(set(ids)) == 50
    long_ids = {r[0] for r in home.db.execute(
        "SELECT memory_id FROM vectors GROUP BY memory_id HAVING count(*) = 17")}
    assert set(ids[:8]) == long_ids
    assert asked == [100, 400]  # the first 100 rows named too few memories


def test_the_search_width_follows_the_memories_not_their_vectors(home: Wiring,
                                                                   monkeypatch) -> None:
    """hnsw_files.expansion_for: the width grows with the memories a file holds. With a
    vector per piece, the rows would make it wider (and slower) than recall needs."""
    from pai_cli.backends.local import hnsw_files

    monkeypatch.setitem(hnsw_files.HNSW, "expansion_search", 1)
    monkeypatch.setattr(hnsw_files, "MEMORIES_PER_WIDTH", 1)
    svc = home.memories
    svc.import_records("alice", [ImportRecord(i, TWO_THINGS.replace("March", f"week {i}"),
                                              "general", None, None) for i in range(40)])
    svc.index.compact("alice")
    rows = home.db.execute("SELECT count(*) FROM vectors").fetchone()[0]
    assert rows == 40 * 3
    build = hnsw_files.db_build(home.db, "alice")
    assert hnsw_files.built_memories(home.db, "alice", build) == 40
    assert hnsw_files.built_memories(home.db, "alice", "another build") is None
    assert svc.index._current("alice").index.expansion_search == 40
    # Opened afresh by another process: the width comes from the database, not the file.
    other = Wiring(load_settings("alice"))
    try:
        assert other.memories.index._current("alice").index.expansion_search == 40
        # A file from before the count was kept: as wide as its vectors, as before.
        other.db.execute("DELETE FROM meta WHERE key = ?", (hnsw_files.memories_key("alice"),))
        other.memories.index._loaded.clear()
        assert other.memories.index._current("alice").index.expansion_search == rows
    finally:
        other.close()
    # Forgetting the user forgets the count with the build id.
    svc.index.delete_user("alice")
    assert home.db.execute("SELECT count(*) FROM meta WHERE key LIKE 'vector_%alice'"
                           ).fetchone()[0] == 0


def test_edit_and_forget_replace_and_remove_every_vector_of_a_memory(home: Wiring) -> None:
    svc = home.memories
    m = svc.add("alice", TWO_THINGS)
    svc.edit("alice", m.id, "Odile registered for the Lisbon half marathon.")
    assert _rows(home, m.id) == 1
    svc.edit("alice", m.id, TWO_THINGS)
    assert _rows(home, m.id) == 3
    svc.forget("alice", m.id)
    assert _rows(home, m.id) == 0
    assert svc.search("alice", "Lisbon half marathon", 5, mode="vector") == []


def test_reindex_gives_memories_stored_with_one_vector_their_pieces(home: Wiring) -> None:
    svc = home.memories
    m = svc.add("alice", TWO_THINGS)
    # As an earlier version stored it: the whole text's vector only.
    home.db.execute("DELETE FROM vectors WHERE memory_id = ? AND key > "
                    "(SELECT min(key) FROM vectors WHERE memory_id = ?)", (m.id, m.id))
    home.db.conn.commit()
    assert _rows(home, m.id) == 1
    svc.reindex("alice")
    assert _rows(home, m.id) == 3


def test_a_home_from_before_takes_several_vectors_a_memory(pai_home: Path) -> None:
    shutil.copytree(FIXTURES / "legacy_home", pai_home)
    (pai_home / "master.key").chmod(0o600)
    con = sqlite3.connect(pai_home / "pai.db")
    assert ("vectors_user_memory", 1) in [(r[1], r[2]) for r in con.execute(
        "PRAGMA index_list(vectors)")]
    con.close()
    w = Wiring(load_settings("alice"))
    try:
        m = w.memories.add("alice", TWO_THINGS)
        assert _rows(w, m.id) == 3
        assert ("vectors_user_memory", 0) in [(r[1], r[2]) for r in w.db.execute(
            "PRAGMA index_list(vectors)")]
    finally:
        w.close()
