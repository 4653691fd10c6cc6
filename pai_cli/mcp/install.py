"""`pai mcp install CLIENT`: pai written into an MCP client's own config file.

Each client's documented file and format for the platform:

    claude-code     ~/.claude.json ($CLAUDE_CONFIG_DIR/.claude.json), "mcpServers" at the top
                    (Claude Code's user scope: every project), {"type": "stdio", ...}
    claude-desktop  claude_desktop_config.json in ~/Library/Application Support/Claude (macOS),
                    %APPDATA%\\Claude (Windows), $XDG_CONFIG_HOME/Claude (Linux builds)
    cursor          ~/.cursor/mcp.json (global), "mcpServers"
    codex           ~/.codex/config.toml ($CODEX_HOME/config.toml), [mcp_servers.NAME]

The other servers and settings in the file are kept as they are (TOML through tomlkit, which
keeps comments and layout); the old file is copied beside it before the new one replaces it
in one rename; writing what is already there changes nothing; a file that does not parse is
refused with where it fails, and left untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pai_cli.errors import ConfigError

CLIENTS = ("claude-code", "claude-desktop", "cursor", "codex")
FORWARDED_ENV = ("PAI_HOME", "PAI_CONFIG", "PAI_MASTER_KEY_FILE", "PAI_USER", "PAI_BACKEND",
                 "PAI_ENV", "PAI_DB_TIMEOUT")
"""What decides which memories `pai mcp` opens: a client starts it with almost none of the
shell's environment, so these are written into its entry when they are set here."""
AWS_ENV = ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION")

CHECKS = {
    "claude-code": "Run `claude mcp get {name}` (or /mcp inside Claude Code): it should say "
                   "Connected.",
    "claude-desktop": "Quit Claude Desktop completely and start it again; Settings > "
                      "Developer then lists {name} as running, and its tools show in the "
                      "chat's tools menu.",
    "cursor": "Open Cursor Settings > MCP (or Tools & MCP): {name} should be listed, switched "
              "on, with its 7 tools.",
    "codex": "Run `codex mcp list` (or /mcp inside Codex): {name} should be listed as "
             "enabled.",
}


@dataclass(frozen=True)
class Launch:
    """How a client starts pai's MCP server."""

    command: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Installed:
    client: str
    name: str
    path: Path
    snippet: str
    changed: bool
    backup: Path | None
    check: str

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client, "name": self.name, "path": str(self.path),
                "changed": self.changed, "backup": str(self.backup) if self.backup else None,
                "snippet": self.snippet, "check": self.check}


def launch(pai_args: list[str], environ: Mapping[str, str]) -> Launch:
    """The absolute command of this pai (clients do not search the shell's PATH the same
    way), its arguments, and the environment that chooses the memories."""
    argv0 = Path(sys.argv[0])
    found = shutil.which("pai")
    if argv0.name == "pai" and argv0.is_file():
        command, prefix = str(argv0.absolute()), []
    elif found:
        command, prefix = str(Path(found).absolute()), []
    else:
        command, prefix = sys.executable, ["-m", "pai_cli.cli.main"]
    names = FORWARDED_ENV + (AWS_ENV if "aws" in pai_args or environ.get("PAI_BACKEND") == "aws"
                             else ())
    env = {k: environ[k] for k in names if environ.get(k)}
    return Launch(command, [*prefix, *pai_args], env)


def config_path(client: str, environ: Mapping[str, str], platform: str = sys.platform,
                home: Path | None = None) -> Path:
    home = home or Path.home()
    if client == "claude-code":
        base = environ.get("CLAUDE_CONFIG_DIR")
        return (Path(base).expanduser() if base else home) / ".claude.json"
    if client == "claude-desktop":
        if platform == "darwin":
            folder = home / "Library" / "Application Support" / "Claude"
        elif platform == "win32":
            folder = Path(environ.get("APPDATA") or home / "AppData" / "Roaming") / "Claude"
        else:
            folder = Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "Claude"
        return folder / "claude_desktop_config.json"
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    if client == "codex":
        base = environ.get("CODEX_HOME")
        return (Path(base).expanduser() if base else home / ".codex") / "config.toml"
    raise ConfigError(f"Unknown MCP client {client!r}: use one of {', '.join(CLIENTS)}.")


