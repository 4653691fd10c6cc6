"""The one envelope format of both homes, and the records written before it still opening.

The fixtures under tests/fixtures were made by the ciphers this module replaced (pai at
commit 964cccb): `legacy_envelope.json` holds 0x01 records of the key-file cipher with its
data-key table and blinded terms, and 0x02 records of the KMS cipher with the data keys
GenerateDataKey returned (a later moto session cannot Decrypt an earlier one's keys, so KMS
is answered through botocore's Stubber with what KMS returned then); `legacy_home/` is a
local home (pai.db, master.key) written through the CLI."""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.stub import Stubber
from conftest import pai

from pai_cli.backends.aws.kms_cipher import KmsCipher, context
from pai_cli.backends.aws.session import Aws
from pai_cli.backends.envelope import VERSION, KeyMismatch
from pai_cli.backends.local.cipher import LocalCipher
from pai_cli.backends.local.db import Database
from pai_cli.config import load_settings
from pai_cli.errors import BackendError
from pai_cli.wiring import Wiring

FIXTURES = Path(__file__).parent / "fixtures"
LEGACY = json.loads((FIXTURES / "legacy_envelope.json").read_text(encoding="utf-8"))
TEXTS = ["Maya's school is Oakwood Elementary", "héllo wörld ✓", "", "x" * 5000]


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def kms_key(creds: None) -> Iterator[tuple[Aws, str]]:
    from moto import mock_aws

    with mock_aws():
        aws = Aws("us-east-1")
        yield aws, aws.client("kms").create_key()["KeyMetadata"]["KeyId"]


@pytest.fixture(params=["local", "kms"])
def make_cipher(request: pytest.FixtureRequest, tmp_path: Path):
    """A factory of ciphers of one home: each call is a new session over the same keys."""
    if request.param == "local":
        db = Database(tmp_path / "pai.db")
        yield lambda: LocalCipher(db, b"k" * 32)
        db.close()
    else:
        aws, key_id = request.getfixturevalue("kms_key")
        yield lambda: KmsCipher(aws, key_id)


# -- the one format -----------------------------------------------------------------------

def test_round_trip_in_the_shared_format_across_sessions(make_cipher) -> None:
    writer = make_cipher()
    blobs = [writer.seal("alice", "memory", f"m{i}", t) for i, t in enumerate(TEXTS)]
    reader = make_cipher()  # another session: nothing cached
    for i, (blob, t) in enumerate(zip(blobs, TEXTS, strict=True)):
        assert blob[:1] == VERSION
        (n,) = struct.unpack("!H", blob[1:3])
        assert len(blob) == 3 + n + 12 + len(t.encode()) + 16
        assert reader.open("alice", "memory", f"m{i}", blob) == t
        assert writer.open("alice", "memory", f"m{i}", blob) == t
    assert blobs[0] != writer.seal("alice", "memory", "m0", TEXTS[0])  # a fresh nonce each time


def test_a_ciphertext_moved_to_another_record_kind_or_user_fails(make_cipher) -> None:
    cipher = make_cipher()
    blob = cipher.seal("alice", "memory", "m1", "alice's secret")
    cipher.seal("bob", "memory", "m1", "bob has keys of his own")
    for user, kind, rid in [("bob", "memory", "m1"), ("alice", "message", "m1"),
                            ("alice", "memory", "m2")]:
        for session in (cipher, make_cipher()):
            with pytest.raises(BackendError, match="could not be decrypted"):
                session.open(user, kind, rid, blob)


def test_altered_truncated_or_unknown_records_fail_with_one_line(make_cipher) -> None:
    cipher = make_cipher()
    blob = cipher.seal("alice", "memory", "m1", "some text")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    for bad in (flipped, blob[:-20], blob[:5]):
        with pytest.raises(BackendError, match="could not be decrypted"):
            cipher.open("alice", "memory", "m1", bad)
    for bad in (b"", VERSION, b"\x07" + blob[1:]):
        with pytest.raises(BackendError, match="unknown encryption format"):
            cipher.open("alice", "memory", "m1", bad)


