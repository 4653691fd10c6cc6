"""A Ctrl-C while the main thread is blocked reading a streamed reply off the socket, for
both model adapters: the real adapter, its HTTP library and a real local server, with a real
SIGINT. The server holds the stream after a few pieces, so the signal always arrives while
the reply is unfinished (wherever it lands: the socket read, the parser, the sink), and the
turn must end interrupted with exactly what arrived, never as a model error."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest
from fakes.bedrock_server import Stream, stream_frames
from fakes.home import FakeHome
from fakes.http import ScriptedServer, Seen

from pai_cli.backends.llm.bedrock import BedrockModel
from pai_cli.backends.llm.openai_compat import OpenAICompatModel
from pai_cli.core.chat import TurnHooks

PIECES = [f"word{i} " for i in range(8)]
SHOWN = 4
"""Pieces the server sends before it holds the stream."""


def held(chunks: list[bytes], content_type: str, release: threading.Event):
    """Chunked reply: the first SHOWN chunks, then nothing until release, then the rest."""
    def handle(seen: Seen, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for i, chunk in enumerate(chunks):
                if i == SHOWN:
                    release.wait(30)
                h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except OSError:
            pass  # the interrupted client hung up
    return handle


def sse_chunks() -> list[bytes]:
    events = [{"choices": [{"delta": {"content": p}}]} for p in PIECES]
    events.append({"choices": [{"delta": {}, "finish_reason": "stop"}]})
    return [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]


def bedrock_chunks() -> list[bytes]:
    # messageStart first: the held point is after SHOWN text deltas.
    frames = stream_frames(Stream(PIECES))
    return [frames[0] + frames[1], *frames[2:]]


@contextmanager
def sigint_raises() -> Iterator[None]:
    """SIGINT as KeyboardInterrupt, as a terminal's Ctrl-C gives an interactive pai, even
    where this test process inherited it ignored (a suite started in the background)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def interrupted_turn(make_model: Callable[[str], object], chunks: list[bytes],
                     content_type: str) -> None:
    release = threading.Event()
    with ScriptedServer(held(chunks, content_type, release)) as server:
        h = FakeHome(model=make_model(server.url))
        arrived: list[str] = []
        shown = threading.Event()

        def sink(piece: str) -> None:
            arrived.append(piece)
            if len(arrived) == SHOWN:
                shown.set()

        def press_ctrl_c() -> None:
            # The server sends nothing more until release: from here on the main thread
            # waits on the socket (or is still handling the last piece).
            shown.wait(30)
            os.kill(os.getpid(), signal.SIGINT)

        presser = threading.Thread(target=press_ctrl_c, daemon=True)
        with sigint_raises():
            presser.start()
            try:
                result = h.chat.turn("alice", "talk slowly", hooks=TurnHooks(on_text=sink))
            finally:
                release.set()
                presser.join(30)
    assert result.interrupted and result.failure is None and result.error is None
    assert result.reply == "".join(PIECES[:SHOWN])
    cid = result.conversation_id
    assert [(m.role, m.content) for m in h.chat.messages("alice", cid)] == [
        ("user", "talk slowly"), ("assistant", "".join(PIECES[:SHOWN]))]


def test_ctrl_c_while_an_openai_stream_is_read_is_an_interruption() -> None:
    interrupted_turn(lambda url: OpenAICompatModel(url, "m", sleep=lambda s: None),
                     sse_chunks(), "text/event-stream")


def test_ctrl_c_while_a_bedrock_stream_is_read_is_an_interruption(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    interrupted_turn(
        lambda url: BedrockModel("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-1",
                                 endpoint_url=url, sleep=lambda s: None),
        bedrock_chunks(), "application/vnd.amazon.eventstream")
