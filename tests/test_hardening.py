"""Issue 15, case by case: what an attacker or a clumsy user did to the local home, through
the real entry point (CliRunner, or a process where a terminal, permissions or a kill are
part of the case). The import cases as properties: tests/test_hardening_import.py."""

from __future__ import annotations

import ctypes
import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, pai, pai_process

from pai_cli.config import load_settings
from pai_cli.wiring import Wiring


def add(text: str, *extra: str) -> str:
    r = pai("memory", "add", text, "--json", *extra)
    assert r.code == 0, r.err
    return json.loads(r.out)["id"]


def one_line_error(r, code: int) -> str:
    assert r.code == code, (r.code, r.out, r.err)
    assert "Traceback" not in r.err and "unexpected" not in r.err, r.err
    errors = [line for line in r.err.splitlines() if line.startswith("pai: error:")]
    assert len(errors) == 1, r.err
    return errors[0]


def db(pai_home: Path) -> sqlite3.Connection:
    return sqlite3.connect(pai_home / "pai.db", isolation_level=None)


# -- 1. an import value that broke every later read ------------------------------------

READS = (("memory", "list", "--json"), ("memory", "export"), ("search", "x", "--json"),
         ("chat", "-m", "anything about x", "--json"))


@pytest.mark.parametrize("value", ["1e18", "-1e12", "Infinity", "-Infinity", "NaN", "1e400",
                                   '"10000-01-01"', '"0000-12-31"', "true", "[2020]",
                                   "1" + "0" * 5000])
def test_import_refuses_a_date_no_read_could_show(value: str, tmp_path: Path) -> None:
    add("x marks the spot")
    src = tmp_path / "in.jsonl"
    src.write_text('{"content": "fine"}\n'
                   f'{{"content": "x", "created_at": {value}}}\n'
                   f'{{"content": "y", "valid_from": {value}}}\n'
                   f'{{"content": "z", "valid_to": {value}}}\n')
    r = pai("memory", "import", str(src))
    one_line_error(r, 1)
    for n in (2, 3, 4):
        assert f"line {n}:" in r.err
    assert "line 1:" not in r.err
    for args in READS:  # nothing was written, and every read still works
        assert pai(*args).code == 0, args
    listed = {m["content"] for m in json.loads(pai("memory", "list", "--json").out)}
    assert not listed & {"fine", "x", "y", "z"}


def test_the_extreme_dates_that_are_accepted_read_back(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"content": "oldest", "created_at": "0001-01-01T00:00:00Z"}\n'
                   '{"content": "latest", "created_at": "8999-12-31T23:59:59Z", "pinned": false}\n'
                   '{"content": "history", "valid_from": -2208988800, "valid_to": 0}\n')
    assert pai("memory", "import", str(src)).code == 0
    for args in READS:
        assert pai(*args).code == 0, args
    dates = {m["content"]: m["created_at"] for m in json.loads(pai("memory", "list", "--json").out)}
    assert dates["oldest"] == "0001-01-01T00:00:00Z" and dates["latest"].startswith("8999-")


def test_a_stored_date_that_cannot_be_shown_is_left_out_and_named(pai_home: Path,
                                                                   tmp_path: Path) -> None:
    """A row an older pai could write (created_at 1e18): reads skip it and say so."""
    good = add("the spare key is under the blue pot")
    bad = add("the spare key is in the shed")
    con = db(pai_home)
    con.execute("UPDATE memories SET created_at = 1e18, updated_at = 1e18 WHERE id = ?", (bad,))
    con.close()
    r = pai("memory", "list", "--json")
    assert r.code == 0 and [m["id"] for m in json.loads(r.out)] == [good]
    assert bad in r.err and f"pai memory forget {bad}" in r.err
    r = pai("search", "spare key", "--json")
    assert r.code == 0 and [h["id"] for h in json.loads(r.out)] == [good]
    assert pai("chat", "-m", "where is the spare key").code == 0
    assert one_line_error(pai("memory", "show", bad), 4).count(bad) >= 1
    out = tmp_path / "backup.jsonl"
    one_line_error(pai("memory", "export", str(out)), 4)
    exported = [json.loads(x) for x in out.read_text().splitlines()]
    assert [m["id"] for m in exported if m["category"] != "conversation"] == [good]
    assert pai("memory", "forget", bad).code == 0  # the way out the message names
    assert pai("memory", "export", str(out)).code == 0


# -- 2. a constraint failure reported as "already present" -----------------------------

