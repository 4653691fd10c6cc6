"""The interactive `pai chat` loop on prompt-toolkit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.history import History
from prompt_toolkit.key_binding import KeyBindings

from pai_cli.core.chat import new_conversation_id
from pai_cli.errors import PaiError

HELP = """Type a message and press Enter. Esc then Enter inserts a newline.
  /new      start a new conversation
  /id       show the current conversation id
  /incognito  off the record on/off: turns are neither stored nor remembered
  /usage    token use and estimated cost of this session
  /help     this help
  exit      leave (or Ctrl-D); Ctrl-C clears the line or stops a reply"""


class InputStore(Protocol):
    def load(self) -> Iterable[str]: ...
    def append(self, entry: str) -> None: ...


class StoredHistory(History):
    """prompt-toolkit history kept in pai's encrypted store, not in a plaintext file."""

    def __init__(self, store: InputStore) -> None:
        super().__init__()
        self.store = store

    def load_history_strings(self) -> Iterable[str]:
        return self.store.load()

    def store_string(self, string: str) -> None:
        self.store.append(string)


def _bindings() -> KeyBindings:
    kb = KeyBindings()

    @kb.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    return kb


def run_repl(
    conversation_id: str | None,
    history: InputStore,
    do_turn: Callable[[str, str, bool], None],
    say: Callable[[str], None],
    usage: Callable[[], str] = lambda: "No token usage recorded.",
    pt_input: Any = None,
    pt_output: Any = None,
    incognito: bool = False,
    before_prompt: Callable[[], None] = lambda: None,
) -> str:
    """Returns the conversation id the session ended in. do_turn(text, conversation id,
    incognito); before_prompt runs before each prompt (notices from the memory writer)."""
    session: PromptSession[str] = PromptSession(
        history=StoredHistory(history),
        auto_suggest=AutoSuggestFromHistory(),
        key_bindings=_bindings(),
        input=pt_input,
        output=pt_output,
    )
    current = conversation_id or new_conversation_id()
    say(f"pai chat: conversation {current}. Type /help for help, exit to leave.")
    if incognito:
        say("Off the record: nothing you say is stored or remembered (/incognito to stop).")
    while True:
        before_prompt()
        try:
            line = session.prompt("you (off the record)> " if incognito else "you> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("exit", "quit", "/exit", "/quit"):
            break
        if text == "/help":
            say(HELP)
            continue
        if text == "/new":
            current = new_conversation_id()
            say(f"Started conversation {current}.")
            continue
        if text == "/id":
            say(current)
            continue
        if text == "/usage":
            say(usage())
            continue
        if text == "/incognito":
            incognito = not incognito
            say("Off the record: nothing you say is stored or remembered." if incognito
                else "Back on the record: turns are stored and remembered again.")
            continue
        if text.startswith("/") and " " not in text:
            say(f"Unknown command {text}: type /help.")
            continue
        try:
            do_turn(line, current, incognito)
        except PaiError as e:
            say(f"error: {e.message}")
        except Exception as e:  # noqa: BLE001 - one failed turn must not end the session
            say(f"error: {type(e).__name__}: {e} (try again, or run with --debug)")
    return current
