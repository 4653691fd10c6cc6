"""Nothing pai writes holds message or memory text in the clear; keys guard every record."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from conftest import pai

from pai_cli.backends.local import keyfile
from pai_cli.config import load_settings
from pai_cli.errors import BackendError
from pai_cli.wiring import Wiring

SECRET_SENTENCE = "Zanzibar quokka marmalade recipe belongs to Grandma Ottoline"
WORDS = ["zanzibar", "quokka", "marmalade", "ottoline", "grandma", "recipe"]


def grep_tree(root: Path, needles: list[str]) -> list[tuple[Path, str]]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            for word in needles:
                for form in (word.encode(), word.encode("utf-16-le")):
                    if form in data:
                        found.append((path, word))
    return found


def test_no_plaintext_anywhere_in_the_data_dir(pai_home: Path) -> None:
    assert pai("memory", "add", SECRET_SENTENCE, "-c", "family").code == 0
    assert pai("chat", "-m", "Remind me about the quokka marmalade from Zanzibar").code == 0
    assert pai("search", "Ottoline marmalade").code == 0
    mid = json.loads(pai("memory", "list", "--json").out)[0]["id"]
    assert pai("memory", "edit", mid, SECRET_SENTENCE + " and her quokka").code == 0
    assert pai("memory", "reindex").code == 0  # writes the HNSW side file too
    # Force SQLite to move the WAL into the main file too, then check both.
    con = sqlite3.connect(pai_home / "pai.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    files = [p for p in pai_home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".usearch" for p in files)
    assert grep_tree(pai_home, WORDS) == []


def test_files_are_private(pai_home: Path) -> None:
    pai("memory", "add", "hello")
    assert (pai_home / "master.key").stat().st_mode & 0o777 == 0o600
    assert (pai_home / "pai.db").stat().st_mode & 0o777 == 0o600


def test_first_use_says_where_the_key_is_once() -> None:
    first = pai("memory", "add", "first")
    assert "master key" in first.err and "pai key backup" in first.err
    second = pai("memory", "add", "second")
    assert "master key" not in second.err


def test_ciphertext_moved_to_another_record_or_user_fails(pai_home: Path) -> None:
    a = json.loads(pai("memory", "add", "alice secret one", "--json").out)["id"]
    b = json.loads(pai("memory", "add", "alice secret two", "--json").out)["id"]
    pai("memory", "add", "bob's own note", "--user", "bob")
    con = sqlite3.connect(pai_home / "pai.db")
    blob = con.execute("SELECT content FROM memories WHERE id = ?", (a,)).fetchone()[0]
    con.execute("UPDATE memories SET content = ? WHERE id = ?", (blob, b))
    con.execute("UPDATE memories SET content = ? WHERE user_id = 'bob'", (blob,))
    con.commit()
    con.close()
    assert pai("memory", "show", a).code == 0
    r = pai("memory", "show", b)
    assert r.code == 4 and "could not be decrypted" in r.err
    # A list still refuses the moved ciphertext; since issue 15 it leaves that one record
    # out and names it, instead of failing for every memory of the user.
    r = pai("memory", "list", "--user", "bob", "--json")
    assert r.code == 0 and "Traceback" not in r.err and json.loads(r.out) == []
    assert "could not be decrypted" in r.err and "pai memory forget" in r.err
    assert "alice secret" not in r.out + r.err


def test_seal_open_round_trip_and_aad_binding(pai_home: Path) -> None:
    w = Wiring(load_settings("alice"))
    blob = w.cipher.seal("alice", "memory", "m1", "héllo wörld ✓")
    assert w.cipher.open("alice", "memory", "m1", blob) == "héllo wörld ✓"
    for user, kind, rid in [("bob", "memory", "m1"), ("alice", "message", "m1"),
                            ("alice", "memory", "m2")]:
        with pytest.raises(BackendError):
            w.cipher.open(user, kind, rid, blob)
    assert w.cipher.blind("alice", ["tea"]) != w.cipher.blind("bob", ["tea"])
    assert w.cipher.blind("alice", ["tea"]) == w.cipher.blind("alice", ["tea"])


def test_missing_master_key_is_a_config_error(pai_home: Path) -> None:
    pai("memory", "add", "something precious")
    (pai_home / "master.key").unlink()
    r = pai("memory", "list")
    assert r.code == 3 and "pai key restore" in r.err
    assert not (pai_home / "master.key").exists()  # no new key silently made


def test_wrong_master_key_is_a_config_error(pai_home: Path) -> None:
    pai("memory", "add", "something precious")
    keyfile.write_key(pai_home / "master.key", keyfile.new_key())
    r = pai("search", "precious")
    assert r.code == 3 and "pai key restore" in r.err


def test_damaged_key_file(pai_home: Path) -> None:
    pai("memory", "add", "x")
    (pai_home / "master.key").write_text("garbage")
    r = pai("memory", "list")
    assert r.code == 3 and "damaged" in r.err


def test_key_backup_and_restore_on_a_new_machine(pai_home: Path, tmp_path: Path) -> None:
    env = {"PAI_KEY_PASSPHRASE": "correct horse battery"}
    mid = json.loads(pai("memory", "add", "the safe code is in the blue book", "--json").out)["id"]
    backup = tmp_path / "key-backup.json"
    r = pai("key", "backup", str(backup), env=env)
    assert r.code == 0, r.err
    assert backup.stat().st_mode & 0o777 == 0o600
    original = (pai_home / "master.key").read_bytes()
    assert original not in backup.read_bytes()

    (pai_home / "master.key").unlink()  # the lost disk
    assert pai("memory", "show", mid).code == 3
    assert pai("key", "restore", str(backup), env={"PAI_KEY_PASSPHRASE": "wrong one!"}).code == 1
    r = pai("key", "restore", str(backup), env=env)
    assert r.code == 0, r.err
    assert (pai_home / "master.key").stat().st_mode & 0o777 == 0o600
    assert "blue book" in pai("memory", "show", mid).out


def test_restore_refuses_to_overwrite_a_different_key(pai_home: Path, tmp_path: Path) -> None:
    env = {"PAI_KEY_PASSPHRASE": "correct horse battery"}
    pai("memory", "add", "x")
    other = tmp_path / "other.json"
    other.write_text(keyfile.backup(keyfile.new_key(), "correct horse battery"))
    r = pai("key", "restore", str(other), env=env)
    assert r.code == 3 and "--force" in r.err


def test_backup_needs_a_passphrase_without_terminal(tmp_path: Path) -> None:
    os.environ.pop("PAI_KEY_PASSPHRASE", None)
    r = pai("key", "backup", str(tmp_path / "k.json"))
    assert r.code == 1 and "PAI_KEY_PASSPHRASE" in r.err