def test_only_real_duplicates_count_as_already_present(pai_home: Path) -> None:
    r = pai("memory", "import", "-", "--json",
            input='{"id": "mem-a", "content": "a"}\n{"id": "mem-b", "content": "b"}\n')
    assert json.loads(r.out) == {"imported": 2, "skipped": 0, "total": 2}
    r = pai("memory", "import", "-", "--json",
            input='{"id": "mem-a", "content": "a"}\n{"id": "mem-c", "content": "c"}\n')
    assert json.loads(r.out) == {"imported": 1, "skipped": 1, "total": 2}
    # NaN never reaches the store now (a line error), but if a row breaks a constraint the
    # store fails the batch instead of counting the row as present.
    from pai_cli.errors import BackendError
    from pai_cli.records import SealedMemory

    w = Wiring(load_settings("alice"))
    try:
        store = w.memories.store
        nan = SealedMemory("mem-nan", "alice", b"x", "general", float("nan"), 0.0, None, True, "")
        with pytest.raises(BackendError, match="mem-nan could not be stored"):
            store.insert([SealedMemory("mem-d", "alice", b"x", "general", 1.0, 1.0, None, True,
                                       ""), nan])
        assert store.get("alice", "mem-d", 0.0) is None  # the batch is whole or nothing
        again = SealedMemory("mem-a", "alice", b"x", "general", 1.0, 1.0, None, True, "")
        assert store.insert([again]) == []
    finally:
        w.close()


# -- 3. writes while a reindex runs ----------------------------------------------------

def test_writes_and_search_go_on_while_a_reindex_runs(pai_home: Path) -> None:
    w = Wiring(load_settings("alice"))
    ids = [w.memories.add("alice", f"passport note {i}") for i in range(30)]
    seen: dict[str, object] = {}

    def during(done: int, total: int) -> None:
        if done != 10:
            return
        # Other processes, as a user would run them beside `pai memory reindex`.
        seen["add"] = pai_process("memory", "add", "written during the reindex")
        seen["chat"] = pai_process("chat", "-m", "a message during the reindex", "--json")
        seen["search"] = pai_process("search", "passport", "--json")
        # An edit of a memory the reindex has read but not written yet must survive it.
        seen["edit"] = pai_process("memory", "edit", ids[25].id, "visa note, edited meanwhile")

    try:
        # The memories written meanwhile come after the 30 and are reindexed too.
        assert w.memories.reindex("alice", progress=during, batch=10) >= 30
    finally:
        w.close()
    for name in ("add", "chat", "search", "edit"):
        proc = seen[name]
        assert proc.returncode == 0, (name, proc.stderr.decode())  # type: ignore[attr-defined]
    listed = {m["content"] for m in json.loads(pai("memory", "list", "-n", "100", "--json").out)}
    assert {"written during the reindex", "a message during the reindex",
            "visa note, edited meanwhile"} <= listed
    assert "passport note 25" not in listed
    hits = json.loads(pai("search", "visa edited", "--json").out)
    assert hits[0]["id"] == ids[25].id


def test_a_running_reindex_is_told_from_an_interrupted_one(pai_home: Path) -> None:
    from pai_cli.core.index_stamp import REINDEX_LEASE_S
    from pai_cli.errors import ModelMismatch

    now = [1_800_000_000.0]
    w = Wiring(load_settings("alice"), clock=lambda: now[0])
    try:
        mem = w.memories
        mem.add("alice", "a note")
        key = mem.stamp.reindex_key("alice")

        def marker(model: str, at: float, stopped: bool = False) -> None:
            mem.store.set_meta(key, json.dumps({"model": model, "at": at, "stopped": stopped}))

        marker(mem.model_tag, now[0] - 5)  # same model, running: search and writes go on
        assert mem.search("alice", "note", min_score=0)
        mem.add("alice", "another note")
        marker("other-model:1024", now[0] - 5)  # another model, running: search waits
        with pytest.raises(ModelMismatch, match="is running"):
            mem.search("alice", "note")
        marker(mem.model_tag, now[0] - 5, stopped=True)  # stopped: run it again
        with pytest.raises(ModelMismatch, match="was interrupted"):
            mem.search("alice", "note")
        mem.add("alice", "writes still go on")
        marker(mem.model_tag, now[0] - REINDEX_LEASE_S - 1)  # killed: its lease ran out
        with pytest.raises(ModelMismatch, match="was interrupted"):
            mem.search("alice", "note")
        mem.store.set_meta(key, mem.model_tag)  # the marker of an older pai
        with pytest.raises(ModelMismatch, match="was interrupted"):
            mem.search("alice", "note")
    finally:
        w.close()
    assert pai("memory", "reindex").code == 0
    assert len(json.loads(pai("search", "note", "--json", "--min-score", "0").out)) == 3


