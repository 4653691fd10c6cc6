"""`pai search QUERY`: the best-matching memories, best first, with scores."""

from __future__ import annotations

from typing import Annotated

import typer

from pai_cli.cli import when
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
    min_score: Annotated[float | None, typer.Option(
        "--min-score", help="Leave out memories scoring under this (0-1; default: the "
        "min_score setting, 0.01). Hybrid scores are the estimated chance a memory is relevant.",
    )] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Answer with what held at this date (YYYY-MM-DD or ISO 8601), "
        "superseded memories included.")] = None,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Search everything pai remembers.

    Example: pai search "what is my daughter's school called" -n 3
    """
    if mode not in MODES:
        raise typer.BadParameter(f"use one of {', '.join(MODES)}.", param_hint="'--mode'")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise typer.BadParameter("use a number from 0 to 1.", param_hint="'--min-score'")
    wiring, out, settings = setup(ctx, user, as_json, output)
    moment = when.moment(as_of) if as_of else None
    hits = wiring.memories.search(settings.user, query, n, category, mode=mode,
                                  min_score=min_score, as_of=moment)
    if not hits:
        floor = min_score if min_score is not None else (
            settings.min_score if mode == "hybrid" else 0.0)
        if out.json:
            out.emit([])
        out.note("Nothing relevant: no memory matches this closely enough"
                 + (f" (score >= {floor:g}; try --min-score 0)." if floor > 0 else "."))
        return
    out.hits(hits)
