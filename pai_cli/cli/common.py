"""Options shared by every command, and the per-run state they open on Typer's context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pai_cli.cli.output import Out
    from pai_cli.config import ModelChoice, Settings
    from pai_cli.wiring import Wiring

UserOpt = Annotated[
    str | None,
    typer.Option("--user", "-u", help="Whose memories (default: PAI_USER, config, OS user)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (same as -o json).")]
OutputOpt = Annotated[
    str | None,
    typer.Option("--output", "-o", help="json, table or text (default: table on a terminal)."),
]


@dataclass
class Run:
    """One invocation of `pai`: the root options and every Wiring the command opened.

    main.run() makes it and hands it to Typer as the context object; it outlives the
    command, so notices are printed and databases closed even when the command failed."""

    backend: str | None = None
    env: str | None = None
    wirings: list[Wiring] = field(default_factory=list)

    def open(self, user: str | None, choice: ModelChoice | None = None,
             **overrides: str | None) -> Wiring:
        # here, not at the top: `pai --help` imports this module and needs none of them
        from pai_cli.config import ModelChoice, load_settings
        from pai_cli.wiring import Wiring

        roots = {"backend": self.backend, "env": self.env}
        roots.update({k: v for k, v in overrides.items() if v})
        wiring = Wiring(load_settings(user, **roots), choice=choice or ModelChoice())
        self.wirings.append(wiring)
        return wiring

    @property
    def settings(self) -> Settings | None:
        """The settings of the last wiring opened (for translating an error)."""
        return self.wirings[-1].settings if self.wirings else None

    def take_notices(self) -> list[str]:
        notices = [n for w in self.wirings for n in w.notices]
        for w in self.wirings:
            w.notices.clear()
        return notices

    def close(self) -> None:
        for w in self.wirings:
            w.close()
        self.wirings.clear()


def run_of(ctx: typer.Context) -> Run:
    run = ctx.find_object(Run)
    if run is None:  # invoked without main.run() (a test calling the Typer app directly)
        run = ctx.ensure_object(Run)
        ctx.call_on_close(run.close)
    return run


def open_wiring(ctx: typer.Context, user: str | None,
                choice: ModelChoice | None = None) -> Wiring:
    return run_of(ctx).open(user, choice)


def setup(ctx: typer.Context, user: str | None, as_json: bool, output: str | None,
          choice: ModelChoice | None = None) -> tuple[Wiring, Out, Settings]:
    from pai_cli.cli.output import Out

    wiring = open_wiring(ctx, user, choice)
    out = Out.choose(as_json, output, wiring.settings.output)
    return wiring, out, wiring.settings
