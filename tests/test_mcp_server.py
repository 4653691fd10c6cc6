"""`pai mcp` through the official SDK's own client: a ClientSession over stdio against a
`pai mcp` subprocess, and over streamable HTTP against `pai mcp --transport http`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import mcp.types as types
import pytest
from conftest import ROOT, pai, pai_process
from jsonschema import Draft202012Validator
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_MODERN_VERSION, OLDEST_SUPPORTED_VERSION

TOOLS = ["recall", "remember", "get", "list_memories", "update", "forget", "history"]
PAI = [sys.executable, "-m", "pai_cli.cli.main"]


def server_env() -> dict[str, str]:
    """What the test's pai home is made of: a client passes a server only what it is told."""
    keep = ("PAI_", "AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
    return {k: v for k, v in os.environ.items() if k.startswith(keep)}


def text(result: types.CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], types.TextContent)
    return result.content[0].text


def one_line_error(result: types.CallToolResult) -> str:
    assert result.is_error, result
    message = text(result)
    assert "\n" not in message and "Traceback" not in message and message
    return message


class Session:
    """A ClientSession plus what the transport saw that was not protocol."""

    def __init__(self, session: ClientSession, stray: list[Exception]) -> None:
        self.s = session
        self.stray = stray

    async def ok(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        result = await self.s.call_tool(name, args)
        assert not result.is_error, text(result)
        assert json.loads(text(result)) == result.structured_content
        assert result.structured_content is not None
        return result.structured_content


def pin_oldest() -> Callable[[ClientSession], Awaitable[None]]:
    async def init(s: ClientSession) -> None:
        # ClientSession.initialize always offers the newest handshake revision; a client
        # pinned to the oldest sends its own initialize and adopts the answer.
        result = await s.send_request(types.InitializeRequest(params=types.InitializeRequestParams(
            protocol_version=OLDEST_SUPPORTED_VERSION, capabilities=types.ClientCapabilities(),
            client_info=types.Implementation(name="pinned-oldest", version="1"))),
            types.InitializeResult)
        assert result.protocol_version == OLDEST_SUPPORTED_VERSION
        s.adopt(result)
        await s.send_notification(types.InitializedNotification())
    return init


async def newest(s: ClientSession) -> None:
    await s.discover()  # the stateless per-request revision (2026-07-28)
    assert s.protocol_version == LATEST_MODERN_VERSION


async def handshake(s: ClientSession) -> None:
    await s.initialize()
    assert s.protocol_version == HANDSHAKE_PROTOCOL_VERSIONS[-1]


@asynccontextmanager
async def over_stdio(errlog: Path, *args: str,
                     init: Callable[[ClientSession], Awaitable[None]] = handshake
                     ) -> AsyncIterator[Session]:
    stray: list[Exception] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            stray.append(message)

    params = StdioServerParameters(command=PAI[0], args=[*PAI[1:], "mcp", *args],
                                   env=server_env(), cwd=str(ROOT))
    with errlog.open("w") as err:
        async with stdio_client(params, errlog=err) as (r, w):
            async with ClientSession(r, w, message_handler=on_message,
                                     read_timeout_seconds=60) as s:
                await init(s)
                yield Session(s, stray)
    assert not stray, f"not protocol on stdout: {stray}"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    anyio.run(scenario)


def leaves(e: BaseException) -> list[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in leaves(sub)]
    return [e]


# --- stdio ---------------------------------------------------------------------------------
def test_tools_schemas_and_hints_over_stdio(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with over_stdio(tmp_path / "err.log") as c:
            init = c.s.initialize_result
            assert init is not None and init.server_info.name == "pai"
            assert "alice" in (init.instructions or "")
            listed = (await c.s.list_tools()).tools
            assert [t.name for t in listed] == TOOLS
            by = {t.name: t for t in listed}
            for t in listed:
                Draft202012Validator.check_schema(t.input_schema)
                assert t.output_schema is not None
                Draft202012Validator.check_schema(t.output_schema)
                assert t.input_schema.get("additionalProperties") is False
                assert t.description and len(t.description) > 60
                assert t.annotations is not None and t.annotations.open_world_hint is False
            assert by["recall"].input_schema["required"] == ["query"]
            k = by["recall"].input_schema["properties"]["k"]
            assert (k["type"], k["minimum"], k["maximum"], k["default"]) == ("integer", 1, 50, 5)
            hints = {t.name: (t.annotations.read_only_hint, t.annotations.destructive_hint,
                              t.annotations.idempotent_hint) for t in listed}
            assert hints == {"recall": (True, False, True), "get": (True, False, True),
                             "list_memories": (True, False, True),
                             "remember": (False, False, False), "update": (False, True, True),
                             "forget": (False, True, True), "history": (True, False, True)}
    run(scenario)
    err = (tmp_path / "err.log").read_text()
    assert "serving the memories of user 'alice' over MCP (stdio)" in err
    assert "created your master key" in err  # notices go to stderr, before serving
    assert "Traceback" not in err


def test_every_tool_prompt_and_resources_over_stdio(tmp_path: Path) -> None:
    assert pai("memory", "add", "Bob's boat is called Wavedancer", "--user", "bob").code == 0
    bob_id = json.loads(pai("memory", "list", "--user", "bob", "--json").out)[0]["id"]
    assert pai("memory", "add", "I am allergic to penicillin", "-c", "health").code == 0

    async def scenario() -> None:
        async with over_stdio(tmp_path / "err.log") as c:
            made = await c.ok("remember", {"content": "My daughter Maya starts school at "
                                                      "Oakwood Elementary", "category": "family"})
            assert made["id"].startswith("mem-") and made["category"] == "family"
            found = await c.ok("recall", {"query": "which school does my kid go to", "k": 3})
            assert found["results"][0]["id"] == made["id"]
            assert found["results"][0]["score"] > 0
            assert found["results"][0]["created_at"] == made["created_at"]
            assert bob_id not in json.dumps(found)
            assert (await c.ok("get", {"id": made["id"][:10]}))["content"].startswith("My daughter")
            listed = await c.ok("list_memories", {"category": "health", "limit": 5})
            assert [m["content"] for m in listed["memories"]] == ["I am allergic to penicillin"]
            assert (await c.ok("list_memories", {}))["count"] == 2
            changed = await c.ok("update", {"id": made["id"],
                                            "content": "Maya starts school at Lakeside"})
            assert changed["content"] == "Maya starts school at Lakeside"
            again = await c.ok("recall", {"query": "Lakeside school"})
            assert again["results"][0]["content"] == "Maya starts school at Lakeside"

            prompts = (await c.s.list_prompts()).prompts
            assert [p.name for p in prompts] == ["what-do-you-know-about-me"]
            got = await c.s.get_prompt("what-do-you-know-about-me", {"topic": "allergies"})
            said = got.messages[0].content
            assert isinstance(said, types.TextContent) and "penicillin" in said.text
            assert "Wavedancer" not in said.text
            resources = (await c.s.list_resources()).resources
            assert [str(r.uri) for r in resources] == ["pai://memories/recent"]
            recent = (await c.s.read_resource("pai://memories/recent")).contents[0]
            assert isinstance(recent, types.TextResourceContents)
            assert json.loads(recent.text)["count"] == 2
            one = (await c.s.read_resource(f"pai://memories/{made['id']}")).contents[0]
            assert isinstance(one, types.TextResourceContents)
            assert json.loads(one.text)["id"] == made["id"]

            assert (await c.ok("forget", {"id": made["id"]})) == {"forgotten": made["id"]}
            assert "No memory" in one_line_error(await c.s.call_tool("get", {"id": made["id"]}))
    run(scenario)
    # The same data dir as the CLI: what the server did is what `pai memory list` shows.
    mine = json.loads(pai("memory", "list", "--json").out)
    assert [m["content"] for m in mine] == ["I am allergic to penicillin"]
    assert json.loads(pai("memory", "show", bob_id, "--user", "bob", "--json").out)["id"] == bob_id


def test_bad_arguments_and_other_users_ids_are_tool_errors(tmp_path: Path) -> None:
    assert pai("memory", "add", "Bob's boat is called Wavedancer", "--user", "bob").code == 0
    bob_id = json.loads(pai("memory", "list", "--user", "bob", "--json").out)[0]["id"]

    async def scenario() -> None:
        async with over_stdio(tmp_path / "err.log") as c:
            mine = await c.ok("remember", {"content": "Keep this one"})
            cases = [
                ("recall", {"query": ""}, "query is empty"),
                ("recall", {"query": "boat", "k": 0}, "from 1 to 50"),
                ("recall", {"query": "boat", "k": 51}, "from 1 to 50"),
                ("recall", {"query": "boat", "k": "three"}, "k must be an integer"),
                ("recall", {"query": ["boat"]}, "query must be a string"),
                ("recall", {"query": "boat", "user": "bob"}, "Unknown argument 'user'"),
                ("remember", {"content": "   "}, "content is empty"),
                ("remember", {"content": "x", "pin": "yes"}, "pin must be true or false"),
                ("remember", {"content": "x", "category": "not a category!"}, "Category"),
                ("update", {"id": mine["id"], "content": ""}, "content is empty"),
                ("get", {"id": "mem-00000000"}, "No memory"),
                ("get", {}, "get needs 'id'"),
                ("get", {"id": bob_id}, "No memory"),
                ("update", {"id": bob_id, "content": "mine now"}, "No memory"),
                ("forget", {"id": bob_id}, "No memory"),
                ("forget", {"id": "mem-z"}, "No memory"),  # no uuid holds a z: never a prefix
                ("no_such_tool", {}, "no_such_tool"),
            ]
            for name, args, says in cases:
                message = one_line_error(await c.s.call_tool(name, args))
                assert says in message, (name, args, message)
            listed = await c.ok("list_memories", {})
            assert [m["content"] for m in listed["memories"]] == ["Keep this one"]
    run(scenario)
    assert json.loads(pai("memory", "show", bob_id, "--user", "bob", "--json").out)[
        "content"] == "Bob's boat is called Wavedancer"
    assert "Traceback" not in (tmp_path / "err.log").read_text()


@pytest.mark.parametrize("init", [pin_oldest(), newest], ids=["oldest", "newest"])
def test_protocol_revisions_over_stdio(tmp_path: Path,
                                       init: Callable[[ClientSession], Awaitable[None]]) -> None:
    async def scenario() -> None:
        async with over_stdio(tmp_path / "err.log", init=init) as c:
            assert [t.name for t in (await c.s.list_tools()).tools] == TOOLS
            made = await c.s.call_tool("remember", {"content": "Prefers aisle seats"})
            assert not made.is_error
            found = await c.s.call_tool("recall", {"query": "aisle seat"})
            # Before 2025-06-18 a client reads the text; it is the same JSON.
            assert json.loads(text(found))["results"][0]["content"] == "Prefers aisle seats"
            assert "from 1 to 50" in one_line_error(
                await c.s.call_tool("recall", {"query": "x", "k": 99}))
            got = await c.s.get_prompt("what-do-you-know-about-me", {})
            assert "aisle" in got.messages[0].content.text  # type: ignore[union-attr]
    run(scenario)


def test_a_cli_writer_at_the_same_time(tmp_path: Path) -> None:
    """The CLI and the server write the same SQLite file at once: no 'database is locked'."""
    cli_errors: list[str] = []

    def writer() -> None:
        for i in range(6):
            p = pai_process("memory", "add", f"CLI note number {i} about the garden shed")
            if p.returncode != 0:
                cli_errors.append(p.stderr.decode())

    async def scenario() -> None:
        async with over_stdio(tmp_path / "err.log") as c:
            thread = threading.Thread(target=writer)
            thread.start()
            try:
                for i in range(25):
                    await c.ok("remember", {"content": f"MCP note number {i} about the kayak"})
                    await c.ok("recall", {"query": "garden shed", "k": 3})
            finally:
                await anyio.to_thread.run_sync(thread.join)
            listed = await c.ok("list_memories", {"limit": 200})
            assert listed["count"] == 31
    run(scenario)
    assert not cli_errors, cli_errors
    assert "locked" not in (tmp_path / "err.log").read_text()
    assert len(json.loads(pai("memory", "list", "--json", "-n", "100").out)) == 31


def test_start_up_errors_are_one_line_and_stdout_stays_empty(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("user = [unclosed\n")
    p = pai_process("mcp", env={"PAI_CONFIG": str(bad)}, input=b"")
    assert p.returncode == 3 and p.stdout == b""
    lines = p.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "not valid TOML" in lines[0], lines
    p = pai_process("mcp", "--transport", "carrier-pigeon", input=b"")
    assert p.returncode == 2 and p.stdout == b"" and b"use one of stdio, http" in p.stderr
    p = pai_process("mcp", "--user", "no spaces", input=b"")
    assert p.returncode == 1 and p.stdout == b"" and b"not valid" in p.stderr


# --- streamable HTTP -------------------------------------------------------------------------
class HttpServer:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, token: str | None,
                 log: list[str]) -> None:
        self.proc, self.url, self.token, self.log = proc, url, token, log


@pytest.fixture
def http_server() -> AsyncIterator[HttpServer]:
    proc = subprocess.Popen([*PAI, "mcp", "--transport", "http", "--port", "0"], cwd=ROOT,
                            env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    log: list[str] = []
    try:
        while True:
            line = proc.stderr.readline().decode()
            assert line, f"pai mcp --transport http exited early: {''.join(log)}"
            log.append(line)
            if "serving" in line:
                break
        url = re.search(r"http://127\.0\.0\.1:\d+/mcp", line)[0]  # type: ignore[index]
        token = next((m[0] for entry in log if (m := re.search(r"pai_mcp_[\w-]+", entry))), None)
        # Keep reading stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: log.extend(x.decode() for x in proc.stderr),  # type: ignore[union-attr]
                         daemon=True).start()
        yield HttpServer(proc, url, token, log)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        assert proc.stdout is not None and proc.stdout.read() == b""


@asynccontextmanager
async def over_http(url: str, token: str | None,
                    init: Callable[[ClientSession], Awaitable[None]] = handshake
                    ) -> AsyncIterator[Session]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        async with streamable_http_client(url, http_client=http) as (r, w):
            async with ClientSession(r, w, read_timeout_seconds=60) as s:
                await init(s)
                yield Session(s, [])


INIT_BODY = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "raw", "version": "1"}}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def test_http_needs_the_bearer_token(http_server: HttpServer) -> None:
    token = http_server.token
    assert token, f"the first start prints the token it made: {http_server.log}"
    assert pai("mcp", "token").out.strip() == token
    for headers in ({}, {"Authorization": "Bearer pai_mcp_" + "x" * 43},
                    {"Authorization": "Bearer"}, {"Authorization": token},
                    {"Authorization": f"Basic {token}"}):
        r = httpx.post(http_server.url, json=INIT_BODY, headers={**ACCEPT, **headers}, timeout=10)
        assert r.status_code == 401, (headers, r.status_code)
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(http_server.url, json=INIT_BODY, timeout=10,
                   headers={**ACCEPT, "Authorization": f"Bearer {token}"})
    assert r.status_code == 200

    async def refused() -> None:
        async with over_http(http_server.url, "pai_mcp_wrong"):
            pass
    with pytest.raises(BaseExceptionGroup) as refusal:
        run(refused)
    assert any(isinstance(e, MCPError) for e in leaves(refusal.value))  # the 401, as the SDK says it

    new = pai("mcp", "token", "--rotate").out.strip()
    assert new != token and new.startswith("pai_mcp_")
    r = httpx.post(http_server.url, json=INIT_BODY, timeout=10,
                   headers={**ACCEPT, "Authorization": f"Bearer {token}"})
    assert r.status_code == 401  # the old token stops working at once

    async def scenario() -> None:
        async with over_http(http_server.url, new) as c:
            assert [t.name for t in (await c.s.list_tools()).tools] == TOOLS
    run(scenario)


