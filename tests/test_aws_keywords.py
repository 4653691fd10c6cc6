"""Keyword evidence on the AWS home (backends/aws/term_index.py): BM25 over blinded terms
whose postings live in the memories table, scored exactly as the local home scores them.
DynamoDB, S3 and KMS on moto; the vectors in moto's S3 Vectors."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from pai_cli.backends.aws.term_index import TermIndex, partition
from pai_cli.config import load_settings
from pai_cli.records import ImportRecord
from pai_cli.wiring import Wiring

NOTES = [
    ("Quentin adopted a greyhound called Pretzel in March", "pets"),
    ("The greyhound Pretzel hates thunderstorms and hides under the bed", "pets"),
    ("Quentin started a new job as a pharmacist at Greenway Pharmacy", "work"),
    ("We had ramen in Osaka with Quentin's sister Mila", "food"),
    ("Mila moved to Tallinn for a job at a design studio", "family"),
    ("The boiler PIN is 4471 and the spare key is under the blue pot", "home"),
]
QUERIES = ["Quentin greyhound", "Pretzel", "where does Mila work", "boiler PIN 4471",
           "ramen Osaka", "nothing matches this zebra"]


def postings(info: dict, user: str) -> list[dict]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    items = ddb.query(TableName=info["memories"], KeyConditionExpression="user_id = :u",
                      ExpressionAttributeValues={":u": {"S": partition(user)}})["Items"]
    return [i for i in items if not i["memory_id"]["S"].startswith("#")]


def stats(info: dict, user: str) -> tuple[int, int]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    item = ddb.get_item(TableName=info["memories"], Key={
        "user_id": {"S": partition(user)}, "memory_id": {"S": "#stats"}}).get("Item", {})
    return int(item.get("rows", {}).get("N", 0)), int(item.get("length", {}).get("N", 0))


def test_keyword_scores_match_the_local_home(aws_wiring: tuple[Wiring, dict], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    w, _ = aws_wiring
    for text, cat in NOTES:
        w.memories.add("alice", text, cat)
    remote = {q: [(h.memory.content, h.score) for h in
                  w.memories.search("alice", q, 10, mode="keyword")] for q in QUERIES}
    local_home = tmp_path / "local"
    local_home.mkdir()
    (local_home / "config.toml").write_text('embedder = "local"\n')
    monkeypatch.setenv("PAI_HOME", str(local_home))
    monkeypatch.delenv("PAI_BACKEND", raising=False)
    local = Wiring(load_settings("alice", backend="local"))
    try:
        assert not local.is_aws
        for text, cat in NOTES:
            local.memories.add("alice", text, cat)
        for q in QUERIES:
            here = [(h.memory.content, h.score) for h in
                    local.memories.search("alice", q, 10, mode="keyword")]
            assert [c for c, _ in remote[q]] == [c for c, _ in here], q
            assert [s for _, s in remote[q]] == pytest.approx([s for _, s in here], abs=1e-9)
    finally:
        local.close()
    assert remote["Pretzel"] and remote["nothing matches this zebra"] == []


def test_hybrid_search_on_aws_has_keyword_evidence(aws_wiring: tuple[Wiring, dict]) -> None:
    w, _ = aws_wiring
    for text, cat in NOTES:
        w.memories.add("alice", text, cat)
    hits = w.memories.search("alice", "what is the boiler PIN", 3)
    assert hits[0].memory.content.startswith("The boiler PIN")
    assert hits[0].keyword_rank == 1
    only_pets = w.memories.search("alice", "Pretzel", 5, category="pets", mode="keyword")
    assert {h.memory.category for h in only_pets} == {"pets"} and len(only_pets) == 2


def test_edit_forget_and_counts_keep_postings_exact(aws_wiring: tuple[Wiring, dict]) -> None:
    w, info = aws_wiring
    a = w.memories.add("alice", "Mila moved to Tallinn", "family")
    b = w.memories.add("alice", "Quentin adopted a greyhound", "pets")
    assert stats(info, "alice") == (2, len(postings(info, "alice")))
    w.memories.edit("alice", a.id, "Mila moved to Riga")
    assert [h.memory.id for h in w.memories.search("alice", "Riga", 5, mode="keyword")] == [a.id]
    assert w.memories.search("alice", "Tallinn", 5, mode="keyword") == []
    w.memories.forget("alice", b.id)
    assert w.memories.search("alice", "greyhound", 5, mode="keyword") == []
    left = postings(info, "alice")
    assert left and all(p["memory_id"]["S"].endswith(a.id) for p in left)
    assert stats(info, "alice") == (1, len(left))  # every term of a is held once
    bob = w.memories.add("bob", "Mila moved to Riga", "family")
    assert [h.memory.id for h in w.memories.search("bob", "Riga", 5, mode="keyword")] == [bob.id]
    w.memories.forget_all("alice")
    assert postings(info, "alice") == [] and stats(info, "alice") == (0, 0)


def test_import_writes_postings_and_reindex_rebuilds_missing_ones(
        aws_wiring: tuple[Wiring, dict]) -> None:
    w, info = aws_wiring
    added, _ = w.memories.import_records("alice", [
        ImportRecord(line=i, content=text, category=cat, created_at=None, id=None)
        for i, (text, cat) in enumerate(NOTES, 1)])
    assert added == len(NOTES)
    assert stats(info, "alice")[0] == len(NOTES)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    stale = {"user_id": {"S": partition("alice")}, "memory_id": {"S": "tzzzz#0#mem-gone"}}
    ddb.put_item(TableName=info["memories"], Item={**stale, "tf": {"N": "1"}, "dl": {"N": "1"},
                                                    "cat": {"S": "misc"}})
    for p in postings(info, "alice"):  # as a home written before keyword evidence
        ddb.delete_item(TableName=info["memories"],
                        Key={"user_id": p["user_id"], "memory_id": p["memory_id"]})
    assert w.memories.search("alice", "Pretzel", 5, mode="keyword") == []
    assert w.memories.reindex("alice") == len(NOTES)
    kept = postings(info, "alice")
    assert kept and all("mem-gone" not in p["memory_id"]["S"] for p in kept)
    assert len(w.memories.search("alice", "Pretzel", 5, mode="keyword")) == 2
    assert stats(info, "alice") == (len(NOTES), sum(int(p["tf"]["N"]) for p in kept))


def test_the_blinding_key_is_kept_once_and_shared_by_sessions(aws_wiring: tuple[Wiring, dict]) -> None:
    w, info = aws_wiring
    index = TermIndex(w.aws, info["memories"], "test")
    assert index.kept_key("carol") is None
    assert index.keep_key("carol", b"first") == b"first"
    assert index.keep_key("carol", b"second") == b"first"  # a racing first session loses
    m = w.memories.add("alice", "The spare key is under the blue pot")
    fresh = Wiring(load_settings("alice"))
    try:
        hits = fresh.memories.search("alice", "spare key", 3, mode="keyword")
        assert [h.memory.id for h in hits] == [m.id]
    finally:
        fresh.close()


def test_a_kept_key_kms_cannot_open_is_replaced(aws_wiring: tuple[Wiring, dict]) -> None:
    w, info = aws_wiring
    index = TermIndex(w.aws, info["memories"], "test")
    index.keep_key("alice", b"not a KMS ciphertext at all")
    m = w.memories.add("alice", "Pretzel hides under the bed")
    assert index.kept_key("alice") != b"not a KMS ciphertext at all"
    fresh = Wiring(load_settings("alice"))
    try:
        assert [h.memory.id for h in fresh.memories.search("alice", "Pretzel", 3,
                                                           mode="keyword")] == [m.id]
    finally:
        fresh.close()


def test_a_term_past_the_posting_budget_ranks_only_its_newest(aws_wiring: tuple[Wiring, dict]) -> None:
    w, info = aws_wiring
    ids = [w.memories.add("alice", f"greyhound walk number {i}", "pets").id for i in range(6)]
    index = TermIndex(w.aws, info["memories"], "test")
    blinded = w.cipher.blind("alice", ["greyhound"])
    found = index.search("alice", blinded, 10, None, budget=3)
    assert len(found) == 3
    assert set(dict(found)) <= set(ids)
    newest = {m.id for m in sorted(w.memories.list("alice", limit=None),
                                   key=lambda m: m.created_at)[-3:]}
    assert set(dict(found)) == newest


def test_a_keyword_search_is_one_query_per_term_and_one_read_of_the_counts(
        aws_wiring: tuple[Wiring, dict]) -> None:
    """The budget on AWS: the terms' Queries go out side by side, so a search costs about
    one DynamoDB round trip more than vector recall alone; a write, one BatchWriteItem."""
    w, info = aws_wiring
    for text, cat in NOTES:
        w.memories.add("alice", text, cat)
    client = w.aws.client("dynamodb")
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb.*",
                                lambda model, **_: calls.append(model.name))
    blinded = w.cipher.blind("alice", ["quentin", "greyhound", "pretzel"])
    assert len(w.memories.store.keyword_search("alice", blinded, 10, None, 0.0)) == 4
    assert sorted(calls) == ["GetItem", "Query", "Query", "Query"]
    calls.clear()
    w.memories.store.terms.put("alice", "mem-x", 1.0, "misc", " ".join(blinded * 2))
    assert calls == ["BatchWriteItem"]


def test_postings_expire_with_their_memory_and_a_lost_race_leaves_none(
        aws_wiring: tuple[Wiring, dict]) -> None:
    from dataclasses import replace

    w, info = aws_wiring
    m = w.memories.add("alice", "The greyhound Pretzel hates thunderstorms", pinned=False)
    stored = w.memories.store.get("alice", m.id, 0.0)
    assert stored is not None and stored.expires_at is not None
    assert {p["ttl"]["N"] for p in postings(info, "alice")} == {str(int(stored.expires_at))}
    # An edit that loses to a forget: its postings must not outlive the memory.
    w.memories.forget("alice", m.id)
    assert w.memories.store.update(replace(stored, terms=stored.terms + " tzzzzzz")) is False
    assert postings(info, "alice") == []


def test_the_sweep_keeps_postings_of_a_memory_written_meanwhile(
        aws_wiring: tuple[Wiring, dict]) -> None:
    w, info = aws_wiring
    m = w.memories.add("alice", "Quentin adopted a greyhound")
    store = w.memories.store
    # The sweep's first read missed m (written just after it): the re-read finds it.
    assert store.terms.sweep("alice", {}, lambda ids: store._held_terms("alice", ids)) == 0
    held = len(set(store.get("alice", m.id, 0.0).terms.split()))
    assert len(postings(info, "alice")) == held
    # Gone by the re-read too: then they go.
    assert store.terms.sweep("alice", {}, lambda ids: {}) == held
    assert postings(info, "alice") == []


def test_a_replaced_key_is_replaced_once_when_two_sessions_race(
        aws_wiring: tuple[Wiring, dict]) -> None:
    w, info = aws_wiring
    index = TermIndex(w.aws, info["memories"], "test")
    index.keep_key("dana", b"old")
    assert index.keep_key("dana", b"mine", replace=b"old") == b"mine"
    assert index.keep_key("dana", b"theirs", replace=b"old") == b"mine"  # the winner's


def test_a_search_s_state_check_reads_no_content_or_terms(aws_wiring: tuple[Wiring, dict]) -> None:
    w, _ = aws_wiring
    m = w.memories.add("alice", "Quentin adopted a greyhound called Pretzel", "pets")
    (state,) = w.memories.store.get_states("alice", [m.id], 0.0)
    assert (state.content, state.terms) == (b"", "")
    assert (state.category, state.status) == ("pets", "active")
    assert state.created_at == pytest.approx(m.created_at, abs=1e-6)  # stored to the microsecond
    (full,) = w.memories.store.get_many("alice", [m.id], 0.0)
    assert full.content and full.terms
