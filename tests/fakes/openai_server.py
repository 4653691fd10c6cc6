"""An OpenAI-compatible chat-completions server with SSE streaming, scripted per request.

A scripted reply can stream tool calls as chunks whose `choices[0].delta.tool_calls` are
given verbatim (`tool_chunks`), so a test can play any server's way of spreading a call
over deltas; `split_call` gives OpenAI's own: id, type and name with empty arguments in the
first delta, then the arguments in pieces, every delta with the call's index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from fakes.http import ScriptedServer, Seen, send, send_chunked


@dataclass
class Reply:
    pieces: list[str]
    usage: tuple[int, int] | None = (42, 7)
    cut_after: int | None = None  # drop the connection after this many chunks (text, tools)
    delay: float = 0.0  # seconds before each streamed chunk
    tool_chunks: list[list[dict]] = field(default_factory=list)
    """After the text, one chunk per entry: its delta.tool_calls, as sent."""
    finish_reason: str | None = None
    """Default: "tool_calls" when the reply has tool chunks, else "stop"."""


def split_call(index: int, call_id: str, name: str, argument_pieces: list[str]) -> list[list[dict]]:
    """One tool call the way OpenAI streams it."""
    first = [{"index": index, "id": call_id, "type": "function",
              "function": {"name": name, "arguments": ""}}]
    return [first] + [[{"index": index, "function": {"arguments": p}}] for p in argument_pieces]


@dataclass
class Status:
    status: int
    message: str = "error"
    retry_after: str | None = None


MEMORY_PROMPT = "You maintain the long-term memory"
"""How pai's distillation prompt starts (pai_cli/core/distill.py)."""


def tool_rule_broken(body: dict) -> str | None:
    """The 400 message OpenAI answers a request with when its tools or tool messages break
    the API's rules, or None. Messages as OpenAI words them (its typo included)."""
    for n, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            return f"Missing required parameter: 'tools[{n}].function'."
        if not tool["function"].get("name"):
            return f"Missing required parameter: 'tools[{n}].function.name'."
    messages = body.get("messages") or []
    for i, m in enumerate(messages):
        if m.get("role") == "tool":
            j = i - 1
            while j >= 0 and messages[j].get("role") == "tool":
                j -= 1
            asked = [c["id"] for c in (messages[j].get("tool_calls") or [])] if j >= 0 else []
            if m.get("tool_call_id") not in asked:
                return ("Invalid parameter: messages with role 'tool' must be a response to a "
                        "preceeding message with 'tool_calls'.")
            if not isinstance(m.get("content"), str):
                return f"Invalid type for 'messages[{i}].content': expected a string."
        for c in m.get("tool_calls") or []:
            if not isinstance(c.get("function", {}).get("arguments"), str):
                return (f"Invalid type for 'messages[{i}].tool_calls[0].function.arguments': "
                        "expected a string.")
        if m.get("tool_calls"):
            answered = set()
            for later in messages[i + 1:]:
                if later.get("role") != "tool":
                    break
                answered.add(later.get("tool_call_id"))
            missing = [c["id"] for c in m["tool_calls"] if c["id"] not in answered]
            if missing:
                return ("An assistant message with 'tool_calls' must be followed by tool "
                        "messages responding to each 'tool_call_id'. The following "
                        f"tool_call_ids did not have response messages: {', '.join(missing)}")
    return None


@dataclass
class OpenAIFake:
    script: list[Reply | Status] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["tiny-model"])
    server: ScriptedServer | None = None
    memory_script: list[Reply | Status] | None = None
    """Answers to pai's memory (distillation) calls, kept apart from the chat script; by
    default every such call answers that there is nothing to remember."""
    memory_calls: list[dict] = field(default_factory=list)
    chat_calls: list[dict] = field(default_factory=list)
    """The body of every other chat-completions request, in order."""

    def _is_memory_call(self, seen: Seen) -> bool:
        try:
            messages = seen.json().get("messages") or []
        except ValueError:
            return False
        return bool(messages) and str(messages[0].get("content", "")).startswith(MEMORY_PROMPT)

    def handle(self, seen: Seen, h: BaseHTTPRequestHandler) -> None:
        if seen.method == "GET" and seen.path.endswith("/models"):
            body = json.dumps({"object": "list", "data": [{"id": m} for m in self.models]})
            send(h, 200, body.encode(), {"Content-Type": "application/json"})
            return
        if seen.method == "POST" and self._is_memory_call(seen):
            self.memory_calls.append(seen.json())
            if self.memory_script is None:
                step: Reply | Status = Reply(['{"memories": []}'], usage=(300, 8))
            else:
                step = (self.memory_script.pop(0) if self.memory_script
                        else Reply(["(no memory script left)"]))
        else:
            try:
                body = seen.json() if seen.method == "POST" else {}
            except ValueError:
                body = {}
            if seen.method == "POST":
                self.chat_calls.append(body)
            broken = tool_rule_broken(body)
            if broken:  # refused before the model runs: the script is not consumed
                step = Status(400, broken)
            else:
                step = self.script.pop(0) if self.script else Reply(["(no script left)"])
        if isinstance(step, Status):
            headers = {"Content-Type": "application/json"}
            if step.retry_after:
                headers["Retry-After"] = step.retry_after
            send(h, step.status, json.dumps({"error": {"message": step.message}}).encode(), headers)
            return
        events = []
        for piece in step.pieces:
            events.append({"id": "c1", "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": {"content": piece},
                                        "finish_reason": None}]})
        for tool_calls in step.tool_chunks:
            events.append({"id": "c1", "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": {"content": None,
                                                              "tool_calls": tool_calls},
                                        "finish_reason": None}]})
        finish = step.finish_reason or ("tool_calls" if step.tool_chunks else "stop")
        events.append({"id": "c1", "choices": [{"index": 0, "delta": {},
                                                 "finish_reason": finish}]})
        if step.usage:
            events.append({"id": "c1", "choices": [], "usage": {
                "prompt_tokens": step.usage[0], "completion_tokens": step.usage[1]}})
        chunks = [b": keep-alive\n\n"] + [f"data: {json.dumps(e)}\n\n".encode() for e in events]
        chunks.append(b"data: [DONE]\n\n")
        cut = None if step.cut_after is None else step.cut_after + 1
        send_chunked(h, 200, chunks, {"Content-Type": "text/event-stream"}, cut_after=cut,
                     delay=step.delay)


@contextmanager
def openai_fake(*script: Reply | Status) -> Iterator[tuple[OpenAIFake, ScriptedServer]]:
    fake = OpenAIFake(list(script))
    with ScriptedServer(fake.handle) as server:
        fake.server = server
        yield fake, server
