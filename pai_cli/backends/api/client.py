"""One call to the deployed API: JSON in, JSON out, every non-2xx status one of pai's
errors with the server's one-line message, so a command fails the way it would locally."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pai_cli.errors import BackendError, ConfigError, DeadlineExceeded, InputError, NotFound

TIMEOUT_S = 35.0
"""API Gateway ends every integration at 30 s and answers 504: wait a little longer than that,
so the 504 (and its stored partial reply) arrives instead of a client-side timeout."""


class NotServed(ConfigError):
    """A command the HTTP API has no route for (import, reindex, ...): exit 3, the backend
    chosen cannot do it. Run it where the home is (--backend aws, with AWS credentials)."""


def not_served(what: str) -> NotServed:
    return NotServed(f"{what} is not served by the HTTP API (--backend api): run it with "
                     "--backend aws and AWS credentials, or on the local home.")


class ApiClient:
    """httpx over one base URL with one auth (SigV4 or a bearer token); `describe` names the
    environment in messages."""

    def __init__(self, base_url: str, auth: Any, describe: str, sign_in_hint: str,
                 timeout: float = TIMEOUT_S, transport: Any = None) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.describe = describe
        self.sign_in_hint = sign_in_hint
        self._http = httpx.Client(base_url=self.base_url, auth=auth, timeout=timeout,
                                  transport=transport,
                                  headers={"User-Agent": "pai-cli (--backend api)"})

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None,
             params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.answer(self.send(method, path, body, params))

    def send(self, method: str, path: str, body: Mapping[str, Any] | None = None,
             params: Mapping[str, Any] | None = None) -> Any:
        """The raw response (for a caller that reads an error status's body itself)."""
        import httpx

        content = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if content is not None else {}
        try:
            return self._http.request(method, path, content=content, headers=headers,
                                      params={k: v for k, v in (params or {}).items()
                                              if v is not None} or None)
        except httpx.TimeoutException:
            raise BackendError(f"The API of {self.describe} did not answer in time: try "
                               "again.") from None
        except httpx.HTTPError as e:
            raise BackendError(f"Cannot reach the API of {self.describe} ({e}): check the "
                               "URL and your network.") from None

    def answer(self, response: Any) -> dict[str, Any]:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {}
        message = str(data.get("error") or data.get("message") or "").strip()
        if 200 <= status < 300:
            if not data and status != 204:
                raise BackendError(f"The API of {self.describe} answered {status} without a "
                                   "JSON object: is the URL the pai API's?")
            return data
        if status in (401, 403):
            raise ConfigError(f"The API of {self.describe} refused the request ({status}"
                              f"{': ' + message if message else ''}): {self.sign_in_hint}")
        if status == 404:
            raise NotFound(message or f"Not found on the API of {self.describe}.")
        if status == 429:
            wait = response.headers.get("Retry-After")
            raise BackendError(f"The API of {self.describe} is limiting your requests"
                               + (f": try again in {wait} s." if wait else ": try again shortly."))
        if status == 504:
            raise DeadlineExceeded(message or f"The API of {self.describe} timed out (30 s): "
                                   "what arrived is stored; ask for a shorter answer.")
        if 400 <= status < 500:
            raise InputError(message or f"The API of {self.describe} refused the request "
                             f"({status}).")
        raise BackendError(f"The API of {self.describe} failed ({status}"
                           f"{': ' + message if message else ''}).")

    def close(self) -> None:
        self._http.close()
