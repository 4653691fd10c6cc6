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


@dataclass
class OpenAIFake:
    script: list[Reply | Status] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["tiny-model"])
    server: ScriptedServer | None = None

    def handle(self, seen: Seen, h: BaseHTTPRequestHandler) -> None:
        if seen.method == "GET" and seen.path.endswith("/models"):
            body = json.dumps({"object": "list", "data": [{"id": m} for m in self.models]})
            send(h, 200, body.encode(), {"Content-Type": "application/json"})
            return
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