def test_a_wrapped_key_from_another_user_does_not_unwrap(make_cipher) -> None:
    """The wrapper binds a data key to its user and purpose (associated data for the key
    file, encryption context for KMS): Alice's key never opens for Bob, or as an index key."""
    cipher = make_cipher()
    blob = cipher.seal("alice", "memory", "m1", "alice's secret")
    (n,) = struct.unpack("!H", blob[1:3])
    wrapped = blob[3:3 + n]
    assert len(make_cipher().wrapper.unwrap("alice", "content", wrapped)) == 32
    for user, purpose in (("bob", "content"), ("alice", "index")):
        with pytest.raises(KeyMismatch):
            make_cipher().wrapper.unwrap(user, purpose, wrapped)
    with pytest.raises(BackendError, match="could not be decrypted"):
        make_cipher().open("bob", "memory", "m1", blob)


def test_blinding_is_per_user_and_stable_within_a_session(make_cipher) -> None:
    cipher = make_cipher()
    a = cipher.blind("alice", ["tea", "oakwood", "tea"])
    assert a[0] == a[2] and a[0] != a[1]
    assert a == cipher.blind("alice", ["tea", "oakwood", "tea"])
    assert a != cipher.blind("bob", ["tea", "oakwood", "tea"])
    assert all(t.startswith("t") and len(t) == 17 and t[1:].isalnum() for t in a)


def test_local_blinding_is_the_same_in_every_session(tmp_path: Path) -> None:
    db = Database(tmp_path / "pai.db")
    assert LocalCipher(db, b"k" * 32).blind("alice", ["tea"]) == \
        LocalCipher(db, b"k" * 32).blind("alice", ["tea"])


def test_one_generate_data_key_per_user_and_one_decrypt_per_wrapped_key(kms_key) -> None:
    aws, key_id = kms_key
    first = KmsCipher(aws, key_id)
    blobs = [first.seal("alice", "memory", f"m{i}", f"note {i}") for i in range(20)]
    blobs += [first.seal("alice", "message", f"g{i}", f"msg {i}") for i in range(5)]
    assert first.kms_calls == 1
    assert first.open("alice", "memory", "m3", blobs[3]) == "note 3"
    assert first.kms_calls == 1  # its own key needs no Decrypt
    second = KmsCipher(aws, key_id)
    blobs.append(second.seal("alice", "memory", "m99", "from session two"))
    third = KmsCipher(aws, key_id)
    for i in range(20):
        assert third.open("alice", "memory", f"m{i}", blobs[i]) == f"note {i}"
    assert third.open("alice", "memory", "m99", blobs[-1]) == "from session two"
    assert third.kms_calls == 2  # two sessions wrote, so two distinct wrapped keys
    third.seal("bob", "memory", "b1", "bob")
    assert third.kms_calls == 3


# -- records written before this format -----------------------------------------------------

def legacy_local_db(tmp_path: Path) -> Database:
    db = Database(tmp_path / "legacy.db")
    with db.transaction():
        for k in LEGACY["local"]["data_keys"]:
            db.execute("INSERT INTO data_keys (user_id, purpose, wrapped, created_at) "
                       "VALUES (?, ?, ?, 0)", (k["user"], k["purpose"], bytes.fromhex(k["wrapped"])))
    return db


