"""`pai mcp`: serve your memories to MCP clients; `pai mcp token`; `pai mcp install CLIENT`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, open_wiring, run_of
from pai_cli.cli.output import Out

DEFAULT_PORT = 8766
"""Next to `pai serve`'s 8765: a client's config names the URL, so the default is fixed."""

app = typer.Typer(
    help="Serve your memories to MCP clients (Claude Code, Claude Desktop, Cursor, Codex).\n\n"
    "With no command, runs the server: over stdio (what clients launch), or over streamable "
    "HTTP on 127.0.0.1 with --transport http, behind a bearer token (see `pai mcp token`).\n\n"
    "Examples:\n\n"
    "  pai mcp install claude-code\n\n"
    "  pai mcp --transport http --port 8766",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)


@app.callback()
def mcp(
    ctx: typer.Context,
    transport: Annotated[
        str, typer.Option("--transport", "-t", help="stdio (default) or http.")
    ] = "stdio",
    port: Annotated[
        int, typer.Option("--port", "-p", help="TCP port for --transport http (0: any free one).")
    ] = DEFAULT_PORT,
    user: UserOpt = None,
) -> None:
    """Serve the memories of one user (fixed now, never taken from a tool call) as MCP tools
    (recall, remember, get, list_memories, update, forget), a prompt and resources.

    Example: pai mcp --user alice
    """
    if ctx.invoked_subcommand is not None:
        ctx.meta["pai.mcp.user"] = user
        return
    from pai_cli.config import debug_requested
    from pai_cli.mcp.serve import TRANSPORTS, require_sdk, serve

    if transport not in TRANSPORTS:
        raise typer.BadParameter(f"use one of {', '.join(TRANSPORTS)}.", param_hint="'--transport'")
    if not 0 <= port <= 65535:
        raise typer.BadParameter("must be 0-65535.", param_hint="'--port'")
    require_sdk()
    serve(open_wiring(ctx, user), transport, port, debug=debug_requested(sys.argv[1:]))


@app.command("token")
def token(
    ctx: typer.Context,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Make a new token; the old one stops working at once.")
    ] = False,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Show the bearer token of `pai mcp --transport http` (made on first use), or rotate it.

    Example: pai mcp token --rotate
    """
    from pai_cli.mcp import token as tokens

    out = Out.choose(as_json, output)
    path = open_wiring(ctx, None).settings.mcp_token_path
    if rotate:
        value, made = tokens.rotate(path), True
    else:
        value, made = tokens.ensure(path)
    if out.json:
        out.emit({"token": value, "path": str(path), "new": made})
    else:
        out.line(value)
        if made:
            out.note(f"{'Rotated' if rotate else 'Made'} the token in {path}; a running server "
                     "takes the new one at once.")
    out.note("Clients send it as the header 'Authorization: Bearer <token>'.")


@app.command("install")
def install(
    ctx: typer.Context,
    client: Annotated[str, typer.Argument(help="claude-code, claude-desktop, cursor or codex.")],
    print_only: Annotated[
        bool, typer.Option("--print", help="Show the config entry instead of writing it.")
    ] = False,
    name: Annotated[str, typer.Option("--name", help="The server's name in the client.")] = "pai",
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Add pai's MCP server to a client's config file (other servers are kept; the old file
    is backed up beside it; running it again changes nothing).

    Example: pai mcp install claude-desktop --user alice
    """
    from pai_cli.config import check_user
    from pai_cli.mcp import install as clients
    from pai_cli.mcp.serve import require_sdk

    if client not in clients.CLIENTS:
        raise typer.BadParameter(f"use one of {', '.join(clients.CLIENTS)}.", param_hint="'CLIENT'")
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise typer.BadParameter("use letters, digits, '-' or '_'.", param_hint="'--name'")
    require_sdk()
    out = Out.choose(as_json, output)
    user = user or ctx.meta.get("pai.mcp.user")
    run = run_of(ctx)
    args = [*(["--backend", run.backend] if run.backend else []),
            *(["--env", run.env] if run.env else []), "mcp",
            *(["--user", check_user(user)] if user else [])]
    how = clients.launch(args, os.environ)
    path = clients.config_path(client, os.environ)
    result = clients.install(client, name, how, path, write=not print_only)
    if out.json:
        out.emit({**result.to_dict(), "written": result.changed and not print_only})
        return
    if print_only:
        out.line(result.snippet.rstrip("\n"))
        out.note(f"Not written: this goes into {path}.")
        return
    if result.changed:
        kept = f" (the old file is kept as {result.backup})" if result.backup else ""
        out.note(f"Added {name!r} to {client}'s config {path}{kept}.")
    else:
        out.note(f"{name!r} is already in {path} as it should be: nothing changed.")
    out.note(result.check)
