"""One contract, every home: each test here runs on the local home, on the AWS home
(DynamoDB, S3, KMS and S3 Vectors or OpenSearch on moto and a fake), and on the in-memory
port fakes of tests/fakes/ports.py, so none of them can drift from the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import pai
from fakes.aws_home import moto_aws_home
from fakes.home import FakeHome
from fakes.opensearch_server import aoss_fake

from pai_cli.config import load_settings
from pai_cli.core.memory_service import DAY
from pai_cli.errors import BackendError, InputError, NotFound
from pai_cli.records import ImportRecord
from pai_cli.wiring import Wiring


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "aws", "aws-opensearch", "fakes"])
def home(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
         pai_home: Path) -> Iterator[str]:
    pai_home.mkdir(parents=True, exist_ok=True)
    if request.param in ("local", "fakes"):
        yield request.param
        return
    if request.param == "aws":
        (pai_home / "config.toml").write_text('embedder = "local"\n')
        with moto_aws_home(monkeypatch):
            yield "aws"
        return
    with aoss_fake() as (_, server), moto_aws_home(monkeypatch):
        (pai_home / "config.toml").write_text(
            'embedder = "local"\nvector_store = "opensearch"\n'
            f'aws_names = {{ opensearch_endpoint = "{server.url}" }}\n')
        yield "aws-opensearch"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wiring(home: str, clock: Clock) -> Iterator[Wiring]:
    """A Wiring, or for the fakes a FakeHome: both give .memories and .chat. The fakes get
    the real local embedder: the contract ranks by meaning, which only a model can do."""
    if home == "fakes":
        from pai_cli.backends.local.embedder import WordLlamaEmbedder

        w: Any = FakeHome(clock=clock, embedder=WordLlamaEmbedder())
    else:
        w = Wiring(load_settings("alice"), clock=clock)
    yield w
    w.close()


def test_memory_round_trip(wiring: Wiring) -> None:
    svc = wiring.memories
    a = svc.add("alice", "Maya starts kindergarten at Oakwood Elementary", "family")
    b = svc.add("alice", "Penicillin gives me hives", "health", pinned=False)
    assert svc.get("alice", a.id[:10]).content == a.content
    assert [m.id for m in svc.list("alice", "health")] == [b.id]
    assert {m.id for m in svc.list("alice")} == {a.id, b.id}
    edited = svc.edit("alice", a.id, "Maya starts kindergarten at Lakeside Elementary")
    assert svc.get("alice", a.id).content == edited.content
    hits = svc.search("alice", "which school is my daughter going to", 2)
    assert hits[0].memory.id == a.id and "Lakeside" in hits[0].memory.content
    assert svc.set_pinned("alice", b.id, True).expires_at is None
    svc.forget("alice", a.id)
    with pytest.raises(NotFound):
        svc.get("alice", a.id)
    assert [h.memory.id for h in svc.search("alice", "kindergarten school or hives", 5)] == [b.id]
    assert svc.count("alice") == 1


def test_users_are_isolated(wiring: Wiring) -> None:
    svc = wiring.memories
    a = svc.add("alice", "Alice hides the spare key under the heron statue", "home")
    svc.add("bob", "Bob parks on level 3", "car")
    assert [h.memory.user_id for h in svc.search("bob", "spare key heron statue", 5)] == ["bob"]
    for action in (lambda: svc.get("bob", a.id), lambda: svc.forget("bob", a.id),
                   lambda: svc.edit("bob", a.id, "mine now")):
        with pytest.raises(NotFound):
            action()
    assert [m.content for m in svc.list("bob")] == ["Bob parks on level 3"]
    assert svc.get("alice", a.id).content.startswith("Alice hides")


def test_chat_turn_and_conversations(wiring: Wiring) -> None:
    wiring.memories.add("alice", "Our cat Miso hates the vacuum cleaner", "pets")
    first = wiring.chat.turn("alice", "is Miso afraid of the vacuum?")
    assert first.recalled[0].memory.content == "Our cat Miso hates the vacuum cleaner"
    wiring.chat.remember_pending("alice")
    second = wiring.chat.turn("alice", "and is Miso afraid of the hoover?", first.conversation_id)
    wiring.chat.remember_pending("alice")
    convs = wiring.chat.list_conversations("alice")
    assert [c.id for c in convs] == [first.conversation_id] and convs[0].messages == 2
    assert [m.content for m in wiring.chat.messages("alice", second.conversation_id)] == [
        "is Miso afraid of the vacuum?", "and is Miso afraid of the hoover?"]
    # Both messages only asked: the conversation holds them, memory does not.
    assert [m.content for m in wiring.memories.list("alice")] == [
        "Our cat Miso hates the vacuum cleaner"]
    third = wiring.chat.turn("alice", "Miso also hides from the blender.", first.conversation_id)
    wiring.chat.remember_pending("alice")
    assert wiring.memories.count("alice") == 2 and third.conversation_id == first.conversation_id
    assert wiring.chat.list_conversations("bob") == []
    wiring.chat.delete_conversation("alice", first.conversation_id)
    assert wiring.chat.list_conversations("alice") == []


def test_expiry_and_pins(wiring: Wiring, clock: Clock) -> None:
    svc = wiring.memories
    pinned = svc.add("alice", "plot 42 at the allotment", pinned=True)
    svc.add("alice", "the gate code is 1911", pinned=False)
    cid = wiring.chat.turn("alice", "short-lived message").conversation_id
    clock.now += 366 * DAY
    assert [m.id for m in svc.list("alice")] == [pinned.id]
    assert [h.memory.id for h in svc.search("alice", "allotment gate code", 5)] == [pinned.id]
    assert wiring.chat.list_conversations("alice") == []
    with pytest.raises(NotFound):
        wiring.chat.messages("alice", cid)


def test_import_is_idempotent_and_export_round_trips(wiring: Wiring) -> None:
    svc = wiring.memories
    records = [ImportRecord(i, f"fact {i}: shelf {i} holds jars", "home", None, f"mem-fx-{i}")
               for i in range(12)]
    assert svc.import_records("alice", records, batch_size=5) == (12, 0)
    assert svc.import_records("alice", records, batch_size=5) == (0, 12)
    assert sorted(m.id for m in svc.export("alice")) == sorted(r.id for r in records)


def test_bad_input_is_refused_the_same_way(wiring: Wiring) -> None:
    with pytest.raises(InputError):
        wiring.memories.add("alice", "   ")
    with pytest.raises(NotFound):
        wiring.memories.get("alice", "mem-nope")


def test_port_edges_every_home_agrees_on(wiring: Wiring, clock: Clock) -> None:
    """Where the homes once disagreed: update of a missing memory, expiry of other users."""
    svc = wiring.memories
    store, now = svc.store, clock.now
    mine = svc.add("alice", "the spare bike lock key is in the blue tin", pinned=False)
    theirs = svc.add("bob", "bob's locker is number 12", pinned=False)
    sealed = store.get("alice", mine.id, now)
    assert sealed is not None
    ghost = replace(sealed, id="mem-00000000-ghost")
    assert store.update(ghost) is False  # no error, nothing created
    assert store.get("alice", ghost.id, now) is None
    assert store.update(replace(sealed, user_id="bob")) is False  # not bob's to change
    assert store.get("bob", mine.id, now) is None
    assert store.update(replace(sealed, category="home")) is True
    assert store.get("alice", mine.id, now).category == "home"
    with pytest.raises(NotFound):  # the service turns a vanished memory into NotFound
        svc.edit("alice", "mem-00000000-ghost", "x")

    later = now + 366 * DAY
    assert store.purge_expired("alice", later) == [mine.id]
    assert [m.id for m in store.iter_all("bob", now)] == [theirs.id]  # bob's row is untouched
    assert store.purge_expired("alice", later) == []
    assert set(svc.index.keys_of("bob")) >= {theirs.id}
    assert store.sweep_orphans("alice") == 0

    cid = wiring.chat.turn("alice", "alice's short-lived message").conversation_id
    wiring.chat.turn("bob", "bob's short-lived message")
    convs = wiring.chat.conversations
    assert convs.purge_expired("alice", later) in (0, 1)  # DynamoDB's TTL does it there
    assert convs.messages("alice", cid, later) == []
    assert len(convs.conversations("bob", now, 10)) == 1


def test_a_memory_life_and_its_undo_on_every_home(wiring: Wiring, clock: Clock) -> None:
    """Superseded state and events live in each home's own store (SQLite, DynamoDB)."""
    from pai_cli.core.history import HistoryService

    svc = wiring.memories
    hist = HistoryService(svc)
    old = svc.add("alice", "The user lives in Lisbon", "fact", pinned=False, origin="extraction",
                  actor="extraction", batch="bat-0")
    clock.now += DAY
    new = svc.add("alice", "The user lives in Porto", "fact", pinned=False,
                  origin="extraction", actor="extraction", batch="bat-1")
    svc.change(old, replace(old, status="superseded", superseded_by=new.id,
                            valid_to=clock.now), "superseded", "extraction", batch="bat-1")
    assert [m.id for m in svc.list("alice")] == [new.id]
    assert {m.id for m in svc.list("alice", include_inactive=True)} == {old.id, new.id}
    assert [h.memory.id for h in svc.search("alice", "where does the user live", 5,
                                             min_score=0.0)] == [new.id]
    held = svc.search("alice", "where does the user live", 5, min_score=0.0,
                      as_of=clock.now - DAY / 2)
    assert [h.memory.id for h in held] == [old.id]
    events = hist.history("alice", old.id)[1]
    assert [e.kind for e in events] == ["created", "superseded"]
    assert events[0].after == "The user lives in Lisbon"  # sealed and opened again
    hist.undo("alice", events[1].id)  # the batch: Lisbon back, Porto retired
    assert [m.content for m in svc.list("alice")] == ["The user lives in Lisbon"]
    assert hist.log("bob", 0) == []
    svc.forget("alice", old.id)
    assert all(e.before is None and e.after is None for e in hist.history("alice", old.id)[1])


