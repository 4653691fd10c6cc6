"""A local Bedrock Runtime speaking Converse / ConverseStream over real HTTP: rest-json
errors (x-amzn-ErrorType) and the AWS event-stream binary framing, so boto3's own
serialisation, signing, retries and event parsing all run."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

from fakes.http import ScriptedServer, Seen, send, send_chunked


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths + CRC), string headers, payload, CRC."""
    hbytes = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        hbytes += struct.pack("!B", len(n)) + n + struct.pack("!BH", 7, len(v)) + v
    total = 12 + len(hbytes) + len(payload) + 4
    prelude = struct.pack("!II", total, len(hbytes))
    head = prelude + struct.pack("!I", zlib.crc32(prelude))
    body = head + hbytes + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event(kind: str, payload: dict) -> bytes:
    return event_message({":message-type": "event", ":event-type": kind,
                          ":content-type": "application/json"}, json.dumps(payload).encode())


def exception_event(kind: str, message: str) -> bytes:
    return event_message({":message-type": "exception", ":exception-type": kind,
                          ":content-type": "application/json"},
                         json.dumps({"message": message}).encode())


@dataclass
class Stream:
    pieces: list[str]
    usage: tuple[int, int] = (120, 9)
    error_event: tuple[str, str] | None = None  # (exceptionType, message) after the pieces
    cut_after: int | None = None


@dataclass
class Error:
    status: int
    code: str
    message: str


@dataclass
class BedrockFake:
    script: list[Stream | Error] = field(default_factory=list)

    def handle(self, seen: Seen, h: BaseHTTPRequestHandler) -> None:
        step = self.script.pop(0) if self.script else Stream(["(no script left)"])
        if isinstance(step, Error):
            send(h, step.status, json.dumps({"message": step.message}).encode(), {
                "Content-Type": "application/json",
                "x-amzn-ErrorType": f"{step.code}:http://internal.amazon.com/coral/",
            })
            return
        if seen.path.endswith("/converse"):
            body = {"output": {"message": {"role": "assistant",
                                           "content": [{"text": "".join(step.pieces)}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": step.usage[0], "outputTokens": step.usage[1],
                              "totalTokens": sum(step.usage)},
                    "metrics": {"latencyMs": 5}}
            send(h, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
            return
        # Real ConverseStream sends no contentBlockStart for text blocks (only for tool use);
        # botocore rejects an empty one, as it should.
        frames = [event("messageStart", {"role": "assistant"})]
        frames += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}})
                   for p in step.pieces]
        if step.error_event:
            frames.append(exception_event(*step.error_event))
        else:
            frames += [event("contentBlockStop", {"contentBlockIndex": 0}),
                       event("messageStop", {"stopReason": "end_turn"}),
                       event("metadata", {"usage": {"inputTokens": step.usage[0],
                                                    "outputTokens": step.usage[1],
                                                    "totalTokens": sum(step.usage)},
                                          "metrics": {"latencyMs": 12}})]
        cut = None if step.cut_after is None else 1 + step.cut_after
        send_chunked(h, 200, frames, {"Content-Type": "application/vnd.amazon.eventstream"},
                     cut_after=cut)


def model_of(seen: Seen) -> str:
    return unquote(seen.path.split("/model/", 1)[1].rsplit("/", 1)[0])


@contextmanager
def bedrock_fake(*script: Stream | Error) -> Iterator[tuple[BedrockFake, ScriptedServer]]:
    fake = BedrockFake(list(script))
    with ScriptedServer(fake.handle) as server:
        yield fake, server
