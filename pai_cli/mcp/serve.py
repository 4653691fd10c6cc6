"""Starting `pai mcp`: the store opens on the worker while the SDK is imported, then a
transport runs until the client leaves (stdio) or Ctrl-C (HTTP).

Importing the SDK is most of the start-up (its protocol types are ~550 pydantic models built
at import: 1.5 s of the 2.1-2.3 s from spawn to the first answered call, measured on 2
cores). Opening the database and the key, loading the embedder and mapping the vector index
(0.5 s) run beside it on the worker thread. Locally that measured within noise of doing the
two one after the other, since both are mostly Python holding the GIL; for the AWS home,
whose opening waits on KMS and DynamoDB, the wait overlaps the import. A configuration error
there (a wrong key, an index of another embedding model) still stops the server before it
answers anything, as one line on stderr.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pai_cli.errors import ConfigError

if TYPE_CHECKING:
    from pai_cli.wiring import Wiring

HOST = "127.0.0.1"
TRANSPORTS = ("stdio", "http")
INSTALL_HINT = "pip install 'pai-cli[mcp]'"


def require_sdk() -> None:
    if importlib.util.find_spec("mcp") is None:
        raise ConfigError(f"`pai mcp` needs the MCP SDK, which is not installed: {INSTALL_HINT}")


def serve(wiring: Wiring, transport: str, port: int, debug: bool = False) -> None:
    import anyio

    from pai_cli import __version__
    from pai_cli.mcp import token as tokens
    from pai_cli.mcp.memory import ServedMemory

    require_sdk()
    settings = wiring.settings
    with _log_to_stderr(debug):
        memory = ServedMemory(wiring, debug)
        started = memory.start()
        sock = None
        try:
            if transport == "http":
                sock = _listen(port)
            token_path = settings.mcp_token_path
            made = None
            if sock is not None:
                current, fresh = tokens.ensure(token_path)
                made = current if fresh else None
            from pai_cli.mcp import server as sdk

            started.result()  # the worker's errors (key, model, store) surface here
            for notice in wiring.notices:  # e.g. where a new master key is: before serving
                _say(notice)
            wiring.notices.clear()
            token = None if sock is None else (lambda: _current_token(token_path))
            app = sdk.build_server(memory, __version__, token)
            who = f"the memories of user {settings.user!r}"
            if sock is None:
                _say(f"serving {who} over MCP (stdio).")
                anyio.run(sdk.run_stdio, app)
                return
            bound = sock.getsockname()[1]
            if made:
                _say(f"made a bearer token for the MCP server, shown once here (`pai mcp token` "
                     f"shows it again; it is in {token_path}):\n{made}")
            _say(f"serving {who} over MCP at http://{HOST}:{bound}{sdk.PATH} (header "
                 "'Authorization: Bearer <token>', see `pai mcp token`). Ctrl-C stops.")
            anyio.run(sdk.run_http, app, sock, HOST)
        except KeyboardInterrupt:
            pass
        finally:
            memory.close()
            if sock is not None:
                sock.close()


def _current_token(path: Path) -> str:
    from pai_cli.errors import PaiError
    from pai_cli.mcp import token as tokens

    try:
        return tokens.read(path) or ""
    except PaiError as e:
        logging.getLogger("pai.mcp").warning("%s", e.message)
        return ""  # refuses every request until the file is fixed


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(f"Cannot listen on {HOST}:{port} ({e.strerror}): pick another "
                          "--port.") from None
    return sock


def _say(text: str) -> None:
    sys.stderr.write(f"pai: {text}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _log_to_stderr(debug: bool) -> Iterator[None]:
    """pai's, the SDK's and uvicorn's log records as `pai: ...` lines on stderr (stdout is
    the protocol's); in place before the SDK would install its own handler."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pai: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO if debug else logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