# -- what only the AWS home can show --------------------------------------------------------
SECRET = "Zanzibar quokka marmalade belongs to Grandma Ottoline"
WORDS = [b"zanzibar", b"quokka", b"marmalade", b"ottoline"]


def everything_stored(info: dict) -> bytes:
    import boto3

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    vec = boto3.client("s3vectors", region_name="us-east-1")
    blob = b""
    for table in (info["memories"], info["conversations"]):
        for item in ddb.scan(TableName=table)["Items"]:
            blob += json.dumps(item, default=lambda b: b.decode("latin-1")).encode()
    for v in s3.list_object_versions(Bucket=info["bucket"]).get("Versions", []):
        blob += s3.get_object(Bucket=info["bucket"], Key=v["Key"], VersionId=v["VersionId"])[
            "Body"].read()
    blob += json.dumps(vec.list_vectors(vectorBucketName=info["vector_bucket"],
                                        indexName="memories", returnMetadata=True)).encode()
    return blob.lower()


def test_no_plaintext_reaches_dynamodb_s3_or_vectors(aws_wiring) -> None:
    w, info = aws_wiring
    m = w.memories.add("alice", SECRET, "family")
    w.memories.edit("alice", m.id, SECRET + " and her quokka")
    w.chat.turn("alice", "remind me about the Zanzibar quokka marmalade")
    w.chat.remember_pending("alice")
    stored = everything_stored(info)
    assert b"alice" in stored  # the scan really saw the records
    for word in WORDS:
        assert word not in stored


