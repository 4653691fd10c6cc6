"""TTL expiry with an injected clock, and the side index's stamp against the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import pai

from pai_cli.config import load_settings
from pai_cli.core.memory_service import DAY
from pai_cli.wiring import Wiring


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(pai_home: Path):
    clock = Clock()
    w = Wiring(load_settings("alice"), clock=clock)
    yield w, clock
    w.close()


def test_memories_expire_unless_pinned(clocked) -> None:
    w, clock = clocked
    svc = w.memories
    pinned = svc.add("alice", "pinned: the allotment is plot 42", pinned=True)
    loose = svc.add("alice", "loose: the allotment gate code is 1911", pinned=False)
    clock.now += 364 * DAY
    assert {m.id for m in svc.list("alice")} == {pinned.id, loose.id}
    clock.now += 2 * DAY
    assert [m.id for m in svc.list("alice")] == [pinned.id]
    assert [h.memory.id for h in svc.search("alice", "allotment gate code", 5)] == [pinned.id]
    assert svc.purge_expired("alice") == 1  # expired rows are deleted, not only hidden
    con = sqlite3.connect(w.settings.db_path)
    assert con.execute("SELECT count(*) FROM memories").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM memory_terms").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM vectors").fetchone()[0] == 1
    con.close()
    clock.now += 10 * 365 * DAY
    assert [m.id for m in svc.list("alice")] == [pinned.id]


def test_unpinning_starts_a_fresh_year(clocked) -> None:
    w, clock = clocked
    m = w.memories.add("alice", "old but pinned", pinned=True)
    clock.now += 400 * DAY
    w.memories.set_pinned("alice", m.id, False)
    clock.now += 300 * DAY
    assert w.memories.get("alice", m.id).pinned is False


def test_conversations_expire_after_a_week(clocked) -> None:
    w, clock = clocked
    cid = w.chat.turn("alice", "short-lived chat message").conversation_id
    w.chat.remember_pending("alice")
    clock.now += 6 * DAY
    assert [c.id for c in w.chat.list_conversations("alice")] == [cid]
    clock.now += 2 * DAY
    assert w.chat.list_conversations("alice") == []
    w.purge_expired()
    con = sqlite3.connect(w.settings.db_path)
    assert con.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    con.close()
    # The long-term memory made from it lives on (its own TTL is a year).
    assert [m.content for m in w.memories.list("alice")] == ["short-lived chat message"]


def test_config_file_ttl(pai_home: Path) -> None:
    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text("memory_ttl_days = 30\ndefault_category = 'misc'\n")
    m = json.loads(pai("memory", "add", "configured", "--no-pin", "--json").out)
    assert m["category"] == "misc"
    assert m["expires_at"] is not None
    (pai_home / "config.toml").write_text("colour = 'blue'\n")
    r = pai("memory", "list")
    assert r.code == 3 and "Unknown setting" in r.err
    (pai_home / "config.toml").write_text("memory_ttl_days = [")
    assert pai("memory", "list").code == 3


# -- the HNSW side file and its stamp ---------------------------------------------------
def index_files(w: Wiring) -> list[Path]:
    return sorted(w.settings.index_dir.glob("*.usearch"))


def test_side_index_follows_writes_without_rebuilding(clocked) -> None:
    w, _ = clocked
    svc = w.memories
    first = [svc.add("alice", f"base memory {i} about the harbour ferry {i}") for i in range(50)]
    svc.index.compact("alice")
    files = index_files(w)
    assert len(files) == 1
    # New rows after the file was written: found through the exact delta scan.
    new = svc.add("alice", "the lighthouse keeper's name is Bartholomew")
    assert svc.search("alice", "lighthouse keeper Bartholomew", 1, mode="vector")[0].memory.id == new.id
    # Edited and forgotten rows: the file's stale copies never come back.
    svc.edit("alice", first[0].id, "completely different: volcano trip planning")
    svc.forget("alice", first[1].id)
    ids = [h.memory.id for h in svc.search("alice", "base memory harbour ferry", 60, mode="vector")]
    assert first[1].id not in ids
    assert len(ids) == len(set(ids)) == 50
    top = svc.search("alice", "volcano trip planning", 1, mode="vector")[0]
    assert top.memory.id == first[0].id
    assert index_files(w) == files  # queries never rebuild for small deltas


def test_damaged_side_file_is_never_trusted(clocked) -> None:
    w, _ = clocked
    svc = w.memories
    for i in range(30):
        svc.add("alice", f"memory {i} about cycling route {i}")
    svc.index.compact("alice")
    [path] = index_files(w)
    path.write_bytes(b"garbage")
    fresh = Wiring(load_settings("alice"), clock=w.clock)
    hits = fresh.memories.search("alice", "cycling route 7", 5, mode="vector")
    assert len(hits) == 5 and hits[0].memory.content == "memory 7 about cycling route 7"
    fresh.memories.index.compact("alice")
    assert len(index_files(w)) == 1 and index_files(w)[0] != path
    fresh.close()


def test_restored_older_database_does_not_trust_a_newer_file(clocked, pai_home: Path) -> None:
    """The file's keys would point at other memories once the restored database reuses them."""
    import shutil

    w, _ = clocked
    w.memories.add("alice", "the car is parked on level 3")
    w.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(pai_home / "pai.db", pai_home / "backup.db")
    for i in range(3):
        w.memories.add("alice", f"our dog Rex loves fetch {i}")
    w.memories.index.compact("alice")
    w.close()
    for extra in pai_home.glob("pai.db-*"):
        extra.unlink()
    shutil.copy(pai_home / "backup.db", pai_home / "pai.db")
    w2 = Wiring(load_settings("alice"), clock=w.clock)
    for text in ("dentist appointment on Friday", "tax return due in April", "buy oat milk"):
        w2.memories.add("alice", text)
    hits = w2.memories.search("alice", "what is my dog's name", 4, mode="vector")
    assert not any("Rex" in h.memory.content for h in hits)
    top = w2.memories.search("alice", "dentist appointment", 1, mode="vector")[0]
    assert top.memory.content == "dentist appointment on Friday"
    assert top.vector_score == pytest.approx(
        float(w2.embedder.embed(["dentist appointment"])[0]
              @ w2.embedder.embed(["dentist appointment on Friday"])[0]), abs=0.01)
    w2.close()


