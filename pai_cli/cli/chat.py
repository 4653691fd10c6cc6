"""`pai chat`: the REPL, or one turn with -m TEXT or text piped on stdin."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, run_of, setup
from pai_cli.cli.output import Out
from pai_cli.cli.printer import make_printer
from pai_cli.config import PROVIDERS, ModelChoice
from pai_cli.errors import InputError, PaiError

if TYPE_CHECKING:  # the core is imported by the commands that run, not by `pai --help`
    from pai_cli.core.chat import ChatService
    from pai_cli.records import ChatMessage, TurnResult

ModelOpt = Annotated[str | None, typer.Option("--model", help="Model id (also PAI_MODEL).")]
ProviderOpt = Annotated[
    str | None, typer.Option("--provider", help="bedrock, openai or none (also PAI_PROVIDER).")
]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS profile for Bedrock.")]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="AWS region (> AWS_REGION > AWS_DEFAULT_REGION).")
]


def render_recall(out: Out, result: TurnResult) -> None:
    if result.recalled:
        n = len(result.recalled)
        out.line(f"Recalled {n} {'memory' if n == 1 else 'memories'}:")
        for i, hit in enumerate(result.recalled, 1):
            out.line(f"  {i}. [{hit.score:.2f}] ({hit.memory.category}) {hit.memory.content}")
    else:
        out.line("Nothing relevant remembered yet.")


def run_turn(
    chat_service: ChatService, out: Out, user_id: str, message: str,
    conversation_id: str | None, quiet_notice: bool = False,
    incognito: bool = False, history: list[ChatMessage] | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> TurnResult:
    """One turn on a terminal or a pipe. A model error is raised after everything that
    arrived is stored; Ctrl-C stops the reply and keeps what arrived. confirm asks y/N
    before a model changes or forgets a memory (None: no one can be asked)."""
    from pai_cli.core.chat import TurnHooks
    from pai_cli.core.redact import told

    def tell_redacted(result: TurnResult) -> None:
        note = told(result.redacted)
        if note:
            out.note(f"pai: {note}")

    if chat_service.model is None:
        result = chat_service.turn(user_id, message, conversation_id,
                                   TurnHooks(incognito=incognito, history=history))
        tell_redacted(result)
        if out.json:
            out.emit(result.to_dict())
        else:
            render_recall(out, result)
            if result.notice and not quiet_notice:
                out.note(result.notice)
        return result

    def show_recalled(prepared: TurnResult) -> None:
        tell_redacted(prepared)
        if not out.json and prepared.recalled:
            out.note(f"(recalled {len(prepared.recalled)}: "
                     + ", ".join(h.memory.id[:12] for h in prepared.recalled) + ")")

    printers = [make_printer(out.mode, out.stdout, out.color)]

    def between(action: Callable[[], object]) -> object:
        # A tool line or a question goes between pieces of the reply, not through them.
        printers[-1].close()
        try:
            return action()
        finally:
            printers.append(make_printer(out.mode, out.stdout, out.color))

    def on_tool(line: str) -> None:
        if not out.json:
            between(lambda: out.note(f"  [memory] {line}"))

    def asked(question: str) -> bool:
        return bool(between(lambda: confirm(question))) if confirm else False

    try:
        result = chat_service.turn(user_id, message, conversation_id, TurnHooks(
            on_text=lambda piece: printers[-1].feed(piece), on_recalled=show_recalled,
            incognito=incognito, history=history, on_tool=on_tool,
            confirm=asked if confirm else None))
    finally:
        printers[-1].close()
    if out.json:
        out.emit(result.to_dict())
    if result.interrupted:
        out.note("(reply interrupted: what arrived is kept)")
    if isinstance(result.failure, PaiError):
        raise result.failure
    return result


def chat(
    ctx: typer.Context,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Send one message and exit.")
    ] = None,
    continue_: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the latest conversation.")
    ] = False,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Continue this conversation id.")
    ] = None,
    incognito: Annotated[bool, typer.Option(
        "--incognito", help="Off the record: nothing is stored or remembered.")] = False,
    model: ModelOpt = None, provider: ProviderOpt = None,
    profile: ProfileOpt = None, region: RegionOpt = None,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Talk with pai. It recalls what matters and remembers the exchange.

    Examples: pai chat | pai chat -m "I moved to Porto" | echo "hi" | pai chat --json
    """
    choice = ModelChoice(provider, model, profile, region)
    if provider and provider not in PROVIDERS:
        raise InputError(f"Unknown --provider {provider!r}: use {', '.join(PROVIDERS)}.")
    wiring, out, settings = setup(ctx, user, as_json, output, choice)
    chat_service = wiring.chat
    user_id = settings.user
    wiring.purge_expired()
    for notice in wiring.notices:  # where the key is, which model: before any output
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
        try:
            run_turn(chat_service, out, user_id, message, conversation_id, incognito=incognito)
        finally:
            # After the reply (and whatever a crash left queued before), whatever happened.
            chat_service.remember_pending(user_id)
            for notice in chat_service.notices:
                out.note(notice)
            wiring.memories.maintain(user_id)
        return
    from pai_cli.cli.background import BackgroundWriter
    from pai_cli.cli.repl import run_repl

    turns: list[TurnResult] = []
    off_record: list[ChatMessage] = []
    writer = BackgroundWriter(lambda: run_of(ctx).open(user, choice), user_id)
    writer.kick()  # what a crash or Ctrl-C left in the queue

    def one_turn(text: str, current: str, incognito: bool) -> None:
        # In the REPL the recall-only notice is said once, not after every message.
        try:
            result = run_turn(chat_service, out, user_id, text, current,
                              quiet_notice=bool(turns), incognito=incognito,
                              history=off_record if incognito else None, confirm=ask_yes_no)
            turns.append(result)
            if incognito:
                off_record[:] = result.exchange[-chat_service.settings.history_messages:]
        finally:
            if not incognito:
                writer.kick()
            wiring.memories.maintain(user_id)

    def notices() -> None:
        for notice in writer.take_notices():
            out.note(notice)

    run_repl(
        conversation_id,
        wiring.input_history(user_id),
        do_turn=one_turn, say=out.note, usage=lambda: usage_summary(turns),
        incognito=incognito, before_prompt=notices,
    )
    if not writer.wait(0.5):
        out.note("pai: writing the last exchange to memory...")
        writer.wait(chat_service.settings.memory_wait_s)
    notices()


def ask_yes_no(question: str) -> bool:
    """y/N on the terminal (between REPL prompts, so stdin is the user's)."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        return False
    return answer.strip().lower() in ("y", "yes")


def usage_summary(turns: list[TurnResult]) -> str:
    used = [t.usage for t in turns if t.usage]
    if not used:
        return "No token usage in this session yet."
    last = used[-1]
    cost = sum(u.cost_usd or 0.0 for u in used)
    known = all(u.cost_usd is not None for u in used)
    return (f"Last turn: {last.input_tokens} in / {last.output_tokens} out tokens. "
            f"Session: {sum(u.input_tokens for u in used)} in / "
            f"{sum(u.output_tokens for u in used)} out"
            + (f", ~${cost:.4f}" if known else " (cost unknown for this model)") + ".")
