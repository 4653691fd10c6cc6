"""`pai memory ...`: add, list, show, edit, forget, pin, export, import, reindex."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup
from pai_cli.cli.progress import progress_bar
from pai_cli.errors import BackendError, InputError

app = typer.Typer(
    help="Add, list, show, edit, pin and forget memories; import, export and reindex them.\n\n"
    "Example: pai memory add \"I'm allergic to penicillin\" --category health",
    no_args_is_help=True,
    rich_markup_mode=None,
)

EXPORTED = ("id", "content", "category", "pinned", "created_at", "origin", "importance",
            "valid_from", "valid_to", "superseded_by", "status", "sources", "processed")
"""What a backup keeps of each memory (`memory import` reads every one of them back)."""

IdArg = Annotated[str, typer.Argument(help="Memory id (or a unique prefix of at least 4 chars).")]


@app.command("add")
def add(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to remember ('-' reads stdin).")],
    category: Annotated[str | None, typer.Option("--category", "-c", help="A category.")] = None,
    pin: Annotated[
        bool, typer.Option("--pin/--no-pin", help="Pinned memories never expire (default: pinned).")
    ] = True,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Remember TEXT.

    Example: pai memory add "Maya's school is Oakwood Elementary" -c family
    """
    wiring, out, _ = setup(ctx, user, as_json, output)
    if text == "-":
        text = _read_stdin()
    text, redacted = wiring.memories.redact(text)
    memory = wiring.memories.add(wiring.settings.user, text, category, pinned=pin)
    if redacted:
        from pai_cli.core.redact import told

        out.note(told(redacted) or "")
    if out.json:
        out.emit(memory.to_dict())
    else:
        out.line(memory.id)
        out.note(f"Remembered ({memory.category}{', pinned' if memory.pinned else ''}).")
    wiring.memories.maintain(wiring.settings.user)


