"""`pai conversations ...`: list conversations and read one."""

from __future__ import annotations

from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup

app = typer.Typer(
    help="List past conversations and show one's messages.\n\n"
    "Example: pai conversations show conv-1a2b",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.")] = 20,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Conversations, most recent first.

    Example: pai conversations list -n 5
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    # "At most" this many: a number past what any store can hold means all of them.
    out.conversations(wiring.chat.list_conversations(settings.user, min(limit, 2**62)))


@app.command("show")
def show(
    ctx: typer.Context,
    conversation_id: Annotated[str, typer.Argument(help="Conversation id or a unique prefix.")],
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """One conversation's messages, in order.

    Example: pai conversations show conv-1a2b
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    out.messages(wiring.chat.messages(settings.user, conversation_id))


@app.command("delete")
def delete(
    ctx: typer.Context,
    conversation_id: Annotated[str, typer.Argument(help="Conversation id or a unique prefix.")],
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Delete a conversation's messages (memories made from it stay).

    Example: pai conversations delete conv-1a2b
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    cid = wiring.chat.delete_conversation(settings.user, conversation_id)
    out.emit({"deleted": cid}) if out.json else out.note(f"Deleted {cid}.")
