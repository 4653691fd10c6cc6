"""`pai serve`: the HTTP API on localhost over the local home."""

from __future__ import annotations

from typing import Annotated

import typer

from pai_cli.cli.common import UserOpt, open_wiring


def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind (keep it local).")] = "127.0.0.1",
    user: UserOpt = None,
) -> None:
    """Serve POST /chat, POST /search, GET /memory/{id}, GET/DELETE /memories... and
    /openapi.json on localhost, as the deployed API does, for a web or mobile front end in
    development. Every request acts as --user; there is no other authentication, so it
    binds to 127.0.0.1 unless told otherwise.

    Example: pai serve --port 8765
    """
    import sys

    from pai_cli.api.local_server import make_server

    if port < 0 or port > 65535:
        raise typer.BadParameter("must be 0-65535.", param_hint="--port")
    wiring = open_wiring(ctx, user)
    wiring.memories  # noqa: B018 - open the store and key now, so errors come before "ready"
    try:
        server = make_server(wiring, host, port)
    except OSError as e:
        from pai_cli.errors import ConfigError

        raise ConfigError(f"Cannot listen on {host}:{port} ({e.strerror}): pick another "
                          "--port.") from None
    bound_host, bound_port = server.server_address[:2]
    sys.stderr.write(f"pai: serving user {wiring.settings.user!r} on http://{bound_host}:"
                     f"{bound_port} (OpenAPI at /openapi.json). Ctrl-C stops.\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