def test_write_commands_fold_the_delta_into_the_file(clocked, monkeypatch) -> None:
    from pai_cli.backends.local import vector_index

    monkeypatch.setattr(vector_index, "DELTA_FOLD", 10)
    w, _ = clocked
    for i in range(8):
        w.memories.add("alice", f"memory {i} about sailing")
    w.memories.index.compact("alice")
    for i in range(8, 25):
        w.memories.add("alice", f"memory {i} about sailing")
    w.memories.search("alice", "sailing", 3)
    assert "-k8-" in index_files(w)[0].name  # a query does not fold small deltas
    w.memories.maintain("alice")
    [path] = index_files(w)
    assert "-k25-" in path.name
    for _ in range(3):
        w.memories.forget("alice", w.memories.list("alice", limit=1)[0].id)
    ids = [h.memory.id for h in w.memories.search("alice", "sailing", 30, mode="vector")]
    assert len(ids) == 22


def test_ann_agrees_with_exact_search(clocked) -> None:
    w, _ = clocked
    rng = np.random.default_rng(7)
    vocab = ["garden", "tomato", "invoice", "train", "piano", "doctor", "tax", "birthday",
             "holiday", "boiler", "laptop", "marathon", "recipe", "school", "insurance"]
    texts = [" ".join(rng.choice(vocab, 6)) + f" item {i}" for i in range(2000)]
    from pai_cli.records import ImportRecord

    w.memories.import_records("alice", [ImportRecord(i, t, "general", None, None)
                                        for i, t in enumerate(texts)])
    w.memories.index.compact("alice")
    rows = w.db.execute("SELECT memory_id, vec FROM vectors WHERE user_id='alice'").fetchall()
    ids = [r[0] for r in rows]
    mat = np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), -1)
    mat = mat.astype(np.float32)
    hits = 0
    for q in texts[:50]:
        v = w.embedder.embed([q])[0]
        exact = {ids[i] for i in np.argsort(-(mat @ v))[:10]}
        ann = {m for m, _ in w.memories.index.query("alice", v, 10, None)}
        hits += len(exact & ann)
    assert hits / 500 >= 0.9


def test_category_filter_on_vectors(clocked) -> None:
    w, _ = clocked
    for i in range(40):
        w.memories.add("alice", f"work item {i}: quarterly report", "work")
    w.memories.add("alice", "quarterly report for the book club", "hobbies")
    w.memories.index.compact("alice")
    hits = w.memories.search("alice", "quarterly report", 5, category="hobbies")
    assert [h.memory.category for h in hits] == ["hobbies"]


def test_other_embedding_model_is_refused_until_reindex(pai_home: Path) -> None:
    pai("memory", "add", "indexed with the current model")
    con = sqlite3.connect(pai_home / "pai.db")
    con.execute("UPDATE meta SET value = 'other/model:384' WHERE key = 'embed_model:alice'")
    con.commit()
    con.close()
    for cmd in (("search", "model"), ("memory", "add", "more"), ("chat", "-m", "hi")):
        r = pai(*cmd)
        assert r.code == 3 and "pai memory reindex" in r.err, cmd
    r = pai("memory", "reindex", "--json")
    assert r.code == 0 and json.loads(r.out) == {"reindexed": 1}
    assert json.loads(pai("search", "current model", "--json").out)[0]["content"] == (
        "indexed with the current model")


def test_keyword_search_at_scale_keeps_rare_words_and_bounds_common_ones(clocked,
                                                                         monkeypatch) -> None:
    """Past 1,000 rows, terms in over half the rows are dropped and a term too common for
    the posting budget is ranked over the newest rows only; a rare word is always found."""
    from pai_cli.backends.local import memory_store
    from pai_cli.records import ImportRecord

    monkeypatch.setattr(memory_store, "POSTING_BUDGET", 100)
    w, _ = clocked
    records = [ImportRecord(0, "the zeppelin ticket is in the red folder", "misc", None, "mem-rare")]
    records += [ImportRecord(i, f"garden note {i} about watering tomatoes"
                             + (" and basil" if i % 5 == 0 else ""), "misc", None,
                             f"mem-{i:05d}") for i in range(1, 1500)]
    w.memories.import_records("alice", records)
    rare = w.memories.search("alice", "zeppelin", 3, mode="keyword")
    assert [h.memory.id for h in rare] == ["mem-rare"]
    common = w.memories.search("alice", "tomatoes watering", 10, mode="keyword")
    assert common == []  # in nearly every row: no BM25 weight, not worth scoring
    basil = w.memories.search("alice", "basil", 10, mode="keyword")  # 300 rows > budget 100
    assert len(basil) == 10 and all(int(h.memory.id[4:]) % 5 == 0 for h in basil)
    assert min(int(h.memory.id[4:]) for h in basil) >= 1000  # ranked over the newest third
