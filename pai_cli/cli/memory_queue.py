"""`pai memory queue [retry]` and `pai memory distill`: the memory writer's work."""

from __future__ import annotations

from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup
from pai_cli.cli.progress import progress_bar
from pai_cli.errors import InputError

queue_app = typer.Typer(
    help="What waits to become memory, and what failed (parked).\n\n"
    "Example: pai memory queue retry --all",
    invoke_without_command=True, rich_markup_mode=None,
)


@queue_app.callback()
def queue(
    ctx: typer.Context,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Jobs waiting to be written to memory, with their tries and last error.

    Example: pai memory queue --json
    """
    if ctx.invoked_subcommand is not None:
        return
    wiring, out, settings = setup(ctx, user, as_json, output)
    jobs = wiring.chat.queue.jobs(settings.user)
    if out.json:
        out.emit([j.to_dict() for j in jobs])
        return
    if not jobs:
        out.note("The memory queue is empty.")
        return
    out.table(None, ["job", "kind", "queued", "tries", "state", "last error"], [
        (j.id, j.kind, d["created_at"], j.tries,
         "parked" if j.parked_at else ("waiting" if j.next_at else "due"), j.last_error or "")
        for j, d in ((j, j.to_dict()) for j in jobs)])
    parked = sum(1 for j in jobs if j.parked_at)
    if parked:
        out.note(f"{parked} parked: fix the cause (see the error), then `pai memory queue retry "
                 "--all`.")


@queue_app.command("retry")
def retry(
    ctx: typer.Context,
    job_ids: Annotated[list[int] | None, typer.Argument(help="Job ids (see `pai memory queue`).")
                       ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every parked or waiting job.")] = False,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Try parked jobs again now (and write what they hold).

    Example: pai memory queue retry 12
    """
    if bool(job_ids) == all_:
        raise typer.BadParameter("give job ids, or --all (not both).")
    wiring, out, settings = setup(ctx, user, as_json, output)
    n = wiring.chat.queue.retry(settings.user, None if all_ else job_ids)
    if not n:
        raise InputError("No such job: see `pai memory queue`.")
    report = wiring.chat.writer.drain(settings.user)
    summary = {"retried": n, "written": report.written, "failed": report.failed,
               "parked": report.parked}
    out.emit(summary) if out.json else out.note(
        f"Retried {n} job(s): {report.written} memories written, {report.failed} failed again"
        + (f", {report.parked} parked" if report.parked else "") + ".")
    for notice in report.notices:
        out.note(notice)


def distill(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; change "
                                          "nothing.")] = False,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Distil messages kept verbatim (chats without a model, imported conversations marked
    "processed": false) into facts, consolidated with what is known. Resumable.

    Example: pai memory distill --dry-run
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    writer = wiring.chat.writer
    for notice in wiring.notices:
        out.note(f"pai: {notice}")
    wiring.notices.clear()
    backlog = writer.backlog(settings.user)
    planned: list[dict] = []

    def show(m, decisions, known) -> None:  # type: ignore[no-untyped-def]
        items = [{"action": d.action, "text": d.text, "category": d.category,
                  "target": known[d.target - 1].id if d.target else None} for d in decisions]
        planned.append({"memory": m.id, "content": m.content, "decisions": items})
        if not out.json:
            out.line(f"{m.id[:12]} {m.content[:70]!r}")
            for it in items or [{"action": "nothing", "text": "", "target": None}]:
                target = f" [{it['target'][:12]}]" if it["target"] else ""
                out.line(f"    {it['action']}{target} {it['text']}")

    with progress_bar("Distilling", len(backlog), out) as advance:
        report = writer.distill_backlog(settings.user, dry_run=dry_run, progress=advance,
                                        show=show)
    if out.json:
        out.emit({"dry_run": dry_run, "messages": len(backlog), "written": report.written,
                  **({"planned": planned} if dry_run else {})})
    else:
        out.note(f"{'Would distil' if dry_run else 'Distilled'} {len(backlog)} message(s)"
                 + ("" if dry_run else f": {report.written} memories written or changed."))
    for notice in report.notices:
        out.note(notice)
    if not dry_run:
        wiring.memories.maintain(settings.user)