def test_forget_removes_item_every_s3_version_and_the_vector(aws_wiring) -> None:
    import boto3

    w, info = aws_wiring
    m = w.memories.add("alice", "first version", "misc")
    w.memories.edit("alice", m.id, "second version")
    s3 = boto3.client("s3", region_name="us-east-1")
    key = f"memories/alice/{m.id}.json"
    assert len(s3.list_object_versions(Bucket=info["bucket"], Prefix=key)["Versions"]) == 2
    w.memories.forget("alice", m.id)
    listed = s3.list_object_versions(Bucket=info["bucket"], Prefix=key)
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []
    vec = boto3.client("s3vectors", region_name="us-east-1")
    assert vec.list_vectors(vectorBucketName=info["vector_bucket"], indexName="memories")[
        "vectors"] == []
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    assert ddb.get_item(TableName=info["memories"],
                        Key={"user_id": {"S": "alice"}, "memory_id": {"S": m.id}}).get("Item") is None


def test_ciphertext_moved_to_another_record_or_user_fails(aws_wiring) -> None:
    import boto3

    w, info = aws_wiring
    a = w.memories.add("alice", "alice secret one")
    b = w.memories.add("alice", "alice secret two")
    c = w.memories.add("bob", "bob's note")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    table = info["memories"]
    blob = ddb.get_item(TableName=table, Key={"user_id": {"S": "alice"},
                                              "memory_id": {"S": a.id}})["Item"]["content"]
    for user, mid in (("alice", b.id), ("bob", c.id)):
        ddb.update_item(TableName=table, Key={"user_id": {"S": user}, "memory_id": {"S": mid}},
                        UpdateExpression="SET content = :c", ExpressionAttributeValues={":c": blob})
    fresh = Wiring(load_settings("alice"))  # a new session: no data keys cached
    assert fresh.memories.get("alice", a.id).content == "alice secret one"
    with pytest.raises(BackendError):
        fresh.memories.get("alice", b.id)
    with pytest.raises(BackendError):
        fresh.memories.get("bob", c.id)