def test_local_0x01_records_from_the_previous_cipher_open(tmp_path: Path) -> None:
    cipher = LocalCipher(legacy_local_db(tmp_path), bytes.fromhex(LEGACY["local"]["master_key"]))
    records = LEGACY["local"]["records"]
    assert {r["kind"] for r in records} == {"memory", "message", "job", "input"}
    for r in records:
        blob = bytes.fromhex(r["blob"])
        assert blob[:1] == b"\x01"
        assert cipher.open(r["user"], r["kind"], r["id"], blob) == r["plaintext"]
    # and a legacy record is as bound to its identity as a new one
    r = records[0]
    for user, kind, rid in [("bob", r["kind"], r["id"]), (r["user"], "message", r["id"]),
                            (r["user"], r["kind"], "mem-other")]:
        with pytest.raises(BackendError, match="could not be decrypted"):
            cipher.open(user, kind, rid, bytes.fromhex(r["blob"]))


def test_local_blinded_terms_match_the_ones_already_in_fts(tmp_path: Path) -> None:
    cipher = LocalCipher(legacy_local_db(tmp_path), bytes.fromhex(LEGACY["local"]["master_key"]))
    for user, tokens in LEGACY["local"]["blind"].items():
        assert cipher.blind(user, list(tokens)) == list(tokens.values())


def test_new_local_records_reuse_the_stored_data_key(tmp_path: Path) -> None:
    """0x01 and 0x02 records of one home share the table's data key: no second key per user."""
    db = legacy_local_db(tmp_path)
    cipher = LocalCipher(db, bytes.fromhex(LEGACY["local"]["master_key"]))
    blob = cipher.seal("alice", "memory", "mem-new", "written after the change")
    (n,) = struct.unpack("!H", blob[1:3])
    stored = db.execute("SELECT wrapped FROM data_keys WHERE user_id = 'alice' AND "
                        "purpose = 'content'").fetchone()[0]
    assert blob[3:3 + n] == bytes(stored)
    assert db.execute("SELECT count(*) FROM data_keys").fetchone()[0] == 4


def stub_legacy_decrypts(stub: Stubber, users: list[str]) -> None:
    keys = {k["user"]: k for k in LEGACY["kms"]["data_keys"] if k["purpose"] == "content"}
    for user in users:
        stub.add_response("decrypt", {"Plaintext": bytes.fromhex(keys[user]["plaintext"]),
                                      "KeyId": "fixture"},
                          {"CiphertextBlob": bytes.fromhex(keys[user]["wrapped"]),
                           "EncryptionContext": context(user, "content")})


def test_kms_0x02_records_from_the_previous_cipher_open(creds: None) -> None:
    aws = Aws("us-east-1")
    cipher = KmsCipher(aws, "alias/pai-encryption-dev")
    records = LEGACY["kms"]["records"]
    # Stubber fails on any call not listed: one Decrypt per distinct wrapped key, in order.
    with Stubber(aws.client("kms")) as stub:
        stub_legacy_decrypts(stub, ["alice", "bob"])
        for r in records:
            blob = bytes.fromhex(r["blob"])
            assert blob[:1] == b"\x02"
            assert cipher.open(r["user"], r["kind"], r["id"], blob) == r["plaintext"]
        stub.assert_no_pending_responses()
    assert cipher.kms_calls == 2


def test_a_legacy_kms_record_moved_to_another_user_fails(creds: None) -> None:
    aws = Aws("us-east-1")
    alice = next(r for r in LEGACY["kms"]["records"] if r["user"] == "alice")
    keys = {k["user"]: k for k in LEGACY["kms"]["data_keys"] if k["purpose"] == "content"}
    with Stubber(aws.client("kms")) as stub:
        stub.add_client_error("decrypt", "InvalidCiphertextException", "context mismatch", 400,
                              expected_params={
                                  "CiphertextBlob": bytes.fromhex(keys["alice"]["wrapped"]),
                                  "EncryptionContext": context("bob", "content")})
        with pytest.raises(BackendError, match="could not be decrypted"):
            KmsCipher(aws, "alias/pai-encryption-dev").open("bob", alice["kind"], alice["id"],
                                                            bytes.fromhex(alice["blob"]))


