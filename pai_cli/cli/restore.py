"""`pai restore`: bring an environment's tables back to a point in time or a backup."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt
from pai_cli.cli.deploy import EnvOpt, ProfileOpt, RegionOpt, YesOpt, _confirmer, _event_printer
from pai_cli.cli.output import Out


def restore(
    env: EnvOpt = "dev",
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    to_time: Annotated[
        str | None, typer.Option("--to-time", help="Restore to this moment: an ISO 8601 time "
                                 "(UTC unless it says otherwise), a span back from now (30m, "
                                 "12h, 2d), or latest.")
    ] = None,
    backup: Annotated[
        list[str] | None, typer.Option("--backup", help="Restore from this AWS Backup recovery "
                                       "point ARN (one per table; a table without one stays "
                                       "as it is). --list names them.")
    ] = None,
    list_points: Annotated[
        bool, typer.Option("--list", help="List the recovery points of the env's tables.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, change nothing.")]
    = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Restore the env's tables into new tables, point the stacks at them (parameters, not
    hand edits), rebuild the vector index from DynamoDB + S3 and verify the counts. The
    tables in use are never changed: they stay until you delete them.

    Example: pai restore --env dev --to-time 2026-12-01T09:00:00Z --dry-run
    """
    from pai_cli.deploy import restore as flow
    from pai_cli.wiring import deploy_session, rebuild_restored_index

    out = Out.choose(as_json, output)
    if list_points:
        points = flow.recovery_points(env, deploy_session(profile, region))
        if out.json:
            out.emit({"env": env, "recovery_points": [asdict(p) for p in points]})
        else:
            out.table(None, ["created", "table", "status", "recovery point"],
                      [(p.created, p.table, p.status, p.arn) for p in points])
        return
    if (to_time is None) == (not backup):
        raise typer.BadParameter("give --to-time TIME (or latest) or --backup ARN, not both.",
                                 param_hint="--to-time / --backup")
    when: float | str | None = None
    if to_time is not None:
        if to_time.strip().lower() == flow.LATEST:
            when = flow.LATEST
        else:
            from pai_cli.cli.when import since

            when = since(to_time, time.time(), "--to-time")
    options = flow.RestoreOptions(env, when, tuple(backup or ()), dry_run)

    def rebuild(tables: dict[str, str], store: str, previous: str,
                note: Callable[[str], None]) -> dict[str, tuple[int, int]]:
        return rebuild_restored_index(env, tables, store, previous, profile, region, note)

    done = flow.restore(options, deploy_session(profile, region), _confirmer(yes),
                        _event_printer(out), out.note, rebuild=rebuild)
    if done.aborted:
        raise typer.Abort()
    plan = asdict(done.plan)
    if out.json:
        out.emit({"env": done.plan.env, "region": done.plan.region, "dry_run": done.dry_run,
                  "plan": plan, "done": done.done, "items": done.items,
                  "index": {u: {"memories": m, "vectors": v} for u, (m, v) in
                            done.index.items()},
                  "checks": [asdict(c) for c in done.checks], "verified": done.verified})
        if not done.dry_run and not done.verified:
            raise typer.Exit(4)
        return
    if done.dry_run:
        out.note("Dry run: nothing was changed.")
        return
    out.note("Done:")
    for line in done.done:
        out.note(f"  - {line}")
    out.table(None, ["check", "ok", "detail"],
              [(c.what, "yes" if c.ok else "NO", c.detail) for c in done.checks])
    if not done.verified:
        out.note("pai: the restore finished but a check failed (above): look before you "
                 "delete the old tables.")
        raise typer.Exit(4)
    old = ", ".join(t.source for t in done.plan.tables)
    out.note(f"Verified. The old table(s) stay until you delete them: {old}.")
