"""`pai chat`: the REPL, or one turn with -m TEXT or text piped on stdin."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup
from pai_cli.cli.output import Out
from pai_cli.core.records import TurnResult
from pai_cli.errors import InputError


def render_turn(out: Out, result: TurnResult) -> None:
    if out.json:
        out.emit(result.to_dict())
        return
    if result.recalled:
        n = len(result.recalled)
        out.line(f"Recalled {n} {'memory' if n == 1 else 'memories'}:")
        for i, hit in enumerate(result.recalled, 1):
            out.line(f"  {i}. [{hit.score:.4f}] ({hit.memory.category}) {hit.memory.content}")
    else:
        out.line("Nothing relevant remembered yet.")
    if result.reply:
        out.line(result.reply)
    if result.notice:
        out.note(result.notice)


def chat(
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Send one message and exit.")
    ] = None,
    continue_: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the latest conversation.")
    ] = False,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Continue this conversation id.")
    ] = None,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Talk with pai. It recalls what matters and remembers the exchange.

    Examples: pai chat | pai chat -m "I moved to Porto" | echo "hi" | pai chat --json
    """
    wiring, out, settings = setup(user, as_json, output)
    chat_service = wiring.chat
    user_id = settings.user
    chat_service.remember_pending(user_id)  # what a crash or Ctrl-C left in the queue
    wiring.purge_expired()
    for notice in wiring.notices:  # first use: where the key is, before the REPL takes over
        out.note(f"pai: {notice}")
    wiring.notices.clear()
    conversation_id = None
    if conversation:
        conversation_id = chat_service.resolve_conversation(user_id, conversation)
    elif continue_:
        conversation_id = chat_service.latest_conversation(user_id)
    if message is None and not sys.stdin.isatty():
        data = sys.stdin.buffer.read()
        try:
            message = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"stdin is not valid UTF-8 (byte {e.start}): re-encode it.") from None
    if message is not None:
        result = chat_service.turn(user_id, message, conversation_id)
        render_turn(out, result)
        chat_service.remember_pending(user_id)
        return
    from pai_cli.backends.local.input_history import EncryptedInputHistory
    from pai_cli.cli.repl import run_repl

    said: set[str] = set()

    def render_once(result: TurnResult) -> None:
        # In the REPL the recall-only notice is said once, not after every message.
        if result.notice in said:
            result.notice = None
        elif result.notice:
            said.add(result.notice)
        render_turn(out, result)

    run_repl(
        chat_service, user_id, conversation_id,
        EncryptedInputHistory(wiring.db, wiring.cipher, user_id),
        render=render_once,
        say=out.note,
    )
