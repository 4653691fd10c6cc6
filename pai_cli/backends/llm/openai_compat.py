"""Any server that speaks OpenAI chat completions with SSE streaming: Ollama, llama.cpp's
server, vLLM, LM Studio, OpenAI."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pai_cli.backends.llm.tool_args import arguments_from_text, arguments_from_value
from pai_cli.errors import ModelConfigError, ModelError, PromptTooLong
from pai_cli.records import ChatMessage, ReplyEvent, ToolCall, ToolResult, ToolSpec, Usage

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
        self, system: str, messages: Sequence[ChatMessage], max_tokens: int,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ReplyEvent]:
        import httpx

        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": _messages(system, messages),
            "stream": True,
            "max_tokens": max_tokens,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.input_schema}}
                for t in tools]
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
        calls = _CallAssembler()
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
                delta = choice.get("delta") or {}
                piece = delta.get("content")
                if piece:
                    yield ReplyEvent(text=piece)
                for part in delta.get("tool_calls") or ():
                    calls.feed(part)
                stop = choice.get("finish_reason") or stop
            if chunk.get("usage"):
                u = chunk["usage"]
                usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        if not done and stop is None:
            raise ModelError("The reply stream was cut off before it ended; what arrived is kept.")
        # Calls are handed on once the stream has ended, when every delta of every call
        # (however a server spreads them) has arrived.
        made = calls.finish(truncated=stop == "length")
        for call in made:
            yield ReplyEvent(tool_call=call)
        yield ReplyEvent(usage=usage, stop_reason=_stop_reason(stop, bool(made)))

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


def _stop_reason(finish: str | None, made_calls: bool) -> str | None:
    """finish_reason in the port's words. Some servers (Ollama's stream, and OpenAI's own
    gpt-4o at times) end a reply of tool calls with "stop": with calls made and nothing cut
    short, the model is waiting for their results."""
    if finish in ("tool_calls", "function_call") or (made_calls and finish in (None, "stop")):
        return "tool_use"
    return finish


def _messages(system: str, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for m in messages:
        for r in m.tool_results:
            out.append({"role": "tool", "tool_call_id": r.call_id,
                        "content": json.dumps(_result_body(r), ensure_ascii=False)})
        if m.tool_calls:
            out.append({"role": "assistant", "content": m.content or None, "tool_calls": [
                {"id": c.id, "type": "function", "function": {
                    # A call whose arguments were unusable is echoed with none (servers that
                    # render history through a chat template parse them); the error result
                    # that answers it tells the model why.
                    "name": c.name, "arguments": json.dumps(
                        c.arguments if c.arguments is not None else {}, ensure_ascii=False)}}
                for c in m.tool_calls]})
        elif m.content or not m.tool_results:
            out.append({"role": m.role, "content": m.content})
    return out


def _result_body(r: ToolResult) -> dict[str, Any]:
    # A tool message has no error flag: an error result says so in its body.
    if r.is_error and "error" not in r.content:
        return {"error": r.content}
    return r.content


_UNSET: Any = object()


@dataclass
class _PendingCall:
    id: str | None = None
    name: str = ""
    pieces: list[str] = field(default_factory=list)
    value: Any = _UNSET
    """The arguments, where a server sent them as a JSON value instead of a string."""
    mixed: bool = False

    def finished(self) -> bool:
        """Whether the arguments so far are already a whole JSON value."""
        if self.value is not _UNSET:
            return True
        text = "".join(self.pieces).strip()
        if not text:
            return False
        try:
            json.loads(text)
        except ValueError:
            return False
        return True

    def call(self, truncated: bool) -> ToolCall:
        call_id = self.id or f"call_{uuid.uuid4().hex[:24]}"  # some servers send none
        label = self.name or "the tool"
        if not self.name:
            return ToolCall(call_id, "", None, "The tool call named no tool: call one of the "
                            "tools offered, by its name.")
        if self.mixed:
            return ToolCall(call_id, self.name, None, f"The arguments for {label} arrived both "
                            "as text and as an object: call it again with one JSON object.")
        if self.value is not _UNSET:
            arguments, error = arguments_from_value(label, self.value)
        else:
            arguments, error = arguments_from_text(label, "".join(self.pieces), truncated)
        return ToolCall(call_id, self.name, arguments, error)


class _CallAssembler:
    """Streamed tool-call deltas into whole calls. OpenAI sends the id, type and name in a
    call's first delta and its arguments as string pieces over the next ones, all with the
    call's `index`; servers differ, and each difference is read only where it is plain:

    - the whole call in one delta, or `index` left out: a delta without an index belongs to
      the call with its id, else to the latest call;
    - Ollama reuses index 0 for every call of a parallel batch: a delta opens a new call at a
      known index only when it names a tool, brings an id other than that call's, and the
      call's arguments are already a whole JSON value;
    - an id or name repeated on every delta (LiteLLM, MiniMax) is the same call; a different
      id later on a call (Poolside) does not replace its first one;
    - arguments as a JSON object instead of a string (Ollama's own shape) are taken as they
      are; both shapes on one call are an error, not a guess."""

    def __init__(self) -> None:
        self.calls: list[_PendingCall] = []
        self.at_index: dict[int, int] = {}

    def _opens_new(self, current: _PendingCall, call_id: str | None, name: str | None,
                   indexed: bool) -> bool:
        if name is None or not current.finished():
            return False
        if call_id is None:
            return not indexed
        return call_id != current.id

    def _target(self, index: int | None, call_id: str | None, name: str | None) -> _PendingCall:
        if index is not None:
            at = self.at_index.get(index)
            if at is not None and not self._opens_new(self.calls[at], call_id, name, True):
                return self.calls[at]
            self.calls.append(_PendingCall())
            self.at_index[index] = len(self.calls) - 1
            return self.calls[-1]
        if call_id is not None:
            for known in self.calls:
                if known.id == call_id:
                    return known
        if self.calls and not self._opens_new(self.calls[-1], call_id, name, False):
            return self.calls[-1]
        self.calls.append(_PendingCall())
        return self.calls[-1]

    def feed(self, part: Any) -> None:
        if not isinstance(part, dict):
            raise ModelError("The model server sent a malformed tool call in its stream.")
        raw_index = part.get("index")
        index = raw_index if isinstance(raw_index, int) and not isinstance(raw_index, bool) \
            else None
        raw_id = part.get("id")
        call_id = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(
            raw_id, bool) and str(raw_id) else None  # Poolside sends integer ids
        function = part.get("function") if isinstance(part.get("function"), dict) else {}
        raw_name = function.get("name")
        name = raw_name if isinstance(raw_name, str) and raw_name else None
        call = self._target(index, call_id, name)
        if call_id is not None and call.id is None:
            call.id = call_id
        if name is not None and name != call.name:
            call.name += name  # names come whole; openai-python joins pieces if they do not
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            if arguments:
                call.mixed = call.mixed or call.value is not _UNSET
                call.pieces.append(arguments)
        elif arguments is not None:
            call.mixed = call.mixed or bool(call.pieces) or call.value is not _UNSET
            call.value = arguments

    def finish(self, truncated: bool) -> list[ToolCall]:
        return [c.call(truncated) for c in self.calls]
