"""An OpenAI-compatible chat-completions server with SSE streaming, scripted per request."""

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
    cut_after: int | None = None  # drop the connection after this many pieces
    delay: float = 0.0  # seconds before each streamed chunk


@dataclass
class Status:
    status: int
    message: str = "error"
    retry_after: str | None = None


MEMORY_PROMPT = "You maintain the long-term memory"
"""How pai's distillation prompt starts (pai_cli/core/distill.py)."""


@dataclass
class OpenAIFake:
    script: list[Reply | Status] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["tiny-model"])
    server: ScriptedServer | None = None
    memory_script: list[Reply | Status] | None = None
    """Answers to pai's memory (distillation) calls, kept apart from the chat script; by
    default every such call answers that there is nothing to remember."""
    memory_calls: list[dict] = field(default_factory=list)

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
        events.append({"id": "c1", "choices": [{"index": 0, "delta": {},
                                                 "finish_reason": "stop"}]})
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
