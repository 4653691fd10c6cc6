"""The `pai` entry point: the root app, global flags and the one error handler."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pai_cli import __version__
from pai_cli.cli import (
    chat,
    conversations,
    deploy,
    key,
    login,
    logs,
    mcp,
    memory,
    migrate,
    models,
    restore,
    search,
    serve,
    smoke,
    usage,
)
from pai_cli.cli.common import Run, run_of

app = typer.Typer(
    name="pai",
    help="pai: a personal AI agent for the command line that remembers.\n\n"
    "Examples:\n\n"
    "  pai memory add \"My daughter Maya starts school in September\"\n\n"
    "  pai search \"when does school start\"\n\n"
    "  pai chat",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(memory.app, name="memory")
app.command("search")(search.search)
app.command("chat")(chat.chat)
app.add_typer(conversations.app, name="conversations")
app.add_typer(key.app, name="key")
app.add_typer(models.app, name="models")
app.command("usage")(usage.usage)
app.command("migrate")(migrate.migrate)
app.command("serve")(serve.serve)
app.add_typer(mcp.app, name="mcp")
app.command("deploy")(deploy.deploy)
app.command("status")(deploy.status)
app.command("destroy")(deploy.destroy)
app.command("logs")(logs.logs)
app.command("restore")(restore.restore)
app.command("smoke")(smoke.smoke)
app.command("login")(login.login)
app.command("logout")(login.logout)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"pai {__version__}\n")
        sys.stdout.flush()
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks (also PAI_DEBUG=1; any position).")
    ] = False,
    backend: Annotated[
        str | None, typer.Option("--backend", help="local (default), aws, or api (the deployed "
                                 "HTTP API; also PAI_BACKEND).")
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", help="AWS environment, e.g. dev (also PAI_ENV).")
    ] = None,
) -> None:
    """pai: a personal AI agent for the command line that remembers."""
    state = run_of(ctx)
    state.backend, state.env = backend, env


def _flush_notices(state: Run) -> None:
    for notice in state.take_notices():
        sys.stderr.write(f"pai: {notice}\n")
    sys.stderr.flush()


def _error(state: Run, message: str) -> None:
    _flush_notices(state)  # "where your key is" comes before whatever went wrong
    sys.stderr.write(f"pai: error: {message}\n")
    sys.stderr.flush()


def run(argv: list[str] | None = None) -> None:
    from pai_cli.config import debug_requested
    from pai_cli.errors import ExitCode, PaiError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(args)
    args = [a for a in args if a != "--debug"]
    code: int = ExitCode.OK
    state = Run()  # this run's state, on Typer's context as its object
    try:
        app(args=args, prog_name="pai", obj=state)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        _error(state, "interrupted.")
        code = ExitCode.INTERRUPTED
    except PaiError as e:
        if debug:
            raise
        _flush_notices(state)
        for detail in e.details:
            sys.stderr.write(f"  {detail}\n")
        _error(state, e.message)
        code = e.exit_code
    except Exception as e:  # noqa: BLE001 - the one place that turns crashes into one line
        if debug:
            raise
        from pai_cli.wiring import translate_error

        known = translate_error(e, state.settings)
        if known is not None:
            _error(state, known.message)
            code = known.exit_code
        else:
            _error(state, f"unexpected {type(e).__name__}: {e} (run again with --debug for "
                          "details).")
            code = ExitCode.BACKEND
    finally:
        _flush_notices(state)
        state.close()
    sys.exit(code)


if __name__ == "__main__":
    run()
