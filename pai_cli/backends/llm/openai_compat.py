"""Any server that speaks OpenAI chat completions with SSE streaming: Ollama, llama.cpp's
server, vLLM, LM Studio, OpenAI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pai_cli.errors import ModelConfigError, ModelError, PromptTooLong
from pai_cli.records import ChatMessage, ReplyEvent, Usage

RETRY_STATUS = {429, 500, 502, 503, 504}


class OpenAICompatModel:
    provider = "openai"

    def __init__(
        self,
        base_url: str,
        model_id: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_id = model_id
        self._api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self._sleep = sleep
        self._http: Any = None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"OpenAICompatModel({self.base_url!r}, {self.model_id!r})"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _client(self) -> Any:
        # One client for the session: building one loads the CA bundle (~25 ms here), and a
        # kept-alive connection saves the connect on every turn.
        if self._http is None:
            import httpx

            self._http = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=5.0))
        return self._http

    def stream(
        self, system: str, messages: Sequence[ChatMessage], max_tokens: int
    ) -> Iterator[ReplyEvent]:
        import httpx

        body = {
            "model": self.model_id,
            "messages": [{"role": "system", "content": system}]
            + [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "max_tokens": max_tokens,
            "stream_options": {"include_usage": True},
        }
        url = f"{self.base_url}/chat/completions"
        client = self._client()
        for attempt in range(self.retries + 1):
            try:
                with client.stream("POST", url, json=body, headers=self._headers()) as resp:
                    if resp.status_code in RETRY_STATUS and attempt < self.retries:
                        resp.read()
                        self._sleep(_backoff(attempt, resp.headers.get("retry-after")))
                        continue
                    if resp.status_code >= 400:
                        resp.read()
                        raise self._http_error(resp.status_code, resp.text)
                    yield from self._events(resp)
                    return
            except httpx.ConnectError:
                raise ModelError(
                    f"Cannot reach the model server at {self.base_url}: is it running? "
                    "(check base_url in the config or PAI_BASE_URL)"
                ) from None
            except httpx.TimeoutException:
                raise ModelError(
                    f"The model server at {self.base_url} did not answer within "
                    f"{self.timeout:.0f} s: try again, or raise the timeout."
                ) from None
            except (httpx.RemoteProtocolError, httpx.ReadError):
                raise ModelError(
                    "The model server closed the connection mid-reply; what arrived is kept."
                ) from None

    def _events(self, resp: Any) -> Iterator[ReplyEvent]:
        usage: Usage | None = None
        stop: str | None = None
        done = False
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue  # comments, event names, keep-alives
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise ModelError("The model server sent a malformed stream event.") from None
            if "error" in chunk:
                err = chunk["error"]
                raise ModelError(f"The model server failed mid-reply: {_message(err)}")
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    yield ReplyEvent(text=piece)
                stop = choice.get("finish_reason") or stop
            if chunk.get("usage"):
                u = chunk["usage"]
                usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        if not done and stop is None:
            raise ModelError("The reply stream was cut off before it ended; what arrived is kept.")
        yield ReplyEvent(usage=usage, stop_reason=stop)

    def _http_error(self, status: int, text: str) -> ModelError | ModelConfigError:
        try:
            detail = _message(json.loads(text).get("error", text))
        except (json.JSONDecodeError, AttributeError):
            detail = text.strip()[:200] or f"HTTP {status}"
        if status in (401, 403):
            return ModelConfigError(
                f"The model server at {self.base_url} refused the API key (HTTP {status}): "
                "set a valid one with `pai models set-key` or PAI_API_KEY."
            )
        if status == 404:
            return ModelConfigError(
                f"Model {self.model_id!r} or its endpoint was not found at {self.base_url}: "
                "check `model` and `base_url` (`pai models` lists what the server has)."
            )
        if status == 400 and ("context" in detail.lower() or "too long" in detail.lower()):
            return PromptTooLong(
                f"The prompt is too long for {self.model_id}: shorten the message or lower "
                "context_tokens in the config."
            )
        if status == 429:
            return ModelError(
                f"The model server is rate-limiting requests (retried {self.retries} times): "
                "wait a little and try again."
            )
        return ModelError(f"The model server answered HTTP {status}: {detail}")

    def check(self) -> list[str]:
        """The models the server offers; raises ModelError/ModelConfigError if unreachable."""
        import httpx

        try:
            resp = self._client().get(f"{self.base_url}/models", headers=self._headers())
        except httpx.HTTPError:
            raise ModelError(f"Cannot reach the model server at {self.base_url}.") from None
        if resp.status_code >= 400:
            raise self._http_error(resp.status_code, resp.text)
        try:
            return [m["id"] for m in resp.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ModelError(f"{self.base_url}/models did not answer like an OpenAI API.") from None


def _message(err: object) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err)
    return str(err)


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(float(retry_after), 30.0)
        except ValueError:
            pass
    return min(0.5 * 2**attempt, 8.0)
