"""The adapter onto the official MCP SDK (`mcp` 2.x, its high-level MCPServer): the only
module of pai that imports it, and only when `pai mcp` runs.

The tools are pai's shared definitions (pai_cli/core/tools.py), registered as the SDK's
`Tool`s with their own JSON Schemas for input and output, so an MCP client, pai's own
chat model and the tests all see one schema; the SDK's pydantic model for the arguments
passes them through untouched, because pai checks them itself with one-line messages a
model can act on. Each result is structured content plus the same JSON as text (clients on
revisions before 2025-06-18 read only the text); each failure is a tool result with
`isError` and pai's message. The prompt and the resources are the SDK's typed functions.
"""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.tools import Tool as SdkTool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, CallToolResult, TextContent, ToolAnnotations
from pydantic import ConfigDict, Field

from pai_cli.core.tools import Tool
from pai_cli.mcp.memory import Outcome, ServedMemory

PATH = "/mcp"


class _Passthrough(ArgModelBase):
    """The arguments exactly as the client sent them: pai_cli/core/tools.py checks them."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.__pydantic_extra__ or {})}


def _result(outcome: Outcome) -> CallToolResult:
    if outcome.error is not None:
        return CallToolResult(content=[TextContent(type="text", text=outcome.error)],
                              is_error=True)
    text = json.dumps(outcome.data, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=outcome.data)


def _sdk_tool(memory: ServedMemory, tool: Tool) -> SdkTool:
    name = tool.name

    async def call(arguments: dict[str, Any]) -> CallToolResult:
        return _result(await memory.call(name, arguments))

    h = tool.hints
    return SdkTool(
        fn=call,
        name=name,
        title=tool.title,
        description=tool.description,
        parameters=tool.input_schema,
        # Published, not re-validated here: the shape is pai's own (and MCP clients check it).
        fn_metadata=FuncMetadata(arg_model=_Passthrough, output_schema=tool.output_schema),
        is_async=True,
        annotations=ToolAnnotations(
            title=tool.title, read_only_hint=h.read_only, destructive_hint=h.destructive,
            idempotent_hint=h.idempotent, open_world_hint=h.open_world),
    )


class _Bearer:
    """The SDK's TokenVerifier for one static token, read again on every request so that
    `pai mcp token --rotate` takes effect without a restart."""

    def __init__(self, current: Callable[[], str]) -> None:
        self._current = current

    async def verify_token(self, token: str) -> AccessToken | None:
        expected = self._current()
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return AccessToken(token="(pai mcp token)", client_id="pai", scopes=[])


def instructions(user: str) -> str:
    return (
        f"pai is the long-term memory of user {user!r}, kept on their own machine and shared "
        "with their other AI tools. Call recall before answering anything that may depend on "
        "their life, preferences, people, plans or earlier conversations; call remember for a "
        "fact they want kept (one short fact per call); prefer update to a second memory "
        "when a fact changed; forget deletes for good, so only when they ask. Ids are pai's "
        "(mem-...)."
    )


def build_server(memory: ServedMemory, version: str,
                 token: Callable[[], str] | None = None) -> MCPServer:
    """token: the bearer token's current value, for the HTTP transport (None for stdio)."""
    auth: dict[str, Any] = {}
    if token is not None:
        auth = {
            "token_verifier": _Bearer(token),
            # The SDK takes bearer verification as OAuth resource-server settings. pai issues
            # its token itself: there is no authorization server to name, so no resource
            # metadata is published and this issuer is never advertised.
            "auth": AuthSettings(issuer_url="http://127.0.0.1", resource_server_url=None),
        }
    server = MCPServer(
        name="pai",
        title="pai memory",
        version=version,
        instructions=instructions(memory.user),
        tools=[_sdk_tool(memory, t) for t in memory.definitions()],
        log_level="WARNING",
        **auth,
    )

    @server.prompt(
        name="what-do-you-know-about-me",
        title="What do you know about me?",
        description="What pai remembers about you (the most recent memories, or those about "
                    "a topic), for the assistant to sum up and check.",
    )
    async def about_me(
        topic: Annotated[str | None, Field(description="Only memories about this (optional).")]
        = None,
    ) -> str:
        outcome = await memory.about_me(topic)
        if outcome.error is not None:
            raise MCPError(code=INTERNAL_ERROR, message=outcome.error)
        return str((outcome.data or {})["text"])

    @server.resource(
        "pai://memories/recent",
        name="recent-memories",
        title="Recent memories",
        description="The 50 most recently made memories, newest first (JSON).",
        mime_type="application/json",
    )
    async def recent() -> str:
        return _resource(await memory.recent())

    @server.resource(
        "pai://memories/{memory_id}",
        name="memory",
        title="One memory",
        description="One memory by its id (JSON).",
        mime_type="application/json",
    )
    async def one(memory_id: str) -> str:
        return _resource(await memory.call("get", {"id": memory_id}))

    return server


def _resource(outcome: Outcome) -> str:
    if outcome.error is not None:
        raise ResourceError(outcome.error)
    return json.dumps(outcome.data, ensure_ascii=False, indent=2)


async def run_stdio(server: MCPServer) -> None:
    # The SDK takes fd 1 for the protocol and points it at stderr for everything else, so
    # a stray print from a library cannot corrupt the stream.
    await server.run_stdio_async()


async def run_http(server: MCPServer, sock: socket.socket, host: str) -> None:
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=PATH, host=host)
    # log_config=None: uvicorn's records go to pai's handler on stderr; no access log.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])
