"""A killed import loses nothing it reported; two writers at once do not fail."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, pai, pai_process


def write_jsonl(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"mem-imp-{i:06d}",
                                "content": f"note {i}: pick up parcel {i % 97} at locker {i % 13}",
                                "category": ["home", "work", "travel"][i % 3]}) + "\n")


def counts(db: Path) -> tuple[int, int, int]:
    con = sqlite3.connect(db)
    try:
        return tuple(con.execute(q).fetchone()[0] for q in (  # type: ignore[return-value]
            "SELECT count(*) FROM memories",
            "SELECT count(*) FROM memory_terms",
            "SELECT count(*) FROM vectors",
        ))
    finally:
        con.close()


def test_sigkill_during_import_loses_nothing_reported(tmp_path: Path, pai_home: Path) -> None:
    total = 40_000
    src = tmp_path / "big.jsonl"
    write_jsonl(src, total)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pai_cli.cli.main", "memory", "import", str(src), "--batch", "500"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=os.environ.copy(),
    )
    assert proc.stderr is not None
    printed: list[int] = []
    deadline = time.monotonic() + 120
    while len(printed) < 4 and time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        if not line:
            break
        m = re.match(r"committed (\d+)/", line)
        if m:
            printed.append(int(m[1]))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert printed, "the import printed no committed count before the kill"
    assert proc.returncode == -signal.SIGKILL

    stored, terms, vectors = counts(pai_home / "pai.db")
    assert stored >= printed[-1]          # every count printed is on disk
    assert stored < total                 # the kill really interrupted it
    assert stored == terms == vectors     # keyword and vector rows agree with the store

    # Search works and agrees with the store after the crash (the side index catches up).
    hits = json.loads(pai("search", "parcel locker", "-n", "3", "--json").out)
    assert len(hits) == 3
    # Re-running is idempotent: nothing lost, nothing doubled.
    r = pai("memory", "import", str(src), "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert result["imported"] == total - stored and result["skipped"] == stored
    assert counts(pai_home / "pai.db") == (total, total, total)
    assert pai("memory", "show", "mem-imp-039999").code == 0


def test_two_processes_writing_at_once(tmp_path: Path) -> None:
    pai("memory", "add", "warm up so the key and schema exist")
    script = (
        "import sys\n"
        "from pai_cli.config import load_settings\nfrom pai_cli.wiring import Wiring\n"
        "w = Wiring(load_settings('alice'))\n"
        "for i in range(60):\n"
        "    w.memories.add('alice', f'writer {sys.argv[1]} note {i}', 'load')\n"
        "    w.chat.turn('alice', f'writer {sys.argv[1]} says {i}')\n"
        "    w.chat.remember_pending('alice')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, name], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
             for name in ("A", "B")]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
        assert b"locked" not in err
    listed = json.loads(pai("memory", "list", "--category", "load", "--limit", "500", "--json").out)
    assert len(listed) == 120
    assert len(json.loads(pai("memory", "list", "--category", "conversation", "--limit", "500",
                              "--json").out)) == 120


def test_locked_database_is_a_backend_error(pai_home: Path) -> None:
    pai("memory", "add", "exists")
    con = sqlite3.connect(pai_home / "pai.db", isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        r = pai_process("memory", "add", "blocked", env={"PAI_DB_TIMEOUT": "0.5"})
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert r.returncode == 4
    assert b"locked" in r.stderr and b"Traceback" not in r.stderr


def test_read_only_database(pai_home: Path) -> None:
    pai("memory", "add", "exists")
    os.chmod(pai_home / "pai.db", 0o400)
    os.chmod(pai_home, 0o500)
    try:
        if os.geteuid() == 0:
            # root ignores permission bits; simulate with SQLite's own read-only flag.
            con = sqlite3.connect(f"file:{pai_home / 'pai.db'}?mode=ro", uri=True)
            try:
                con.execute("INSERT INTO meta VALUES ('x', 'y')")
                raise AssertionError("expected a read-only error")
            except sqlite3.OperationalError as e:
                from pai_cli.backends.local.db import translate

                err = translate(e, pai_home / "pai.db")
                assert err is not None and err.exit_code == 4 and "read-only" in err.message
        else:
            r = pai_process("memory", "add", "cannot")
            assert r.returncode == 4 and b"Traceback" not in r.stderr
    finally:
        os.chmod(pai_home, 0o700)
        os.chmod(pai_home / "pai.db", 0o600)


def test_corrupted_database(pai_home: Path) -> None:
    pai("memory", "add", "exists")
    for extra in pai_home.glob("pai.db-*"):
        extra.unlink()
    (pai_home / "pai.db").write_bytes(b"this is not a database at all" * 200)
    r = pai_process("memory", "list")
    assert r.returncode == 4
    assert b"corrupted" in r.stderr and b"Traceback" not in r.stderr
    r = pai_process("memory", "list", "--debug")
    assert b"Traceback" in r.stderr


def test_first_runs_at_once_agree_on_one_master_key(tmp_path: Path, monkeypatch) -> None:
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        monkeypatch.setenv("PAI_HOME", str(home))
        procs = [subprocess.Popen([sys.executable, "-m", "pai_cli.cli.main", "memory", "add",
                                   f"note {j}"], cwd=ROOT, env=os.environ.copy(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for j in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()
        listed = json.loads(pai("memory", "list", "--json").out)
        assert sorted(m["content"] for m in listed) == [f"note {j}" for j in range(4)]


def test_an_interrupted_reindex_is_refused_until_finished(pai_home: Path) -> None:
    from pai_cli.config import load_settings
    from pai_cli.wiring import Wiring

    w = Wiring(load_settings("alice"))
    for i in range(30):
        w.memories.add("alice", f"passport note {i}")
    calls = {"n": 0}
    real = w.memories.index.upsert

    def dying_upsert(user_id, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the kill, after the first batch
        real(user_id, items)

    w.memories.index.upsert = dying_upsert  # type: ignore[method-assign]
    try:
        w.memories.reindex("alice", batch=10)
    except KeyboardInterrupt:
        pass
    w.close()
    r = pai("search", "passport")
    assert r.code == 3 and "reindex" in r.err
    assert pai("memory", "reindex").code == 0
    hits = json.loads(pai("search", "passport note 29", "-n", "30", "--json",
                          "--min-score", "0").out)
    assert len(hits) == 30