# -- 4. one record (or job) that cannot be read ----------------------------------------

def test_an_undecryptable_memory_never_blocks_the_others(pai_home: Path, tmp_path: Path) -> None:
    keep = [add(f"gym on {day}") for day in ("monday", "wednesday")]
    broken = add("gym on friday")
    con = db(pai_home)
    con.execute("UPDATE memories SET content = X'02000100' WHERE id = ?", (broken,))
    con.close()
    r = pai("memory", "list", "--json")
    assert r.code == 0 and sorted(m["id"] for m in json.loads(r.out)) == sorted(keep)
    assert f"pai memory forget {broken}" in r.err and r.err.count(broken) == 2  # named once
    r = pai("memory", "list", "-n", "2", "--json")  # the limit is filled from the readable
    assert len(json.loads(r.out)) == 2
    r = pai("search", "gym", "--json")
    assert r.code == 0 and sorted(h["id"] for h in json.loads(r.out)) == sorted(keep)
    r = pai("chat", "-m", "when do I go to the gym", "--json")
    assert r.code == 0 and sorted(json.loads(r.out)["recalled_ids"]) == sorted(keep)
    out = tmp_path / "backup.jsonl"
    error = one_line_error(pai("memory", "export", str(out)), 4)
    assert "left out 1" in error
    exported = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(m["id"] for m in exported if m["category"] != "conversation") == sorted(keep)
    assert out.stat().st_mode & 0o777 == 0o600
    r = pai("memory", "export")  # to stdout: the same, and the same exit
    assert r.code == 4 and len(r.out.splitlines()) == len(exported)
    assert pai("memory", "forget", broken).code == 0
    assert pai("memory", "export", str(out)).code == 0


def test_a_corrupt_queued_job_no_longer_blocks_chat(pai_home: Path) -> None:
    assert pai("chat", "-m", "first message").code == 0
    con = db(pai_home)
    for payload in (b"no separators at all", b"conv-1\nmsg-1\n\x02garbage ciphertext",
                    b"conv-\xff\nmsg\n"):
        con.execute("INSERT INTO jobs (user_id, kind, payload, created_at) VALUES "
                    "('alice', 'remember', ?, 0)", (payload,))
    con.execute("INSERT INTO jobs (user_id, kind, payload, created_at) VALUES "
                "('alice', 'no-such-kind', X'00', 0)")
    con.close()
    for i in range(2):  # not replayed: the next chat is not held up by them either
        r = pai("chat", "-m", f"message {i} after the corrupt jobs", "--json")
        assert r.code == 0, r.err
    con = db(pai_home)
    rows = con.execute("SELECT parked_at, last_error FROM jobs").fetchall()
    con.close()
    assert len(rows) == 4 and all(p is not None and e.startswith("unreadable") for p, e in rows)
    listed = {m["content"] for m in json.loads(pai("memory", "list", "--json").out)}
    assert {"message 0 after the corrupt jobs", "message 1 after the corrupt jobs"} <= listed


# -- 5. a read-only or unreadable PAI_HOME ---------------------------------------------

