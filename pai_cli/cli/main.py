"""The `pai` entry point: the root app, global flags and the one error handler."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from gettext import gettext as _
from typing import Annotated, Any

import typer
from typer._click import Command, Context, HelpFormatter
from typer._click.shell_completion import CompletionItem
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup
from typer.main import get_group

from pai_cli import __version__
from pai_cli.cli.common import Run, run_of


@dataclass(frozen=True)
class Entry:
    """A top-level command: where it lives, and its summary for `pai --help`."""

    module: str
    """pai_cli.cli.<module>"""
    attr: str
    """the command function, or the Typer app of a group"""
    summary: str
    """the first paragraph of its help (tests/test_cli_help.py keeps the two equal)"""
    group: bool = False


# In the order `pai --help` lists them (Typer's: commands, then groups). Building the click
# command of every function (Typer reads each signature) was most of `pai --help`, so a
# command's module is imported, and its command built, only when it runs or shows its help.
COMMANDS: dict[str, Entry] = {
    "search": Entry("search", "search", "Search everything pai remembers."),
    "chat": Entry("chat", "chat",
                  "Talk with pai. It recalls what matters and remembers the exchange."),
    "usage": Entry("usage", "usage", "Token use and estimated cost per model (estimates from "
                   "list prices, not a bill)."),
    "migrate": Entry("migrate", "migrate", "Copy a user's memories (text, categories, pins, "
                     "dates, ids) from one home to the other, re-embedding and re-encrypting "
                     "them. Safe to interrupt and run again: memories already in the target are "
                     "skipped. The source is left as it was."),
    "serve": Entry("serve", "serve", "Serve POST /chat, POST /search, GET /memory/{id}, "
                   "GET/DELETE /memories... and /openapi.json on localhost, as the deployed API "
                   "does, for a web or mobile front end in development. Every request acts as "
                   "--user; there is no other authentication, so it binds to 127.0.0.1 unless "
                   "told otherwise."),
    "deploy": Entry("deploy", "deploy", "Provision (or update) the five stacks of an "
                    "environment: security, storage, ai, compute, monitoring. Each stack's change "
                    "set is shown and confirmed before it runs; events stream as they happen; the "
                    "outputs (API URL, tables, bucket, dashboard) are printed at the end."),
    "status": Entry("deploy", "status", "Each stack's state, its drift, its outputs, and the "
                    "state of its alarms."),
    "destroy": Entry("deploy", "destroy", "Delete the environment's stacks. By default the data "
                     "stays: the two tables, the memory bucket and the KMS key are kept (and keep "
                     "costing what they cost)."),
    "logs": Entry("logs", "logs", "The Lambda functions' logs (CloudWatch Logs), oldest first "
                  "across the functions. With --json, one JSON object per line: function, "
                  "timestamp, message, and the line's fields when it is one of pai's JSON "
                  "lines."),
    "restore": Entry("restore", "restore", "Restore the env's tables into new tables, point the "
                     "stacks at them (parameters, not hand edits), rebuild the vector index from "
                     "DynamoDB + S3 and verify the counts. The tables in use are never changed: "
                     "they stay until you delete them."),
    "smoke": Entry("smoke", "smoke", "Check a deployed environment end to end: POST /search, "
                   "POST /chat, and a memory added, recalled, forgotten and gone. Signs like "
                   "--backend api (SigV4, or the `pai login` token on --auth cognito). Exit 0 "
                   "when every step passed, 4 when one failed (one line each on stderr), 3 when "
                   "it cannot sign in or find the API."),
    "login": Entry("login", "login", "Sign in to an environment's user pool (SRP: the password "
                   "never leaves this machine). The tokens are kept in the pai data dir (0600) "
                   "and refreshed when they expire."),
    "logout": Entry("login", "logout", "Sign out: the refresh token is revoked and the tokens "
                    "on this machine removed."),
    "memory": Entry("memory", "app", "Add, list, show, edit, pin and forget memories; import, "
                    "export and reindex them.", group=True),
    "conversations": Entry("conversations", "app",
                           "List past conversations and show one's messages.", group=True),
    "key": Entry("key", "app", "Back up and restore the master key (lose it and every memory "
                 "is lost).", group=True),
    "models": Entry("models", "app", "Show the chat model pai uses and check it answers; store "
                    "an API key.", group=True),
    "mcp": Entry("mcp", "app", "Serve your memories to MCP clients (Claude Code, Claude "
                 "Desktop, Cursor, Codex).", group=True),
}


def _typer(**settings: Any) -> typer.Typer:
    """A Typer with the root's settings: every command is built the way the root would."""
    return typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False,
                       add_completion=False, **settings)


def build(name: str) -> Command:
    """The click command of one top-level entry, built as `app.command`/`add_typer` on the
    root would build it."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"pai_cli.cli.{entry.module}"), entry.attr)
    holder = _typer()
    if entry.group:
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return get_group(holder).commands[name]


class _Commands(MutableMapping[str, Command]):
    """The root's commands: every name is known, each command is built on first access."""

    def __init__(self) -> None:
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = build(name)
        return self._built[name]

    def __setitem__(self, name: str, cmd: Command) -> None:
        self._built[name] = cmd

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self._built if n not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(n not in COMMANDS for n in self._built)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._built


class LazyGroup(TyperGroup):
    """The root group: lists every command from COMMANDS, builds one only when it is invoked
    or its own help is shown; `pai --help` and completion of a command name use the
    summaries."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands()

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # the names only: TyperGroup's would build them all

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        # TyperGroup's, with each command's short help made from its summary
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, make_default_short_help(entry.summary, limit))
                for name, entry in COMMANDS.items()]
        with formatter.section(_("Commands")):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: Context, incomplete: str) -> list[CompletionItem]:
        results = [CompletionItem(name, help=make_default_short_help(entry.summary))
                   for name, entry in COMMANDS.items() if name.startswith(incomplete)]
        results.extend(super(TyperGroup, self).shell_complete(ctx, incomplete))
        return results


app = _typer(
    name="pai",
    cls=LazyGroup,
    help="pai: a personal AI agent for the command line that remembers.\n\n"
    "Examples:\n\n"
    "  pai memory add \"My daughter Maya starts school in September\"\n\n"
    "  pai search \"when does school start\"\n\n"
    "  pai chat",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
