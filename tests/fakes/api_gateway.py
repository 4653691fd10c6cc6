"""API Gateway's HTTP API in front of the real handlers, over real HTTP on 127.0.0.1.

It authorizes as API Gateway documents before a request reaches a function:
- AWS_IAM: the SigV4 signature is computed again from the request as received (the signed
  headers, the query, a hash of the body) with the caller's secret key and must match;
  the scope must be this region and execute-api; the time within 15 minutes. The caller's
  ARN goes into requestContext.authorizer.iam. A bad signature: 403; none: 403.
- JWT: the token (Authorization, with or without "Bearer ") is verified against the issuer's
  public keys (RS256), its iss must be the issuer, exp in the future, and aud one of the
  audiences, or, with no aud (Cognito's access tokens), client_id. The claims go into
  requestContext.authorizer.jwt.claims as strings. Anything else: 401 Unauthorized.
Then the event goes through the same resolver the Lambda functions run (api/app.py)."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pai_cli.api.app import build_app, too_large

SKEW = datetime.timedelta(minutes=15)


class _Context:
    function_name = "pai-fake-gateway"
    memory_limit_in_mb = 0
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pai-fake"
    aws_request_id = "fake-gateway"


@dataclass
class Iam:
    region: str
    keys: Mapping[str, tuple[str, str]]
    """access key id -> (secret key, the caller's ARN)."""


@dataclass
class Jwt:
    issuer: str
    audiences: tuple[str, ...]
    public_keys: Mapping[str, Any]
    """kid -> a public key PyJWT takes (the issuer's JWKS)."""


@dataclass
class FakeGateway:
    wiring: Any
    iam: Iam | None = None
    jwt: Jwt | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)

    def __enter__(self) -> FakeGateway:
        outer = self
        app = build_app(lambda: self.wiring)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, authorizer = outer.authorize(self.command, self.path, headers, body)
                if authorizer is None:
                    self._write(status, {}, json.dumps(
                        {"message": "Unauthorized" if status == 401 else "Forbidden"}).encode())
                    return
                event = outer.event(self.command, self.path, headers, body, authorizer)
                outer.seen.append(event)
                out = too_large(event) or app.resolve(event, _Context())
                self._write(out["statusCode"], dict(out.get("headers") or {}),
                            (out.get("body") or "").encode())

            def _write(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                headers.setdefault("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        # One thread, as `pai serve`: the local home's SQLite connection serves one request
        # at a time.
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- authorization, as API Gateway does it --------------------------------------------
    def authorize(self, method: str, target: str, headers: dict[str, str],
                  body: bytes) -> tuple[int, dict[str, Any] | None]:
        if self.iam is not None:
            arn = self._sigv4(method, target, headers, body)
            return (200, {"iam": {"userArn": arn}}) if arn else (403, None)
        assert self.jwt is not None
        claims = self._token(headers.get("authorization", ""))
        return (200, {"jwt": {"claims": claims, "scopes": None}}) if claims else (401, None)

    def _sigv4(self, method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        assert self.iam is not None
        auth = headers.get("authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return None
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        key_id, date, region, service, _ = parts["Credential"].split("/")
        if key_id not in self.iam.keys or region != self.iam.region or service != "execute-api":
            return None
        stamp = headers.get("x-amz-date", "")
        when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        if abs(datetime.datetime.now(datetime.UTC) - when) > SKEW or not stamp.startswith(date):
            return None
        signed = parts["SignedHeaders"].split(";")
        secret, arn = self.iam.keys[key_id]
        request = AWSRequest(method=method, url=f"http://{headers['host']}{target}", data=body,
                             headers={h: headers[h] for h in signed if h in headers})
        request.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(key_id, secret, headers.get("x-amz-security-token")),
                           service, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        return arn if expected == parts["Signature"] else None

    def _token(self, header: str) -> dict[str, str] | None:
        import jwt as pyjwt

        assert self.jwt is not None
        token = header[len("Bearer "):] if header.startswith("Bearer ") else header
        try:
            kid = pyjwt.get_unverified_header(token).get("kid")
            key = self.jwt.public_keys[kid]
            claims = pyjwt.decode(token, key, algorithms=["RS256"], issuer=self.jwt.issuer,
                                  options={"verify_aud": False, "require": ["exp", "iss", "sub"]})
        except (pyjwt.PyJWTError, KeyError):
            return None
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else list(aud or [])
        if audiences:
            if not set(audiences) & set(self.jwt.audiences):
                return None
        elif claims.get("client_id") not in self.jwt.audiences:
            return None
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}

    @staticmethod
    def event(method: str, target: str, headers: dict[str, str], body: bytes,
              authorizer: dict[str, Any]) -> dict[str, Any]:
        url = urlsplit(target)
        return {
            "version": "2.0", "routeKey": f"{method} {url.path}", "rawPath": url.path,
            "rawQueryString": url.query,
            "queryStringParameters": dict(parse_qsl(url.query, keep_blank_values=True)) or None,
            "headers": headers,
            "requestContext": {
                "http": {"method": method, "path": url.path, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
                "authorizer": authorizer, "routeKey": f"{method} {url.path}",
                "stage": "$default", "requestId": "fake",
                "timeEpoch": int(datetime.datetime.now(datetime.UTC).timestamp() * 1000),
            },
            "body": body.decode("utf-8") if body else None, "isBase64Encoded": False,
        }
