"""`pai logs`: the deployed functions' log lines, oldest first, optionally followed."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt
from pai_cli.cli.deploy import EnvOpt, ProfileOpt, RegionOpt
from pai_cli.cli.output import Out

FUNCTION_CHOICES = "agent, memory, search or memory-writer"
_SHOWN = ("user_id", "conversation_id", "route", "status", "duration_ms", "total_ms",
          "recall_ms", "model_ms", "write_ms", "tokens_in", "tokens_out", "written", "error",
          "turn_error", "cold_start")
"""The fields of the handlers' JSON lines worth a glance, in this order, after the message."""


def logs(
    env: EnvOpt = "dev", profile: ProfileOpt = None, region: RegionOpt = None,
    function: Annotated[
        list[str] | None, typer.Option("--function", "-f", help=f"{FUNCTION_CHOICES} (repeat "
                                       "it; default: all four).")
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="How far back: 30s, 15m, 1h, 2d, 1w, or an ISO time.")
    ] = "1h",
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only the lines logged for this pai user "
                                 "(the user_id field; never a principal ARN).")
    ] = None,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """The Lambda functions' logs (CloudWatch Logs), oldest first across the functions.
    With --json, one JSON object per line: function, timestamp, message, and the line's
    fields when it is one of pai's JSON lines.

    Example: pai logs --env dev --function agent --since 15m --follow
    """
    from pai_cli.deploy.logs import FUNCTIONS, LogReader, since_ms
    from pai_cli.deploy.stacks import check_env
    from pai_cli.wiring import deploy_session

    out = Out.choose(as_json, output)
    check_env(env)
    chosen = list(dict.fromkeys(function or FUNCTIONS))
    for name in chosen:
        if name not in FUNCTIONS:
            raise typer.BadParameter(f"{name!r}: use {FUNCTION_CHOICES}.", param_hint="--function")
    start = since_ms(since)
    reader = LogReader(deploy_session(profile, region), env, chosen, user)
    show = _json_line(out) if out.json else _text_line(out, len(chosen) > 1)
    if follow:
        out.note(f"Following the logs of {', '.join(chosen)} in {env!r} (Ctrl-C to stop)...")
    try:
        shown = reader.run(start, show, follow=follow)
    except KeyboardInterrupt:
        out.note("Stopped.")  # the way out of --follow: not an error
        return
    if not shown and not out.json:
        out.note(f"No log lines since {since}"
                 + (f" for user {user!r}" if user else "") + ".")


def _json_line(out: Out) -> Any:
    def show(line: Any) -> None:
        out.stdout.write(json.dumps(line.to_dict(), ensure_ascii=False) + "\n")
        out.stdout.flush()
    return show


def _text_line(out: Out, several: bool) -> Any:
    def show(line: Any) -> None:
        where = f"{line.function:<13} " if several else ""
        stamp = line.iso[11:23]
        fields = line.fields
        if fields is None:
            out.line(f"{stamp} {where}{line.message}")
        elif "_aws" in fields:  # an embedded-metric-format record
            names = [m["Name"] for d in fields["_aws"].get("CloudWatchMetrics", [])
                     for m in d.get("Metrics", [])]
            values = " ".join(f"{n}={fields[n]}" for n in names if n in fields)
            out.line(f"{stamp} {where}METRICS {values}")
        else:
            extra = " ".join(f"{k}={fields[k]}" for k in _SHOWN
                             if fields.get(k) not in (None, ""))
            level = str(fields.get("level", "")).upper()
            message = fields.get("message", "")
            if not isinstance(message, str):
                message = json.dumps(message, ensure_ascii=False)
            out.line(f"{stamp} {where}{level:<7} {message}" + (f"  {extra}" if extra else ""))
    return show
