"""The memory commands through the real entry point: output, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import pai


def add(text: str, *extra: str) -> str:
    r = pai("memory", "add", text, "--json", *extra)
    assert r.code == 0, r.err
    return json.loads(r.out)["id"]


def test_add_list_show_edit_forget_round_trip() -> None:
    mid = add("Maya starts kindergarten at Oakwood Elementary", "-c", "family")
    other = add("Penicillin gives me hives", "--category", "health")

    listed = json.loads(pai("memory", "list", "--json").out)
    assert [m["id"] for m in listed] == [other, mid]  # newest first
    assert {m["category"] for m in listed} == {"family", "health"}
    assert all(m["pinned"] for m in listed)  # added by hand: pinned by default
    assert set(listed[0]) >= {"id", "content", "category", "created_at", "pinned"}

    only = json.loads(pai("memory", "list", "--category", "health", "--json").out)
    assert [m["id"] for m in only] == [other]

    shown = json.loads(pai("memory", "show", mid[:12], "--json").out)
    assert shown["content"] == "Maya starts kindergarten at Oakwood Elementary"

    r = pai("memory", "edit", mid, "Maya starts kindergarten at Lakeside Elementary", "--json")
    assert r.code == 0
    hits = json.loads(pai("search", "Lakeside", "--json").out)
    assert hits[0]["id"] == mid
    assert json.loads(pai("search", "Oakwood", "--json", "--mode", "keyword").out) == []

    assert pai("memory", "forget", mid).code == 0
    assert pai("memory", "show", mid).code == 1
    assert [m["id"] for m in json.loads(pai("memory", "list", "--json").out)] == [other]


def test_text_output_is_plain_and_data_only_on_stdout() -> None:
    mid = add("The car is a blue Volvo V60")
    r = pai("memory", "list")
    assert r.code == 0
    assert mid in r.out and "\x1b[" not in r.out
    r = pai("memory", "add", "Gym on Tuesdays")
    assert r.out.strip().startswith("mem-")  # only the id on stdout
    assert "Remembered" in r.err


def test_output_flag_and_limit() -> None:
    for i in range(5):
        add(f"note number {i} about gardening")
    r = pai("memory", "list", "-o", "json", "--limit", "2")
    assert len(json.loads(r.out)) == 2
    assert pai("memory", "list", "-o", "yaml").code == 2
    assert pai("search", "x", "--mode", "fuzzy").code == 2


def test_pin_and_unpin() -> None:
    mid = add("Passport expires in March 2027", "--no-pin")
    assert json.loads(pai("memory", "show", mid, "--json").out)["pinned"] is False
    assert json.loads(pai("memory", "pin", mid, "--json").out)["expires_at"] is None
    unpinned = json.loads(pai("memory", "unpin", mid, "--json").out)
    assert unpinned["pinned"] is False and unpinned["expires_at"] is not None


def test_forget_all_needs_yes() -> None:
    add("one thing")
    add("another thing")
    r = pai("memory", "forget", "--all")
    assert r.code == 1 and "--yes" in r.err
    r = pai("memory", "forget", "--all", "--yes", "--json")
    assert json.loads(r.out) == {"forgotten": 2}
    assert json.loads(pai("memory", "list", "--json").out) == []
    assert json.loads(pai("search", "thing", "--json").out) == []


def test_export_then_import_elsewhere_round_trips(tmp_path: Path, monkeypatch) -> None:
    ids = [add(f"fact {i}: the plant on shelf {i} needs water weekly", "-c", "home") for i in range(3)]
    export = tmp_path / "out.jsonl"
    assert pai("memory", "export", str(export)).code == 0
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert sorted(x["id"] for x in lines) == sorted(ids)
    assert (export.stat().st_mode & 0o777) == 0o600

    monkeypatch.setenv("PAI_HOME", str(tmp_path / "second-home"))
    r = pai("memory", "import", str(export), "--json")
    assert json.loads(r.out) == {"imported": 3, "skipped": 0, "total": 3}
    again = pai("memory", "import", str(export), "--json")
    assert json.loads(again.out) == {"imported": 0, "skipped": 3, "total": 3}
    listed = json.loads(pai("memory", "list", "--json").out)
    assert sorted(m["id"] for m in listed) == sorted(ids)
    assert {m["category"] for m in listed} == {"home"}


def test_export_to_stdout_is_jsonl() -> None:
    add("alpha memory")
    r = pai("memory", "export")
    assert [json.loads(x)["content"] for x in r.out.splitlines()] == ["alpha memory"]


def test_import_from_stdin_with_optional_fields() -> None:
    data = "\n".join([
        json.dumps({"content": "Likes jazz", "category": "music"}),
        json.dumps({"content": "Old note", "created_at": "2025-01-02T03:04:05Z", "id": "mem-old-1"}),
        "",
        json.dumps({"content": "Epoch note", "created_at": 1700000000, "pinned": False}),
    ])
    r = pai("memory", "import", "-", "--json", input=data)
    assert r.code == 0, r.err
    assert json.loads(r.out)["imported"] == 3
    old = json.loads(pai("memory", "show", "mem-old-1", "--json").out)
    assert old["created_at"] == "2025-01-02T03:04:05Z"


def test_import_reports_every_bad_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join([
        json.dumps({"content": "fine"}).encode(),
        b"{not json",
        json.dumps({"content": "   "}).encode(),
        b"\xff\xfe broken utf8",
        json.dumps({"text": "wrong field"}).encode(),
        json.dumps({"content": "x", "created_at": "yesterday"}).encode(),
        json.dumps(["a list"]).encode(),
    ]))
    r = pai("memory", "import", str(bad))
    assert r.code == 1
    for n in (2, 3, 4, 5, 6, 7):
        assert f"line {n}:" in r.err
    assert "line 1:" not in r.err
    assert "Traceback" not in r.err
    assert json.loads(pai("memory", "list", "--json").out) == []


def test_bad_input_exit_codes_and_one_line_errors() -> None:
    cases = [
        (("memory", "add", ""), 1),
        (("memory", "add", "   \n\t "), 1),
        (("memory", "add", "x" * 1_000_000), 1),
        (("memory", "show", "mem-does-not-exist"), 1),
        (("memory", "forget", "mem-nope"), 1),
        (("memory", "add", "x", "--category", "bad category!"), 1),
        (("search", ""), 1),
        (("search", "x", "-n", "0"), 1),
        (("memory", "import", "/no/such/file.jsonl"), 1),
        (("memory", "list", "--limit", "abc"), 2),
        (("memory", "frobnicate"), 2),
        (("memory", "add"), 2),
    ]
    for args, code in cases:
        r = pai(*args)
        assert r.code == code, (args, r.code, r.err)
        assert "Traceback" not in r.err
        if code == 1:
            lines = [line for line in r.err.splitlines() if line.startswith("pai: error:")]
            assert len(lines) == 1, r.err


def test_invalid_utf8_on_stdin() -> None:
    r = pai("memory", "add", "-", input=b"caf\xe9 au lait")
    assert r.code == 1 and "UTF-8" in r.err
    r = pai("chat", input=b"\xff\xfe")
    assert r.code == 1 and "UTF-8" in r.err


def test_version_and_help() -> None:
    r = pai("--version")
    assert r.code == 0 and r.out.startswith("pai ")
    for cmd in (["--help"], ["memory", "--help"], ["search", "--help"], ["chat", "--help"],
                ["memory", "import", "--help"], ["key", "backup", "--help"],
                ["conversations", "show", "--help"]):
        r = pai(*cmd)
        assert r.code == 0 and "Example" in r.out, cmd


def test_another_users_export_imports_fully(tmp_path: Path) -> None:
    """Ids are unique per user: bob importing alice's export gets every memory."""
    add("Alice's locker code is 4711")
    export = tmp_path / "a.jsonl"
    pai("memory", "export", str(export))
    r = pai("memory", "import", str(export), "--user", "bob", "--json")
    assert json.loads(r.out) == {"imported": 1, "skipped": 0, "total": 1}
    assert [m["content"] for m in json.loads(pai("memory", "list", "--user", "bob",
                                                  "--json").out)] == ["Alice's locker code is 4711"]


