"""`pai usage`: tokens and estimated cost of past turns."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup
from pai_cli.errors import InputError


def usage(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", "-d", help="How many days back.")] = 30,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Token use and estimated cost per model (estimates from list prices, not a bill).

    Example: pai usage --days 7 --json
    """
    if days < 1:
        raise InputError("--days must be at least 1.")
    wiring, out, settings = setup(ctx, user, as_json, output)
    since = wiring.clock() - days * 86400
    records = wiring.usage_log.records(settings.user, since)
    # Chat replies and memory work (distilling what was said) apart: both cost tokens.
    totals: dict[tuple[str, str], dict[str, float | int | None]] = defaultdict(
        lambda: {"turns": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
    for r in records:
        t = totals[(r.model, r.purpose)]
        t["turns"] = int(t["turns"] or 0) + 1
        t["input_tokens"] = int(t["input_tokens"] or 0) + r.input_tokens
        t["output_tokens"] = int(t["output_tokens"] or 0) + r.output_tokens
        t["cost_usd"] = None if r.cost_usd is None or t["cost_usd"] is None else (
            float(t["cost_usd"]) + r.cost_usd)
    if out.json:
        out.emit({"days": days, "models": [{"model": m, "purpose": p, **t}
                                            for (m, p), t in totals.items()],
                  "turns": [r.to_dict() for r in records]})
        return
    if not records:
        out.note(f"No model usage in the last {days} days.")
        return
    out.table(None, ["model", "for", "calls", "input tokens", "output tokens",
                     "est. cost (USD)"],
              [(m, p, t["turns"], t["input_tokens"], t["output_tokens"],
                "unknown" if t["cost_usd"] is None else f"{t['cost_usd']:.4f}")
               for (m, p), t in sorted(totals.items())])
