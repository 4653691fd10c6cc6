"""`pai migrate --from local --to aws`: move memories between homes (resumable)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, run_of
from pai_cli.cli.output import Out
from pai_cli.cli.progress import progress_bar

HOMES = ("local", "aws")


def migrate(
    ctx: typer.Context,
    from_: Annotated[str, typer.Option("--from", help="local or aws.")],
    to: Annotated[str, typer.Option("--to", help="local or aws.")],
    env: Annotated[str | None, typer.Option("--env", help="AWS environment (default dev).")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Memories per write batch.")] = 200,
    to_user: Annotated[str | None, typer.Option(
        "--to-user", help="File them under this user in the target (default: the target "
        "home's user, which on AWS is your AWS identity unless --user names one).")] = None,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Copy a user's memories (text, categories, pins, dates, ids) from one home to the
    other, re-embedding and re-encrypting them. Safe to interrupt and run again: memories
    already in the target are skipped. The source is left as it was.

    Example: pai migrate --from local --to aws --env dev
    Example: pai migrate --from aws --to aws --user alice   (the OS user's memories, filed
    under your AWS identity as the CLI and the HTTP API now both resolve it)
    """
    from pai_cli.core.migrate import migrate_memories

    for name, value in (("--from", from_), ("--to", to)):
        if value not in HOMES:
            raise typer.BadParameter(f"use local or aws, not {value!r}.", param_hint=name)
    if from_ == to and not (user or to_user):
        raise typer.BadParameter("--from and --to name the same home: name the users to move "
                                 "between with --user (and --to-user).", param_hint="--to")
    if batch < 1:
        raise typer.BadParameter("must be at least 1.", param_hint="--batch")
    source = run_of(ctx).open(user, backend=from_, env=env)
    target = run_of(ctx).open(to_user if from_ == to else (to_user or user), backend=to, env=env)
    out = Out.choose(as_json, output, source.settings.output)
    user_id = source.settings.user
    target_user = target.settings.user
    if from_ == to and target_user == user_id:
        raise typer.BadParameter("the source and target user are the same.", param_hint="--to-user")
    total = source.memories.count(user_id)
    with progress_bar(f"Migrating {from_} -> {to}", total, out) as advance:
        def step(done: int, total: int) -> None:
            advance(done, total)
            if not sys.stderr.isatty():
                out.note(f"migrated {done}/{total}")

        result = migrate_memories(source.memories, target.memories, user_id, batch, step,
                                  target_user=target_user)
    target.memories.index.compact(target_user)
    summary = {"from": from_, "to": to, "user": user_id, "to_user": target_user,
               "moved": result.moved,
               "already_there": result.already_there, "total": result.total}
    out.emit(summary) if out.json else out.note(
        f"Moved {result.moved} memories from {from_} to {to} ({result.already_there} were "
        "already there). The source still holds them: forget them there when you are sure.")
