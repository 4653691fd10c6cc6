"""`pai smoke --env ENV`: a signed search, a chat turn and a memory round trip against the
deployed API (what the deploy workflow runs after `pai deploy`)."""

from __future__ import annotations

from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, run_of
from pai_cli.cli.output import Out
from pai_cli.errors import BackendError

EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment name, e.g. dev.")]


def smoke(
    ctx: typer.Context, env: EnvOpt = None,
    profile: Annotated[str | None, typer.Option("--profile", help="AWS profile to sign with.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="AWS region of the stacks.")] = None,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Check a deployed environment end to end: POST /search, POST /chat, and a memory
    added, recalled, forgotten and gone. Signs like --backend api (SigV4, or the `pai
    login` token on --auth cognito). Exit 0 when every step passed, 4 when one failed (one
    line each on stderr), 3 when it cannot sign in or find the API.

    Example: pai smoke --env dev --json
    """
    from pai_cli.config import ModelChoice
    from pai_cli.deploy import smoke as logic

    state = run_of(ctx)
    wiring = state.open(None, ModelChoice(profile=profile, region=region), backend="api",
                        env=env or state.env)
    out = Out.choose(as_json, output, wiring.settings.output)
    home = wiring.api
    report = logic.run(wiring.memories, wiring.chat)
    if out.json:
        out.emit({"env": wiring.settings.env, "url": home.endpoint.url,
                  "auth": home.endpoint.auth, **report.to_dict()})
    else:
        out.table(None, ["step", "result", "ms", "detail"],
                  [(s.name, "ok" if s.ok else "FAILED", f"{s.ms:.0f}", s.detail)
                   for s in report.steps])
    if not report.ok:
        for s in report.failed:
            out.note(f"pai: smoke step {s.name!r} failed: {s.detail}")
        raise BackendError(f"{len(report.failed)} of {len(report.steps)} smoke steps failed "
                           f"against {home.endpoint.url}.")