def test_one_kms_data_key_per_session_not_per_record(aws_wiring) -> None:
    w, _ = aws_wiring
    for i in range(20):
        w.memories.add("alice", f"note {i}")
    w.memories.list("alice")
    assert w.cipher.kms_calls == 2  # a content key, and the blinding key made and kept
    fresh = Wiring(load_settings("alice"))
    assert len(fresh.memories.list("alice", limit=None)) == 20
    assert fresh.cipher.kms_calls == 1  # one Decrypt for the one wrapped key they share
    assert [h.memory.content for h in fresh.memories.search("alice", "note 7", 1)] == ["note 7"]
    assert fresh.cipher.kms_calls == 2  # and one for the kept blinding key, not a new one


def test_cli_runs_against_the_aws_home(aws_wiring) -> None:
    r = pai("--backend", "aws", "--env", "test", "memory", "add", "The boiler PIN is 4471",
            "--json")
    assert r.code == 0, r.err
    mid = json.loads(r.out)["id"]
    hits = json.loads(pai("search", "boiler pin", "--json").out)
    assert hits[0]["id"] == mid
    assert pai("memory", "forget", mid).code == 0


def test_missing_table_says_which_and_suggests_deploy(aws_wiring) -> None:
    import boto3

    w, info = aws_wiring
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=info["memories"])
    r = pai("memory", "list")
    assert r.code == 3
    assert info["memories"] in r.err and "pai deploy" in r.err and "Traceback" not in r.err


def test_migrate_local_to_aws_and_back_resumes_without_loss(aws_wiring, pai_home) -> None:
    local = Wiring(load_settings("alice", backend="local"))
    for i in range(7):
        local.memories.add("alice", f"migrated fact {i} about the garden", "home",
                           pinned=i % 2 == 0)
    local.close()
    r = pai("migrate", "--from", "local", "--to", "aws", "--env", "test", "--batch", "3",
            "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["moved"] == 7
    again = json.loads(pai("migrate", "--from", "local", "--to", "aws", "--env", "test",
                           "--json").out)
    assert again["moved"] == 0 and again["already_there"] == 7
    aws_list = json.loads(pai("--backend", "aws", "--env", "test", "memory", "list",
                              "--json").out)
    assert sorted(m["content"] for m in aws_list) == [f"migrated fact {i} about the garden"
                                                      for i in range(7)]
    assert {m["category"] for m in aws_list} == {"home"}
    assert sum(m["pinned"] for m in aws_list) == 4
    hits = json.loads(pai("--backend", "aws", "--env", "test", "search", "garden fact",
                          "--json").out)
    assert len(hits) == 5
    # ...and back, into a fresh local home.
    import os

    os.environ["PAI_HOME"] = str(pai_home.parent / "second-home")
    try:
        back = json.loads(pai("migrate", "--from", "aws", "--to", "local", "--env", "test",
                              "--json").out)
        assert back["moved"] == 7
        local_list = json.loads(pai("--backend", "local", "memory", "list", "--json").out)
        assert sorted(m["id"] for m in local_list) == sorted(m["id"] for m in aws_list)
    finally:
        os.environ["PAI_HOME"] = str(pai_home)
