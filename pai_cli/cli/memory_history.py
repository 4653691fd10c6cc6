"""`pai memory history|log|undo`: how memories came to be, and taking a change back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pai_cli.cli import when
from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup
from pai_cli.cli.output import Out

if TYPE_CHECKING:
    from pai_cli.records import MemoryEvent


def _summary(e: MemoryEvent) -> str:
    bits = []
    if e.before is not None and e.after is not None:
        bits.append(f"{e.before!r} -> {e.after!r}")
    elif e.after is not None:
        bits.append(repr(e.after))
    for field, (old, new) in e.detail.get("changes", {}).items():
        if field in ("status", "category", "pinned", "importance", "conflicts_with"):
            bits.append(f"{field}: {old} -> {new}")
    for key in ("superseded_by", "undoes", "conflicts_with"):
        if e.detail.get(key) and key not in e.detail.get("changes", {}):
            bits.append(f"{key.replace('_', ' ')} {e.detail[key]}")
    if e.detail.get("deleted"):
        bits.append("deleted for good (texts removed)")
    return "; ".join(bits)


def show_events(out: Out, events: list[MemoryEvent], with_memory: bool) -> None:
    if out.json:
        out.emit([e.to_dict() for e in events])
        return
    if not events:
        out.note("No changes.")
        return
    from pai_cli.records import iso

    cols = ["event", "when", "kind", "by", *(["memory"] if with_memory else []), "change"]
    out.table(None, cols, [
        (e.id[:12], iso(e.at), e.kind, e.actor + (f" ({e.model})" if e.model else ""),
         *([e.memory_id[:12]] if with_memory else []), _summary(e)) for e in events])


def history(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(help="Memory id (or a unique prefix).")],
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """How a memory came to be: every change, who made it, from which messages.

    Example: pai memory history mem-3f2a
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    memory, events = wiring.history.history(settings.user, memory_id)
    if out.json:
        out.emit({"memory": memory.to_dict() if memory else None,
                  "events": [e.to_dict() for e in events]})
        return
    if memory is None:
        out.note(f"Memory {memory_id} was forgotten; what is left of its history:")
    else:
        out.note(f"{memory.id} ({memory.status}): {memory.content}")
    show_events(out, events, with_memory=False)


def log(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", "-s", help="How far back: 30m, 12h, 7d, 2w "
                                       "or a date.")] = "7d",
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.")] = 100,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Recent changes across all memories, newest first.

    Example: pai memory log --since 2d
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    start = when.since(since, wiring.clock())
    show_events(out, wiring.history.log(settings.user, start, limit), with_memory=True)


def undo(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="Event id from `pai memory log` (or a "
                                            "unique prefix); a batch is undone whole.")],
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Take back one change, or everything one exchange changed.

    Example: pai memory undo evt-9c1d
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    made = wiring.history.undo(settings.user, event_id)
    if out.json:
        out.emit([e.to_dict() for e in made])
        return
    out.note(f"Undone: {len(made)} change(s).")
    show_events(out, made, with_memory=True)
    wiring.memories.maintain(settings.user)
