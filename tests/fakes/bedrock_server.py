"""A local Bedrock Runtime speaking Converse / ConverseStream over real HTTP: rest-json
errors (x-amzn-ErrorType) and the AWS event-stream binary framing, so boto3's own
serialisation, signing, retries and event parsing all run.

Tool use follows the service: a scripted reply streams each toolUse block as
contentBlockStart {start: {toolUse: {toolUseId, name}}}, its input as contentBlockDelta
{delta: {toolUse: {input}}} string pieces and a contentBlockStop, then messageStop
"tool_use"; and a request is refused, with the ValidationException message Bedrock sends,
when it breaks the rules Bedrock enforces on tool blocks (see `tool_rule_broken`)."""

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
class ToolUse:
    """One toolUse block: its input streamed as these pieces of JSON text."""

    id: str
    name: str
    input_pieces: list[str] = field(default_factory=list)


@dataclass
class Stream:
    pieces: list[str]
    usage: tuple[int, int] = (120, 9)
    error_event: tuple[str, str] | None = None  # (exceptionType, message) after the pieces
    cut_after: int | None = None
    calls: list[ToolUse] = field(default_factory=list)
    stop_reason: str | None = None
    """Default: "tool_use" when the reply has calls, else "end_turn"."""
    error_after_calls: int | None = None
    """Send error_event after this many whole toolUse blocks instead (after the text)..."""
    error_mid_call: bool = False
    """... and after the start and first input piece of the next one."""
    unclosed_calls: bool = False
    """Leave out the toolUse blocks' contentBlockStop events."""


@dataclass
class Error:
    status: int
    code: str
    message: str


def tool_rule_broken(body: dict) -> str | None:
    """The ValidationException message Bedrock answers a request with when its tool blocks
    break one of the service's rules, or None. Messages as Bedrock words them."""
    messages = body.get("messages") or []
    blocks = [(i, j, b) for i, m in enumerate(messages) for j, b in enumerate(m["content"])]
    if any("toolUse" in b or "toolResult" in b for _, _, b in blocks) and not body.get(
            "toolConfig"):
        return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
    for n, tool in enumerate((body.get("toolConfig") or {}).get("tools") or []):
        schema = tool.get("toolSpec", {}).get("inputSchema", {}).get("json")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return (f"The value at toolConfig.tools.{n}.toolSpec.inputSchema.json.type must be "
                    "object.")  # "The top level schema type must be object" (ToolInputSchema)
    if messages and messages[0]["role"] != "user":
        return ("A conversation must start with a user message. Try again with a conversation "
                "that starts with a user message.")
    for i in range(1, len(messages)):
        if messages[i]["role"] == messages[i - 1]["role"]:
            return ("A conversation must alternate between user and assistant roles. Make sure "
                    "the conversation alternates between user and assistant roles and try again.")
    for i, m in enumerate(messages):
        asked = [b["toolUse"]["toolUseId"] for b in m["content"] if "toolUse" in b]
        answered = [b["toolResult"]["toolUseId"] for b in m["content"] if "toolResult" in b]
        before = messages[i - 1]["content"] if i else []
        previous = [b["toolUse"]["toolUseId"] for b in before if "toolUse" in b]
        if len(answered) > len(previous):
            return (f"The number of toolResult blocks at messages.{i}.content exceeds the number "
                    "of toolUse blocks of previous turn.")
        unknown = [a for a in answered if a not in previous]
        if unknown:  # Claude's own check, passed on by Bedrock
            return (f"The model returned the following errors: messages.{i}.content: unexpected "
                    f"`tool_use_id` found in `tool_result` blocks: {unknown[0]}. Each "
                    "`tool_result` block must have a corresponding `tool_use` block in the "
                    "previous message.")
        if asked and i + 1 < len(messages):
            after = {b["toolResult"]["toolUseId"] for b in messages[i + 1]["content"]
                     if "toolResult" in b}
            missing = [a for a in asked if a not in after]
            if missing:
                return (f"Expected toolResult blocks at messages.{i + 1}.content for the "
                        f"following Ids: {', '.join(missing)}")
        for j, b in enumerate(m["content"]):
            for k, part in enumerate(b.get("toolResult", {}).get("content", [])):
                if "json" in part and not isinstance(part["json"], dict):
                    return (f"The format of the value at messages.{i}.content.{j}.toolResult."
                            f"content.{k}.json is invalid. Provide a json object for the field "
                            "and try again.")
    return None