@pytest.mark.parametrize("init", [handshake, pin_oldest(), newest],
                         ids=["handshake", "oldest", "newest"])
def test_tools_over_http(http_server: HttpServer,
                         init: Callable[[ClientSession], Awaitable[None]]) -> None:
    assert pai("memory", "add", "Bob's boat is called Wavedancer", "--user", "bob").code == 0
    bob_id = json.loads(pai("memory", "list", "--user", "bob", "--json").out)[0]["id"]

    async def scenario() -> None:
        async with over_http(http_server.url, http_server.token, init) as c:
            listed = (await c.s.list_tools()).tools
            assert [t.name for t in listed] == TOOLS
            made = await c.s.call_tool("remember", {"content": "Dentist is Dr. Okafor on Elm St"})
            assert not made.is_error
            made_id = json.loads(text(made))["id"]
            found = json.loads(text(await c.s.call_tool("recall", {"query": "who is my dentist"})))
            assert found["results"][0]["id"] == made_id
            assert "No memory" in one_line_error(await c.s.call_tool("get", {"id": bob_id}))
            assert "Unknown argument 'user'" in one_line_error(
                await c.s.call_tool("list_memories", {"user": "bob"}))
            gone = json.loads(text(await c.s.call_tool("forget", {"id": made_id})))
            assert gone == {"forgotten": made_id}
    run(scenario)
    assert "Traceback" not in "".join(http_server.log)


