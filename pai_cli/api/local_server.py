"""`pai serve`: the HTTP API on localhost over a Wiring, for a front end in development.

Each HTTP request becomes the API Gateway v2 event the Lambda functions receive, with the
serving user as the principal, and goes through the very same resolver."""

from __future__ import annotations

import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pai_cli.api.app import MAX_BODY, build_app, too_large
from pai_cli.api.identity import LOCAL


class _Context:
    function_name = "pai-serve"
    memory_limit_in_mb = 0
    invoked_function_arn = "arn:pai:local:function:pai-serve"
    aws_request_id = "local"


def to_event(method: str, target: str, headers: dict[str, str], body: bytes,
             user_id: str) -> dict[str, Any]:
    url = urlsplit(target)
    text = body.decode("utf-8", "replace") if body else None
    return {
        "version": "2.0", "routeKey": f"{method} {url.path}", "rawPath": url.path,
        "rawQueryString": url.query,
        "queryStringParameters": dict(parse_qsl(url.query, keep_blank_values=True)) or None,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "http": {"method": method, "path": url.path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "authorizer": {"iam": {"userArn": LOCAL + user_id}},
            "routeKey": f"{method} {url.path}", "stage": "$default", "requestId": "local",
        },
        "body": text, "isBase64Encoded": False,
    }


def make_server(wiring: Any, host: str = "127.0.0.1", port: int = 8765) -> HTTPServer:
    app = build_app(lambda: wiring)
    user_id = wiring.settings.user

    class Handler(BaseHTTPRequestHandler):
        server_version = "pai-serve"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the CLI prints a line
            pass

        def _handle(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self._send(400, {"error": "The Content-Length header is not a number."})
                return
            if length > MAX_BODY:
                # Refused unread: a client must not make the server hold gigabytes.
                self.close_connection = True
                self._send(413, {"error": f"The request body is over {MAX_BODY // 1024} KiB."})
                return
            body = self.rfile.read(length) if length else b""
            event = to_event(self.command, self.path, dict(self.headers), body, user_id)
            out = too_large(event) or app.resolve(event, _Context())
            payload = out.get("body") or ""
            data = base64.b64decode(payload) if out.get("isBase64Encoded") else payload.encode()
            self._write(out["statusCode"], dict(out.get("headers") or {}), data)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            self._write(status, {}, json.dumps(body).encode())

        def _write(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            headers.setdefault("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":  # HEAD: the headers GET would send, no body
                self.wfile.write(data)
            self.wfile.flush()
            if self.command == "POST" and self.path.split("?")[0] == "/chat":
                # The reply is out: now its memory job (off the request, as on Lambda, where
                # the memory writer does it). A failure leaves the job queued for next time.
                try:
                    wiring.chat.remember_pending(user_id)
                except Exception as e:  # noqa: BLE001 - the job stays in the durable queue
                    sys.stderr.write(f"pai serve: writing long-term memory failed, the job "
                                     f"stays queued: {getattr(e, 'message', e)}\n")

        # Every method goes to the resolver, which answers one a path does not declare with
        # 405 and an Allow header (http.server alone would send a 501 HTML page).
        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _handle
        do_TRACE = do_CONNECT = _handle

        def __getattr__(self, name: str) -> Any:
            if name.startswith("do_"):  # any other method a client makes up (QUERY, FOO)
                return self._handle
            raise AttributeError(name)

    # One thread: the local home's SQLite connection is used by one request at a time.
    return HTTPServer((host, port), Handler)


def describe(server: HTTPServer) -> str:
    host, port = server.server_address[:2]
    return json.dumps({"url": f"http://{host}:{port}", "openapi": f"http://{host}:{port}/openapi.json"})
