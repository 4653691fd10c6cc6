"""`pai mcp install CLIENT` against a temp HOME, and `pai mcp token`."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

import pytest
from conftest import pai

from pai_cli.mcp.install import CLIENTS, config_path

JSON_CLIENTS = ("claude-code", "claude-desktop", "cursor")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_CONFIG_HOME", "APPDATA"):
        monkeypatch.delenv(var, raising=False)
    return home


def where(client: str) -> Path:
    return config_path(client, os.environ)


def entry_of(client: str, path: Path, name: str = "pai") -> dict:
    if client == "codex":
        return tomllib.loads(path.read_text())["mcp_servers"][name]
    return json.loads(path.read_text())["mcpServers"][name]


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".pai-backup-*"))


def test_paths_are_each_clients_documented_ones(home: Path) -> None:
    env: dict[str, str] = {}
    assert config_path("claude-code", env, "linux", home) == home / ".claude.json"
    assert config_path("claude-code", {"CLAUDE_CONFIG_DIR": "/c"}, "linux", home) == Path(
        "/c/.claude.json")
    assert config_path("claude-desktop", env, "darwin", home) == (
        home / "Library/Application Support/Claude/claude_desktop_config.json")
    assert config_path("claude-desktop", {"APPDATA": "/w/Roaming"}, "win32", home) == Path(
        "/w/Roaming/Claude/claude_desktop_config.json")
    assert config_path("claude-desktop", env, "linux", home) == (
        home / ".config/Claude/claude_desktop_config.json")
    assert config_path("cursor", env, "darwin", home) == home / ".cursor/mcp.json"
    assert config_path("codex", env, "linux", home) == home / ".codex/config.toml"
    assert config_path("codex", {"CODEX_HOME": "/x"}, "linux", home) == Path("/x/config.toml")


@pytest.mark.parametrize("client", CLIENTS)
def test_fresh_file_then_idempotent(client: str, pai_home: Path) -> None:
    r = pai("mcp", "install", client, "--user", "alice")
    assert r.code == 0, r.err
    path = where(client)
    entry = entry_of(client, path)
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][-3:] == ["mcp", "--user", "alice"]
    assert entry["env"]["PAI_HOME"] == str(pai_home)  # a client passes almost no environment
    if client == "claude-code":
        assert entry["type"] == "stdio"
    assert "Added 'pai'" in r.err and r.err.count("\n") >= 2  # and how to check it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and backups(path) == []
    before = path.read_bytes()
    again = pai("mcp", "install", client, "--user", "alice", "--json")
    assert again.code == 0
    assert json.loads(again.out)["changed"] is False and path.read_bytes() == before
    assert backups(path) == []


@pytest.mark.parametrize("client", JSON_CLIENTS)
def test_existing_json_keeps_other_servers_and_settings(client: str) -> None:
    path = where(client)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = {"theme": "dark", "mcpServers": {"github": {"command": "npx", "args": ["gh-mcp"]}},
           "projects": {"/src/x": {"mcpServers": {}}}}
    path.write_text(json.dumps(old))
    path.chmod(0o640)
    r = pai("mcp", "install", client, "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["changed"] is True and out["written"] is True
    data = json.loads(path.read_text())
    assert data["theme"] == "dark" and data["projects"] == old["projects"]
    assert data["mcpServers"]["github"] == old["mcpServers"]["github"]
    assert data["mcpServers"]["pai"]["args"][-1] == "mcp"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the user's own mode is kept
    [backup] = backups(path)
    assert json.loads(backup.read_text()) == old and out["backup"] == str(backup)
    # A changed entry (another user) replaces pai's own, still keeping the rest.
    assert pai("mcp", "install", client, "--user", "bob").code == 0
    data = json.loads(path.read_text())
    assert data["mcpServers"]["pai"]["args"][-2:] == ["--user", "bob"]
    assert set(data["mcpServers"]) == {"github", "pai"} and len(backups(path)) == 2


def test_existing_codex_toml_keeps_comments_and_other_servers() -> None:
    path = where("codex")
    path.parent.mkdir(parents=True)
    old = ('# my codex settings\nmodel = "o4-mini"  # the fast one\n\n'
           '[mcp_servers.docs]\ncommand = "npx"\nargs = ["-y", "docs-mcp"]\n')
    path.write_text(old)
    r = pai("mcp", "install", "codex", "--name", "memory")
    assert r.code == 0, r.err
    new = path.read_text()
    assert new.startswith(old)  # every byte of the old file, comments included
    data = tomllib.loads(new)
    assert data["model"] == "o4-mini" and data["mcp_servers"]["docs"]["command"] == "npx"
    assert data["mcp_servers"]["memory"]["args"][-1] == "mcp"
    assert backups(path)[0].read_text() == old
    assert json.loads(pai("mcp", "install", "codex", "--name", "memory", "--json").out)[
        "changed"] is False


@pytest.mark.parametrize(("client", "content", "says"), [
    ("claude-code", '{"mcpServers": {"a": 1},}', "is not valid JSON (line 1, column"),
    ("cursor", '["not", "an", "object"]', "does not hold a JSON object"),
    ("claude-desktop", '{"mcpServers": []}', '"mcpServers" that is not an object'),
    ("codex", "[mcp_servers.x\ncommand = 1\n", "is not valid TOML (line 1"),
    ("codex", 'mcp_servers = "nope"\n', "mcp_servers that is not a table"),
])
def test_invalid_existing_file_is_refused_and_kept(client: str, content: str, says: str) -> None:
    path = where(client)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    r = pai("mcp", "install", client)
    assert r.code == 3 and r.out == ""
    assert says in r.err and "nothing was changed" in r.err and str(path) in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert path.read_text() == content and backups(path) == []
    assert list(path.parent.glob(".*tmp")) == []


@pytest.mark.parametrize("client", CLIENTS)
def test_print_shows_the_snippet_and_writes_nothing(client: str) -> None:
    r = pai("mcp", "install", client, "--print", "--user", "carol")
    assert r.code == 0, r.err
    assert not where(client).exists()
    if client == "codex":
        entry = tomllib.loads(r.out)["mcp_servers"]["pai"]
    else:
        entry = json.loads(r.out)["mcpServers"]["pai"]
    assert entry["args"][-3:] == ["mcp", "--user", "carol"]
    assert "Not written" in r.err


def test_root_options_reach_the_clients_command_line() -> None:
    r = pai("--backend", "aws", "--env", "prod", "mcp", "install", "cursor", "--print")
    assert r.code == 0, r.err
    args = json.loads(r.out)["mcpServers"]["pai"]["args"]
    assert args[-5:] == ["--backend", "aws", "--env", "prod", "mcp"]


def test_usage_errors() -> None:
    assert pai("mcp", "install", "vim").code == 2
    assert pai("mcp", "install", "cursor", "--name", "a b").code == 2
    r = pai("mcp", "install", "cursor", "--user", "no spaces")
    assert r.code == 1 and not where("cursor").exists()


def test_token_is_private_stable_and_rotates(pai_home: Path) -> None:
    first = pai("mcp", "token")
    assert first.code == 0 and first.out.strip().startswith("pai_mcp_")
    path = pai_home / "mcp_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pai("mcp", "token").out == first.out
    rotated = json.loads(pai("mcp", "token", "--rotate", "--json").out)
    assert rotated["new"] is True and rotated["token"] != first.out.strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    r = pai("mcp", "token")
    assert r.code == 3 and "can be read by other users" in r.err and r.out == ""
    path.chmod(0o600)
    path.write_text("garbage\n")
    r = pai("mcp", "token")
    assert r.code == 3 and "damaged" in r.err
