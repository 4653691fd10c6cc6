"""A tiny threaded HTTP server on 127.0.0.1 that plays scripted responses, for tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ScriptedServer:
    """handler(request, respond) decides each answer; every request is recorded."""

    handler: Callable[[Seen, BaseHTTPRequestHandler], None]
    seen: list[Seen] = field(default_factory=list)

    def __enter__(self) -> ScriptedServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                            body)
                outer.seen.append(seen)
                outer.handler(seen, self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that hangs up (Ctrl-C, a closed keep-alive) is part of the tests.
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def send_chunked(
    h: BaseHTTPRequestHandler, status: int, chunks: list[bytes], headers: dict[str, str],
    cut_after: int | None = None, delay: float = 0.0,
) -> None:
    """Chunked transfer, flushed per chunk; cut_after=N drops the connection after N chunks
    without the terminating chunk, as a server that dies mid-reply does; delay sleeps
    before each chunk, as a slow model does."""
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for i, chunk in enumerate(chunks):
        if cut_after is not None and i >= cut_after:
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if delay:
            time.sleep(delay)
        h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        h.wfile.flush()
    h.wfile.write(b"0\r\n\r\n")
    h.wfile.flush()