def test_the_kms_home_refuses_local_0x01_records(kms_key) -> None:
    """A 0x01 record names no key: only a home that keeps its data keys can open one."""
    aws, key_id = kms_key
    r = LEGACY["local"]["records"][0]
    with pytest.raises(BackendError, match="unknown encryption format"):
        KmsCipher(aws, key_id).open(r["user"], r["kind"], r["id"], bytes.fromhex(r["blob"]))


def test_a_home_written_by_the_previous_cipher_reads_searches_and_rewrites(
    pai_home: Path,
) -> None:
    shutil.copytree(FIXTURES / "legacy_home", pai_home)
    (pai_home / "master.key").chmod(0o600)
    con = sqlite3.connect(pai_home / "pai.db")
    # The fixture's conversation (7 days) and unpinned memory (a year) would expire: keep
    # them alive. Only plaintext columns change; every blob is as the old cipher wrote it.
    future = time.time() + 30 * 86400
    con.execute("UPDATE messages SET expires_at = ?", (future,))
    con.execute("UPDATE memories SET expires_at = ? WHERE expires_at IS NOT NULL", (future,))
    con.commit()
    assert {row[0][:1] for row in con.execute("SELECT content FROM memories")} == {b"\x01"}
    con.close()
    expected = {"Maya's school is Oakwood Elementary", "The boiler PIN is 4471",
                "Grandma Ottoline keeps the marmalade recipe in the blue tin",
                "Remind me that the quokka lives in Zanzibar"}

    def contents(*extra: str) -> set[str]:
        r = pai("memory", "list", "--json", *extra)
        assert r.code == 0, r.err
        return {m["content"] for m in json.loads(r.out)}

    def keyword_hit(query: str) -> str:
        r = pai("search", query, "--mode", "keyword", "--json")
        assert r.code == 0, r.err
        return json.loads(r.out)[0]["content"]

    assert contents() == expected
    assert contents("--user", "bob") == {"bob parks on level three"}
    assert keyword_hit("Oakwood") == "Maya's school is Oakwood Elementary"  # old FTS tokens
    r = pai("conversations", "list", "--json")
    conv = json.loads(r.out)[0]["id"]
    shown = json.loads(pai("conversations", "show", conv, "--json").out)
    assert [m["content"] for m in shown] == ["Remind me that the quokka lives in Zanzibar"]
    w = Wiring(load_settings("alice"))
    from pai_cli.backends.local.input_history import EncryptedInputHistory

    assert list(EncryptedInputHistory(w.db, w.cipher, "alice").load()) == [
        "what do you know about the quokka?"]
    w.close()

    listed = json.loads(pai("memory", "list", "--json").out)
    boiler = next(m["id"] for m in listed if "boiler" in m["content"])
    assert pai("memory", "edit", boiler, "The boiler PIN is 4471, the fuse box code 12").code == 0
    con = sqlite3.connect(pai_home / "pai.db")
    versions = dict(con.execute("SELECT id, substr(content, 1, 1) FROM memories").fetchall())
    con.close()
    assert versions.pop(boiler) == b"\x02"  # an edit writes the new format...
    assert set(versions.values()) == {b"\x01"}  # ...and leaves the others as they were
    expected = expected - {"The boiler PIN is 4471"} | {
        "The boiler PIN is 4471, the fuse box code 12"}

    assert pai("memory", "reindex").code == 0
    assert pai("memory", "reindex", "--user", "bob").code == 0
    con = sqlite3.connect(pai_home / "pai.db")
    assert {row[0][:1] for row in con.execute("SELECT content FROM memories")} == {b"\x02"}
    assert con.execute("SELECT count(*) FROM data_keys").fetchone()[0] == 4  # same keys
    con.close()
    assert contents() == expected
    assert keyword_hit("marmalade") == "Grandma Ottoline keeps the marmalade recipe in the blue tin"
    assert keyword_hit("Oakwood") == "Maya's school is Oakwood Elementary"

