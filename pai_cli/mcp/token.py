"""The bearer token of `pai mcp --transport http`: made by pai, kept 0600 in the data dir.

Anyone with the token reads and writes the memories of whoever the server serves, so the
file is private from its first byte (made under a temporary name with mode 0600, then
linked into place, so a second process making it at the same time gets the same token) and
refused when others can read it. The server reads it on every request: a rotated token takes
effect at once, and the old one stops working.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from pathlib import Path

from pai_cli.errors import ConfigError

PREFIX = "pai_mcp_"
_SHAPE = re.compile(r"pai_mcp_[A-Za-z0-9_-]{43}")


def _new() -> str:
    return PREFIX + secrets.token_urlsafe(32)  # 256 bits


def read(path: Path) -> str | None:
    """The token, or None when there is none yet."""
    try:
        mode = path.stat().st_mode
        raw = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"Cannot read the MCP token file {path} ({e}): run `pai mcp token "
                          "--rotate` to make a new one.") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"The MCP token file {path} can be read by other users: run "
                          f"`chmod 600 {path}`, or `pai mcp token --rotate` for a new token.")
    if not _SHAPE.fullmatch(raw):
        raise ConfigError(f"The MCP token file {path} is damaged: run `pai mcp token --rotate`.")
    return raw


def ensure(path: Path) -> tuple[str, bool]:
    """(token, made now): the existing token, or a new one."""
    current = read(path)
    if current is not None:
        return current, False
    token = _new()
    tmp = _write_private(path, token)
    try:
        os.link(tmp, path)  # fails if another process got there first: then use theirs
    except FileExistsError:
        return read(path) or token, False
    finally:
        tmp.unlink(missing_ok=True)
    return token, True


def rotate(path: Path) -> str:
    token = _new()
    os.replace(_write_private(path, token), path)
    return token


def _write_private(path: Path, token: str) -> Path:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (token + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"Cannot write the MCP token file {path} ({e.strerror}): set "
                          "PAI_HOME to a folder you can write.") from None
    return tmp