@app.command("list")
def list_(
    ctx: typer.Context,
    category: Annotated[str | None, typer.Option("--category", "-c", help="Only this category.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many, newest first.")] = 50,
    all_: Annotated[bool, typer.Option(
        "--all", "-a", help="Also superseded memories and those a model forgot.")] = False,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """List memories, newest first.

    Example: pai memory list --category health --limit 10
    """
    wiring, out, _ = setup(ctx, user, as_json, output)
    # "At most" this many: a number past what any store can hold means all of them.
    out.memories(wiring.memories.list(wiring.settings.user, category, min(limit, 2**62),
                                      include_inactive=all_))


@app.command("show")
def show(ctx: typer.Context, memory_id: IdArg, user: UserOpt = None, as_json: JsonOpt = False,
         output: OutputOpt = None) -> None:
    """Show one memory in full.

    Example: pai memory show mem-3f2a
    """
    wiring, out, _ = setup(ctx, user, as_json, output)
    out.memory(wiring.memories.get(wiring.settings.user, memory_id))


@app.command("edit")
def edit(
    ctx: typer.Context,
    memory_id: IdArg,
    text: Annotated[str, typer.Argument(help="The new text ('-' reads stdin).")],
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Replace a memory's text (it is re-indexed).

    Example: pai memory edit mem-3f2a "Maya's school is Lakeside Elementary"
    """
    wiring, out, _ = setup(ctx, user, as_json, output)
    if text == "-":
        text = _read_stdin()
    memory = wiring.memories.edit(wiring.settings.user, memory_id, text)
    if out.json:
        out.emit(memory.to_dict())
    else:
        out.line(memory.id)
        out.note("Updated.")
    wiring.memories.maintain(wiring.settings.user)


def _set_pin(ctx: typer.Context, memory_id: str, pinned: bool, user: str | None,
             as_json: bool, output: str | None) -> None:
    wiring, out, _ = setup(ctx, user, as_json, output)
    memory = wiring.memories.set_pinned(wiring.settings.user, memory_id, pinned)
    if out.json:
        out.emit(memory.to_dict())
    else:
        out.line(memory.id)
        out.note("Pinned: it never expires." if pinned else "Unpinned: it expires in a year.")


@app.command("pin")
def pin_(ctx: typer.Context, memory_id: IdArg, user: UserOpt = None, as_json: JsonOpt = False,
         output: OutputOpt = None) -> None:
    """Pin a memory so it never expires.

    Example: pai memory pin mem-3f2a
    """
    _set_pin(ctx, memory_id, True, user, as_json, output)


@app.command("unpin")
def unpin(ctx: typer.Context, memory_id: IdArg, user: UserOpt = None, as_json: JsonOpt = False,
          output: OutputOpt = None) -> None:
    """Unpin a memory: it then expires after the memory TTL (365 days by default).

    Example: pai memory unpin mem-3f2a
    """
    _set_pin(ctx, memory_id, False, user, as_json, output)


@app.command("forget")
def forget(
    ctx: typer.Context,
    memory_id: Annotated[str | None, typer.Argument(help="Memory id to forget.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Forget every memory of the user.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (needed with --all).")] = False,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Forget one memory, or all of them with --all --yes.

    Example: pai memory forget mem-3f2a
    """
    if all_ == (memory_id is not None):
        raise typer.BadParameter("give a memory id, or --all (not both).")
    wiring, out, settings = setup(ctx, user, as_json, output)
    if all_:
        if not yes:
            if not sys.stdin.isatty():
                raise InputError("Refusing to forget every memory without --yes.")
            n = wiring.memories.count(settings.user)
            typer.confirm(f"Forget all {n} memories of user {settings.user!r}?", abort=True,
                          err=True)
        wiring.chat.forget_everything_queued(settings.user)
        count = wiring.memories.forget_all(settings.user)
        out.emit({"forgotten": count}) if out.json else out.note(f"Forgot {count} memories.")
        return
    assert memory_id is not None
    gone = wiring.memories.forget(settings.user, memory_id)
    out.emit({"forgotten": [gone]}) if out.json else out.note(f"Forgot {gone}.")
    wiring.memories.maintain(settings.user)


@app.command("export")
def export(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="Write JSONL here (default: stdout).")] = None,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Export memories as JSONL (decrypted: keep the file safe).

    Example: pai memory export memories.jsonl
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    to_stdout = file is None or str(file) == "-"
    tmp = None if to_stdout else file.with_name(f".{file.name}.partial")  # type: ignore[union-attr]
    if tmp is None:
        target = sys.stdout
    else:
        # Decrypted text: private from the first byte, and never left behind half-written.
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as e:
            raise InputError(f"Cannot write {file} ({e.strerror}): choose a folder that exists "
                             "and that you can write.") from None
        target = os.fdopen(fd, "w", encoding="utf-8")
    n = 0
    memories = wiring.memories
    try:
        for memory in memories.export(settings.user):
            d = memory.to_dict()
            target.write(json.dumps({k: d[k] for k in EXPORTED if d[k] not in (None, [])},
                                    ensure_ascii=False) + "\n")
            n += 1
        target.flush()
        if tmp is not None:
            os.fsync(target.fileno())
            target.close()
            tmp.replace(file)  # type: ignore[arg-type]
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                target.close()
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):  # writing the file: the store raises its own errors
            raise BackendError(f"Writing {file or 'stdout'} failed ({e.strerror}): nothing was "
                               "exported; free space or choose another place.") from None
        raise
    where = "" if tmp is None else f" to {file}"
    if memories.unreadable:
        # The rest is exported (a backup must not wait for the one bad record), but the
        # backup is not whole: say which records are missing and fail at the end.
        raise BackendError(
            f"Exported {n} memories{where}, but left out {len(memories.unreadable)} that "
            "cannot be read (named above): forget them with `pai memory forget ID` or "
            "restore the database from a backup."
        )
    if tmp is not None:
        out.note(f"Exported {n} memories{where}.")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSONL file ('-' reads stdin).")],
    category: Annotated[
        str | None, typer.Option("--category", "-c", help="Category for lines that have none.")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Memories per transaction.")] = 500,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Import JSONL: one object per line with "content" and optional "category",
    "created_at", "id", "pinned". The whole file is checked first; then each batch is
    committed whole and its count printed. Re-running is safe: known ids are skipped.

    Example: pai memory import notes.jsonl
    """
    from pai_cli.core.importing import parse_jsonl

    wiring, out, settings = setup(ctx, user, as_json, output)
    if batch < 1:
        raise InputError("--batch must be at least 1.")
    if file == "-":
        lines = sys.stdin.buffer.read().splitlines()
    else:
        try:
            lines = Path(file).read_bytes().splitlines()
        except OSError as e:
            raise InputError(f"Cannot read {file}: {e.strerror}.") from None
    records = parse_jsonl(lines, category or settings.default_category)
    wiring.purge_expired()
    with progress_bar("Importing", len(records), out) as advance:
        def committed(done: int, added: int, total: int) -> None:
            advance(done, total)
            # The count is printed only after its batch is committed, so it is on disk.
            if not sys.stderr.isatty():
                out.note(f"committed {done}/{total} ({added} new)")

        added, skipped = wiring.memories.import_records(settings.user, records, batch, committed)
    wiring.memories.index.compact(settings.user)
    if out.json:
        out.emit({"imported": added, "skipped": skipped, "total": len(records)})
    else:
        out.note(f"Imported {added} memories ({skipped} already present).")


@app.command("reindex")
def reindex(ctx: typer.Context, user: UserOpt = None, as_json: JsonOpt = False,
            output: OutputOpt = None) -> None:
    """Rebuild the keyword and vector index from the stored memories.

    Run it after changing the embedding model. Example: pai memory reindex
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    total = wiring.memories.count(settings.user)
    with progress_bar("Reindexing", total, out) as advance:
        n = wiring.memories.reindex(settings.user, progress=advance)
    out.emit({"reindexed": n}) if out.json else out.note(f"Reindexed {n} memories.")


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"stdin is not valid UTF-8 (byte {e.start}): re-encode it as UTF-8.") from None


def _register() -> None:
    from pai_cli.cli import memory_history, memory_queue

    app.command("history")(memory_history.history)
    app.command("log")(memory_history.log)
    app.command("undo")(memory_history.undo)
    app.command("distill")(memory_queue.distill)
    app.add_typer(memory_queue.queue_app, name="queue")


_register()