def stream_frames(step: Stream) -> list[bytes]:
    # Real ConverseStream sends no contentBlockStart for text blocks (only for tool use);
    # botocore rejects an empty one, as it should.
    frames = [event("messageStart", {"role": "assistant"})]
    frames += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}})
               for p in step.pieces]
    text_blocks = 1 if step.pieces else 0
    if step.error_event and step.error_after_calls is None:
        return frames + [exception_event(*step.error_event)]
    if step.pieces:
        frames.append(event("contentBlockStop", {"contentBlockIndex": 0}))
    for n, call in enumerate(step.calls):
        index = text_blocks + n
        if step.error_event and step.error_after_calls == n and not step.error_mid_call:
            return frames + [exception_event(*step.error_event)]
        frames.append(event("contentBlockStart", {"contentBlockIndex": index, "start": {
            "toolUse": {"toolUseId": call.id, "name": call.name}}}))
        for m, piece in enumerate(call.input_pieces):
            frames.append(event("contentBlockDelta", {"contentBlockIndex": index,
                                                      "delta": {"toolUse": {"input": piece}}}))
            if step.error_event and step.error_after_calls == n and m == 0:
                return frames + [exception_event(*step.error_event)]
        if not step.unclosed_calls:
            frames.append(event("contentBlockStop", {"contentBlockIndex": index}))
    if step.error_event:
        return frames + [exception_event(*step.error_event)]
    stop = step.stop_reason or ("tool_use" if step.calls else "end_turn")
    return frames + [event("messageStop", {"stopReason": stop}),
                     event("metadata", {"usage": {"inputTokens": step.usage[0],
                                                  "outputTokens": step.usage[1],
                                                  "totalTokens": sum(step.usage)},
                                        "metrics": {"latencyMs": 12}})]


@dataclass
class BedrockFake:
    script: list[Stream | Error] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    """The body of every Converse / ConverseStream request, in order."""

    def handle(self, seen: Seen, h: BaseHTTPRequestHandler) -> None:
        body = seen.json() if seen.body else {}
        self.requests.append(body)
        broken = tool_rule_broken(body)
        if broken:
            step: Stream | Error = Error(400, "ValidationException", broken)
        else:
            step = self.script.pop(0) if self.script else Stream(["(no script left)"])
        if isinstance(step, Error):
            send(h, step.status, json.dumps({"message": step.message}).encode(), {
                "Content-Type": "application/json",
                "x-amzn-ErrorType": f"{step.code}:http://internal.amazon.com/coral/",
            })
            return
        if seen.path.endswith("/converse"):
            content: list[dict] = ([{"text": "".join(step.pieces)}]
                                   if step.pieces or not step.calls else [])
            content += [{"toolUse": {"toolUseId": c.id, "name": c.name,
                                     "input": json.loads("".join(c.input_pieces) or "{}")}}
                        for c in step.calls]
            body = {"output": {"message": {"role": "assistant", "content": content}},
                    "stopReason": step.stop_reason or ("tool_use" if step.calls else "end_turn"),
                    "usage": {"inputTokens": step.usage[0], "outputTokens": step.usage[1],
                              "totalTokens": sum(step.usage)},
                    "metrics": {"latencyMs": 5}}
            send(h, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
            return
        cut = None if step.cut_after is None else 1 + step.cut_after
        send_chunked(h, 200, stream_frames(step),
                     {"Content-Type": "application/vnd.amazon.eventstream"}, cut_after=cut)


def model_of(seen: Seen) -> str:
    return unquote(seen.path.split("/model/", 1)[1].rsplit("/", 1)[0])


@contextmanager
def bedrock_fake(*script: Stream | Error) -> Iterator[tuple[BedrockFake, ScriptedServer]]:
    fake = BedrockFake(list(script))
    with ScriptedServer(fake.handle) as server:
        yield fake, server
