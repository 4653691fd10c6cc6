"""Options shared by every command, and the per-process wiring they open."""

from __future__ import annotations

from typing import Annotated

import typer

from pai_cli.cli.output import Out
from pai_cli.config import Settings, load_settings
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

_opened: list[Wiring] = []
"""Every Wiring this process built, so main can flush notices and close databases."""
_root: dict[str, str | None] = {}
"""--backend and --env, given before the command (`pai --backend aws --env dev ...`)."""


def set_root_options(**options: str | None) -> None:
    _root.clear()
    _root.update(options)


def open_wiring(user: str | None) -> Wiring:
    wiring = Wiring(load_settings(user, **_root))
    _opened.append(wiring)
    return wiring


def opened() -> list[Wiring]:
    return _opened


def setup(user: str | None, as_json: bool, output: str | None) -> tuple[Wiring, Out, Settings]:
    wiring = open_wiring(user)
    out = Out.choose(as_json, output, wiring.settings.output)
    return wiring, out, wiring.settings
