"""SigV4 for the HTTP API (`--auth iam`): botocore's own signer over httpx requests.

API Gateway checks the signature of the very bytes sent (method, path, query, the signed
headers, a hash of the body), so each request is signed as httpx will send it, after the
body is final, with credentials read fresh each time (an assumed role's refresh)."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import httpx

from pai_cli.errors import ConfigError

_HOST_REGION = re.compile(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")
_URL_REGION = re.compile(r"[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws")


def region_of(url: str) -> str | None:
    """The region in an API Gateway (or function URL) host name, if it is one."""
    host = httpx.URL(url).host
    found = _HOST_REGION.fullmatch(host) or _URL_REGION.fullmatch(host)
    return found.group(1) if found else None


class SigV4(httpx.Auth):
    """Signs for `service` (execute-api for API Gateway, lambda for a function URL)."""

    requires_request_body = True

    def __init__(self, credentials: Any, region: str, service: str = "execute-api") -> None:
        self._credentials = credentials
        self.region = region
        self.service = service

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self._credentials is None:
            raise ConfigError("No AWS credentials to sign the API request with: configure a "
                              "profile (--profile, AWS_PROFILE), or use `pai login` on an API "
                              "deployed with --auth cognito.")
        frozen = self._credentials.get_frozen_credentials()
        # Only what API Gateway must see signed: the host and the body (its hash); httpx's
        # other headers (user agent, accept) may be changed by a proxy without breaking it.
        signed = {"Host": request.headers["Host"]}
        if "Content-Type" in request.headers:
            signed["Content-Type"] = request.headers["Content-Type"]
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content,
                         headers=signed)
        SigV4Auth(frozen, self.service, self.region).add_auth(aws)
        for name, value in aws.headers.items():
            request.headers[name] = value
        yield request