def _without_root_powers() -> None:
    """Root ignores permission bits: drop the capabilities that let it (the bounding set is
    what root keeps across exec), so the child meets the permissions a user would."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def as_user(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pai_cli.cli.main", *args], cwd=ROOT,
                          capture_output=True, env=os.environ.copy(), timeout=120,
                          preexec_fn=_without_root_powers)


def test_a_read_only_home_serves_reads_and_says_why_writes_fail(pai_home: Path) -> None:
    mid = add("the wifi password is on the fridge")
    assert pai("chat", "-m", "hello there").code == 0
    for f in pai_home.iterdir():  # a copied home: no lock files, nothing of SQLite's beside
        if f.name.startswith(".") or f.name.endswith(("-wal", "-shm")):
            f.unlink()
    for f in pai_home.rglob("*"):
        f.chmod(0o500 if f.is_dir() else 0o400)
    pai_home.chmod(0o500)
    try:
        for args in (("memory", "list", "--json"), ("memory", "show", mid), ("search", "wifi"),
                     ("memory", "export"), ("conversations", "list"), ("key", "path")):
            r = as_user(*args)
            assert r.returncode == 0, (args, r.stderr.decode())
        assert b"wifi password" in as_user("memory", "show", mid).stdout
        for args in (("memory", "add", "more"), ("chat", "-m", "hi"), ("memory", "forget", mid),
                     ("memory", "reindex")):
            r = as_user(*args)
            assert r.returncode == 4, (args, r.stderr.decode())
            assert b"read-only" in r.stderr and b"Traceback" not in r.stderr
    finally:
        for f in [pai_home, *pai_home.rglob("*")]:
            f.chmod(0o700 if f.is_dir() else 0o600)


def test_an_unreadable_home_is_one_line(pai_home: Path) -> None:
    add("exists")
    pai_home.chmod(0)
    try:
        for args in (("memory", "list"), ("memory", "add", "x"), ("key", "path")):
            r = as_user(*args)
            assert r.returncode == 3, (args, r.stderr.decode())
            assert b"Permission denied" in r.stderr and b"Traceback" not in r.stderr
            assert r.stderr.count(b"pai: error:") == 1
    finally:
        pai_home.chmod(0o700)


# -- 6. a master key others may read ---------------------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o777])
def test_a_master_key_open_to_others_is_warned_about(pai_home: Path, mode: int) -> None:
    add("secret")
    key = pai_home / "master.key"
    key.chmod(mode)
    r = pai("memory", "list")
    assert r.code == 0 and f"mode {mode:04o}" in r.err and f"chmod 600 {key}" in r.err
    key.chmod(0o600)
    assert "chmod" not in pai("memory", "list").err


# -- 7. terminal control characters in stored text -------------------------------------

def on_a_terminal(*args: str) -> bytes:
    """pai with its stdout on a pseudo-terminal: what a person would see."""
    main, sub = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pai_cli.cli.main", *args], cwd=ROOT,
                            stdout=sub, stderr=subprocess.DEVNULL,
                            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    os.close(sub)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(main)
    proc.wait(timeout=30)
    return out


def test_control_characters_are_escaped_on_a_terminal_and_exact_elsewhere() -> None:
    nasty = "pay \x1b[31mrent\x1b[0m\x07 now\rOVERWRITTEN \u202egnp.exe [/oops] [bold]x"
    mid = add(nasty)
    for args in (("memory", "list"), ("memory", "show", mid), ("search", "overwritten"),
                 ("memory", "list", "-o", "text")):
        shown = on_a_terminal(*args)
        assert b"\x1b[31m" not in shown and b"\x07" not in shown and b"\r" not in shown.replace(
            b"\r\n", b""), (args, shown)
        assert b"\\x1b[31m" in shown and b"\\u202e" in shown, (args, shown)
        assert b"[/oops]" in shown  # stored brackets are text, not markup
    # Piped or as JSON, the data is exact.
    assert nasty in pai("memory", "show", mid).out
    assert json.loads(pai("memory", "show", mid, "--json").out)["content"] == nasty
    shown = json.loads(on_a_terminal("memory", "show", mid, "--json").replace(b"\r\n", b"\n"))
    assert shown["content"] == nasty
    r = pai("memory", "list", "-o", "table")  # a table, piped: rich is not fed markup
    assert r.code == 0 and "[/oops]" in r.out


# -- 8. input at fault, not "unexpected" -----------------------------------------------

def test_absurd_arguments_are_input_errors(tmp_path: Path) -> None:
    add("one memory")
    assert pai("memory", "list", "-n", str(10**30), "--json").code == 0
    assert pai("conversations", "list", "-n", str(10**30)).code == 0
    for bad in ("\U0010ffff", "mem-\U0001f600", "x" * 10_000):
        one_line_error(pai("memory", "show", bad), 1)
        one_line_error(pai("conversations", "show", bad), 1)
    for argv in ([b"memory", b"show", b"abc\xff"], [b"conversations", b"show", b"abc\xff"]):
        r = subprocess.run([sys.executable.encode(), b"-m", b"pai_cli.cli.main", *argv], cwd=ROOT,
                           capture_output=True, timeout=60)
        assert r.returncode == 1 and b"Traceback" not in r.stderr and b"unexpected" not in r.stderr
    r = pai("memory", "import", "-", input="[" * 100_000 + "\n")
    assert "line 1: not valid JSON (nested too deeply)" in one_line_error(r, 1) + r.err


def test_key_backup_and_restore_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    env = {"PAI_KEY_PASSPHRASE": "correct horse battery"}
    add("something to protect")
    one_line_error(pai("key", "backup", str(tmp_path / "missing" / "k.json"), env=env), 1)
    good = tmp_path / "k.json"
    assert pai("key", "backup", str(good), env=env).code == 0
    doc = json.loads(good.read_text())
    for n, r, p in ((3, 8, 1), (2**17, 8, 0), (2**30, 8, 1), (2**17, 10**6, 1), (2**17, 8, 10**9),
                    (-1, 8, 1)):
        bad = tmp_path / f"k-{n}-{r}-{p}.json"
        bad.write_text(json.dumps({**doc, "kdf": {**doc["kdf"], "n": n, "r": r, "p": p}}))
        started = time.monotonic()
        error = one_line_error(pai("key", "restore", str(bad), "--force", env=env), 1)
        assert "scrypt parameters" in error and time.monotonic() - started < 10
    bad = tmp_path / "not-a-backup.json"
    bad.write_text(json.dumps({**doc, "kdf": {**doc["kdf"], "n": "many"}}))
    one_line_error(pai("key", "restore", str(bad), env=env), 1)
    assert pai("key", "restore", str(good), env=env).code == 0


# -- 9. config values --------------------------------------------------------------------

@pytest.mark.parametrize(("line", "key"), [
    ("recall_k = 0", "recall_k"), ("recall_k = 1000000", "recall_k"),
    ("memory_ttl_days = -1", "memory_ttl_days"), ("memory_ttl_days = 0", "memory_ttl_days"),
    ("memory_ttl_days = inf", "memory_ttl_days"), ("memory_ttl_days = nan", "memory_ttl_days"),
    ("memory_ttl_days = 1e9", "memory_ttl_days"), ("conversation_ttl_days = -7",
                                                   "conversation_ttl_days"),
    ('default_category = "Not a category!"', "default_category"),
    ('default_category = ""', "default_category"), ('user = ""', "user"),
    ("min_score = nan", "min_score"),
])
def test_config_values_are_checked_on_load(pai_home: Path, line: str, key: str) -> None:
    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text(line + "\n")
    for args in (("memory", "list"), ("chat", "-m", "hello")):
        assert key in one_line_error(pai(*args), 3)


def test_good_config_values_take_effect(pai_home: Path) -> None:
    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text('default_category = "Notes"\nrecall_k = 1\n'
                                          "memory_ttl_days = 30\n")
    assert json.loads(pai("memory", "add", "x y z", "--json").out)["category"] == "notes"
    pai("memory", "add", "x y z again")
    assert len(json.loads(pai("chat", "-m", "x y z", "--json").out)["recalled"]) == 1


# -- 10. import: a BOM, and one id twice ---------------------------------------------------

def test_import_accepts_a_bom_and_refuses_an_id_twice(tmp_path: Path) -> None:
    src = tmp_path / "bom.jsonl"
    src.write_bytes(b'\xef\xbb\xbf{"content": "from a Windows editor"}\r\n{"content": "two"}\r\n')
    r = pai("memory", "import", str(src), "--json")
    assert r.code == 0 and json.loads(r.out)["imported"] == 2
    src.write_text('{"id": "mem-1", "content": "first"}\n{"id": "mem-2", "content": "x"}\n'
                   '{"id": "mem-1", "content": "second"}\n')
    for batch in ("1", "500"):  # the answer no longer depends on where batches split
        error = pai("memory", "import", str(src), "--batch", batch)
        one_line_error(error, 1)
        assert "line 3: id 'mem-1' is also on line 1" in error.err
    assert pai("memory", "show", "mem-1").code == 1


# -- 11. an empty --user, an empty database file -----------------------------------------

def test_an_empty_user_is_refused_not_the_os_user() -> None:
    add("alice's note")
    for args in (("memory", "list", "--user", ""), ("chat", "-m", "hi", "--user", ""),
                 ("memory", "add", "x", "-u", "")):
        assert "User name ''" in one_line_error(pai(*args), 1)


def test_an_empty_database_beside_a_key_is_said(pai_home: Path) -> None:
    add("a memory that will be lost")
    for f in pai_home.glob("pai.db*"):
        f.unlink()
    (pai_home / "pai.db").write_bytes(b"")
    r = pai("memory", "list", "--json")
    assert r.code == 0 and json.loads(r.out) == []
    assert "was an empty file" in r.err and "restore it from a backup" in r.err
    assert "empty file" not in pai("memory", "list").err  # said once: it is a store now