def entry(client: str, how: Launch) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "stdio"} if client == "claude-code" else {}
    out.update(command=how.command, args=list(how.args))
    if how.env or client != "codex":
        out["env"] = dict(how.env)
    return out


def snippet(client: str, name: str, how: Launch) -> str:
    if client == "codex":
        import tomlkit

        doc = tomlkit.document()
        servers = tomlkit.table(is_super_table=True)
        servers[name] = _toml_table(entry(client, how))
        doc["mcp_servers"] = servers
        return tomlkit.dumps(doc)
    return json.dumps({"mcpServers": {name: entry(client, how)}}, indent=2) + "\n"


def install(client: str, name: str, how: Launch, path: Path, write: bool = True) -> Installed:
    """Merge pai's entry into the client's file (write=False: only say what would change)."""
    old = _read(path)
    if client == "codex":
        new, changed = _merge_toml(old, path, name, entry(client, how))
    else:
        new, changed = _merge_json(old, path, name, entry(client, how))
    backup = None
    if changed and write:
        backup = _replace(path, new, had=old is not None)
    return Installed(client, name, path, snippet(client, name, how), changed, backup,
                     CHECKS[client].format(name=name))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"Cannot read {path} ({e}): nothing was changed.") from None


def _refuse(path: Path, why: str) -> ConfigError:
    return ConfigError(f"{path} {why}: fix it (or move it away) and run this again; nothing "
                       "was changed. `--print` shows pai's entry to add by hand.")


def _merge_json(old: str | None, path: Path, name: str,
                mine: dict[str, Any]) -> tuple[str, bool]:
    data: Any = {}
    if old is not None and old.strip():
        try:
            data = json.loads(old)
        except json.JSONDecodeError as e:
            raise _refuse(path, f"is not valid JSON (line {e.lineno}, column {e.colno}: "
                                f"{e.msg})") from None
    if not isinstance(data, dict):
        raise _refuse(path, "does not hold a JSON object")
    servers = data.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise _refuse(path, "has an \"mcpServers\" that is not an object")
    if servers.get(name) == mine:
        return old or "", False
    data = {**data, "mcpServers": {**servers, name: mine}}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n", True


def _toml_table(values: dict[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for key, value in values.items():
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            table[key] = inline
        else:
            table[key] = value
    return table


def _merge_toml(old: str | None, path: Path, name: str,
                mine: dict[str, Any]) -> tuple[str, bool]:
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        doc = tomlkit.parse(old or "")
    except ParseError as e:
        raise _refuse(path, f"is not valid TOML (line {e.line}, column {e.col})") from None
    servers = doc.get("mcp_servers")
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        doc["mcp_servers"] = servers
    elif not isinstance(servers, dict):
        raise _refuse(path, "has an mcp_servers that is not a table")
    current = servers.get(name)
    if current is not None and _plain(current) == mine:
        return old or "", False
    servers[name] = _toml_table(mine)
    return tomlkit.dumps(doc), True


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def _replace(path: Path, text: str, had: bool) -> Path | None:
    """Back the old file up beside it, then put the new one in place in one rename (an
    interrupted write leaves the old file, never half of the new one)."""
    backup = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = 0o600
        if had:
            mode = path.stat().st_mode & 0o777
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = path.with_name(f"{path.name}.pai-backup-{stamp}")
            n = 1
            while backup.exists():
                n += 1
                backup = path.with_name(f"{path.name}.pai-backup-{stamp}-{n}")
            shutil.copy2(path, backup)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise ConfigError(f"Cannot write {path} ({e.strerror or e}): nothing was changed"
                          + (f" (a copy of the old file is at {backup})" if backup else "")
                          + ".") from None
    return backup