def test_http_port_in_use_is_one_line(http_server: HttpServer) -> None:
    port = http_server.url.split(":")[2].split("/")[0]
    p = pai_process("mcp", "--transport", "http", "--port", port)
    assert p.returncode == 3 and p.stdout == b""
    assert b"Cannot listen on 127.0.0.1:" + port.encode() in p.stderr


# --- the AWS home (moto), in process -------------------------------------------------------
def test_the_aws_home_through_the_same_server(monkeypatch: pytest.MonkeyPatch,
                                              pai_home: Path) -> None:
    """`pai --backend aws --env ENV mcp` opens the AWS home through the wiring like every
    command; moto cannot be shared with a subprocess, so this server runs in process and the
    SDK's Client connects to it in memory."""
    from fakes.aws_home import ENV, moto_aws_home
    from mcp import Client

    from pai_cli.config import load_settings
    from pai_cli.mcp.memory import ServedMemory
    from pai_cli.mcp.server import build_server
    from pai_cli.wiring import Wiring

    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text('embedder = "local"\n')  # moto's Bedrock embeds nothing
    with moto_aws_home(monkeypatch):
        wiring = Wiring(load_settings("alice", backend="aws", env=ENV))
        assert wiring.is_aws
        bob = wiring.memories.add("bob", "Bob's boat is called Wavedancer")
        memory = ServedMemory(wiring)
        memory.start().result()
        app = build_server(memory, "test")

        async def scenario() -> None:
            async with Client(app) as client:
                made = await client.call_tool("remember", {"content": "Lives in Porto since May"})
                assert not made.is_error, made
                mid = made.structured_content["id"]  # type: ignore[index]
                found = await client.call_tool("recall", {"query": "where do I live"})
                assert found.structured_content["results"][0]["id"] == mid  # type: ignore[index]
                other = await client.call_tool("get", {"id": bob.id})
                assert other.is_error and "No memory" in text(other)
                gone = await client.call_tool("forget", {"id": mid})
                assert gone.structured_content == {"forgotten": mid}
        try:
            run(scenario)
        finally:
            memory.close()
            wiring.close()
        assert wiring.memories.get("bob", bob.id).content == "Bob's boat is called Wavedancer"