def test_short_prefixes_do_not_pick_a_memory() -> None:
    mid = add("only one")
    for prefix in ("mem-", "mem-" + mid[4:6]):
        r = pai("memory", "forget", prefix)
        assert r.code == 1 and "too short" in r.err
    assert pai("memory", "show", mid).code == 0


def test_export_failure_leaves_no_plaintext_behind(tmp_path: Path, pai_home: Path) -> None:
    """Writing fails half-way (here: a file size limit, as a full disk would): the partial
    plaintext file is removed and the error is one line. (A record that cannot be read is
    not such a failure any more: tests/test_hardening.py.)"""
    import resource
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    for i in range(3):
        add(f"exported note {i}: " + "long text " * 4000)
    target = tmp_path / "out.jsonl"

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # kept across exec: write() fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    r = subprocess.run([sys.executable, "-m", "pai_cli.cli.main", "memory", "export", str(target)],
                       cwd=ROOT, capture_output=True, preexec_fn=small_files, timeout=120)
    assert r.returncode == 4, r.stderr
    assert b"nothing was exported" in r.stderr and b"Traceback" not in r.stderr
    assert list(tmp_path.glob("*out.jsonl*")) == []


def test_bad_settings_are_config_errors(pai_home: Path) -> None:
    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text('output = "yaml"\n')
    assert pai("memory", "list").code == 3
    (pai_home / "config.toml").unlink()
    r = pai("memory", "list", env={"PAI_DB_TIMEOUT": "abc"})
    assert r.code == 3 and "PAI_DB_TIMEOUT" in r.err
    r = pai("memory", "list", env={"PAI_HOME": "/proc/nope/pai"})
    assert r.code == 3 and "PAI_HOME" in r.err
