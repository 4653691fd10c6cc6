"""`pai search QUERY`: the best-matching memories, best first, with scores."""

from __future__ import annotations

from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup

MODES = ("hybrid", "keyword", "vector")


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in your own words.")],
    n: Annotated[int, typer.Option("-n", "--limit", help="How many results.")] = 5,
    category: Annotated[str | None, typer.Option("--category", "-c", help="Only this category.")] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="hybrid (keyword + vector, fused), keyword or vector.")
    ] = "hybrid",
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Search everything pai remembers.

    Example: pai search "what is my daughter's school called" -n 3
    """
    if mode not in MODES:
        raise typer.BadParameter(f"use one of {', '.join(MODES)}.", param_hint="'--mode'")
    wiring, out, settings = setup(ctx, user, as_json, output)
    out.hits(wiring.memories.search(settings.user, query, n, category, mode=mode))
