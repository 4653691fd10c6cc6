"""One user's records are invisible to another, whatever the command."""

from __future__ import annotations

import json

from conftest import pai


def test_user_b_cannot_see_search_or_forget_user_a() -> None:
    a = json.loads(pai("memory", "add", "Alice keeps her spare key under the heron statue",
                       "--json", "--user", "alice").out)["id"]
    pai("chat", "-m", "heron statue spare key", "--user", "alice")

    assert json.loads(pai("memory", "list", "--json", "--user", "bob").out) == []
    assert json.loads(pai("search", "heron statue key", "--json", "--user", "bob").out) == []
    for mode in ("keyword", "vector"):
        out = pai("search", "heron statue", "--json", "--mode", mode, "--user", "bob").out
        assert json.loads(out) == []
    for cmd in (["memory", "show", a], ["memory", "forget", a], ["memory", "edit", a, "mine"],
                ["memory", "pin", a], ["memory", "show", a[:8]]):
        r = pai(*cmd, "--user", "bob")
        assert r.code == 1, cmd
    assert json.loads(pai("conversations", "list", "--json", "--user", "bob").out) == []
    conv = json.loads(pai("conversations", "list", "--json", "--user", "alice").out)[0]["id"]
    assert pai("conversations", "show", conv, "--user", "bob").code == 1
    assert json.loads(pai("memory", "forget", "--all", "--yes", "--json", "--user", "bob").out) == {
        "forgotten": 0}
    # Alice still has everything.
    assert json.loads(pai("memory", "show", a, "--json", "--user", "alice").out)["id"] == a
    assert a in [h["id"] for h in json.loads(pai("search", "heron", "--json", "--user", "alice").out)]


def test_export_is_per_user() -> None:
    pai("memory", "add", "alice only", "--user", "alice")
    pai("memory", "add", "bob only", "--user", "bob")
    out = pai("memory", "export", "--user", "bob").out
    assert [json.loads(x)["content"] for x in out.splitlines()] == ["bob only"]


def test_bad_user_name() -> None:
    r = pai("memory", "list", "--user", "../etc")
    assert r.code == 1 and "not valid" in r.err
