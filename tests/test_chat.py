"""`pai chat` in recall-only mode: one-shot, piped, the REPL, and the durable memory queue."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import pai
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from pai_cli.backends.local.input_history import EncryptedInputHistory
from pai_cli.cli.repl import run_repl
from pai_cli.config import load_settings
from pai_cli.wiring import Wiring


def test_one_shot_turn_recalls_and_remembers() -> None:
    pai("memory", "add", "My sister Ines lives in Lisbon", "-c", "family")
    r = pai("chat", "-m", "I am flying to Lisbon next week to see Ines", "--json")
    assert r.code == 0, r.err
    turn = json.loads(r.out)
    assert turn["reply"] is None
    assert "recall-only" in turn["notice"]
    assert turn["recalled"][0]["content"] == "My sister Ines lives in Lisbon"
    assert turn["recalled_ids"] == [h["id"] for h in turn["recalled"]]
    assert turn["conversation_id"].startswith("conv-")
    # The exchange became a memory (not pinned: pai remembered it on its own).
    mems = json.loads(pai("memory", "list", "--category", "conversation", "--json").out)
    assert [m["content"] for m in mems] == ["I am flying to Lisbon next week to see Ines"]
    assert mems[0]["pinned"] is False and mems[0]["source_conversation"] == turn["conversation_id"]
    hits = json.loads(pai("search", "trip to Portugal flight", "--json").out)
    assert mems[0]["id"] in [h["id"] for h in hits]


def test_text_mode_says_no_model_in_one_line() -> None:
    r = pai("chat", "-m", "hello there")
    assert r.code == 0
    notices = [line for line in r.err.splitlines() if "No chat model" in line]
    assert len(notices) == 1
    assert "Nothing relevant" in r.out


def test_piped_stdin_is_one_message() -> None:
    r = pai("chat", "--json", input="A piped note about the dentist on Friday\n")
    assert r.code == 0
    cid = json.loads(r.out)["conversation_id"]
    shown = json.loads(pai("conversations", "show", cid, "--json").out)
    assert [m["content"] for m in shown] == ["A piped note about the dentist on Friday"]


def test_continue_and_conversation_listing() -> None:
    first = json.loads(pai("chat", "-m", "first message", "--json").out)["conversation_id"]
    again = json.loads(pai("chat", "-m", "second message", "--continue", "--json").out)
    assert again["conversation_id"] == first
    other = json.loads(pai("chat", "-m", "another topic", "--json").out)["conversation_id"]
    assert other != first
    by_id = json.loads(pai("chat", "-m", "third", "--conversation", first[:10], "--json").out)
    assert by_id["conversation_id"] == first
    convs = json.loads(pai("conversations", "list", "--json").out)
    assert [c["id"] for c in convs] == [first, other]
    assert convs[0]["messages"] == 3
    msgs = json.loads(pai("conversations", "show", first, "--json").out)
    assert [m["content"] for m in msgs] == ["first message", "second message", "third"]
    assert pai("conversations", "show", "conv-nope").code == 1
    assert pai("conversations", "delete", first).code == 0
    assert pai("conversations", "show", first).code == 1


def test_empty_message_is_refused() -> None:
    assert pai("chat", "-m", "   ").code == 1
    assert pai("chat", input="").code == 1


def test_queued_memory_write_survives_a_crash(pai_home: Path) -> None:
    """The message and its memory job commit together; the memory is written on next start."""
    w = Wiring(load_settings("alice"))
    result = w.chat.turn("alice", "Remember that the boiler service is due in May")
    w.close()  # "crash" before remember_pending ran
    con = sqlite3.connect(pai_home / "pai.db")
    assert con.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM memories").fetchone()[0] == 0
    con.close()
    r = pai("chat", "-m", "what is due in May?", "--json")
    assert r.code == 0
    mems = json.loads(pai("memory", "list", "--json").out)
    contents = {m["content"] for m in mems}
    assert "Remember that the boiler service is due in May" in contents
    assert result.conversation_id in {m["source_conversation"] for m in mems}
    con = sqlite3.connect(pai_home / "pai.db")
    assert con.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    con.close()


def test_running_a_job_twice_does_not_double_the_memory() -> None:
    w = Wiring(load_settings("alice"))
    w.chat.turn("alice", "The wifi password is on the fridge")
    jobs = w.chat.queue.pending("alice", 10, w.clock())
    # Simulate a crash after the memory was written but before the job was marked done.
    w.chat.remember_pending("alice")
    for job in jobs:
        w.chat.queue.enqueue("alice", job.kind, job.payload, 0.0)
    w.chat.remember_pending("alice")
    assert w.memories.count("alice") == 1


@pytest.fixture
def repl_env(pai_home: Path):
    w = Wiring(load_settings("alice"))
    w.memories.add("alice", "Our cat Miso hates the vacuum cleaner", "pets")
    yield w
    w.close()


def drive_repl(w: Wiring, keys: str, conversation: str | None = None) -> tuple[list[str], str]:
    said: list[str] = []
    rendered: list[str] = []

    def do_turn(text: str, current: str, incognito: bool = False) -> None:
        result = w.chat.turn("alice", text, current)
        rendered.extend(h.memory.content for h in result.recalled)
        w.chat.remember_pending("alice")

    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text(keys)
        end = run_repl(
            conversation, EncryptedInputHistory(w.db, w.cipher, "alice"),
            do_turn=do_turn, say=said.append, pt_input=inp, pt_output=DummyOutput(),
        )
    return said + rendered, end


def test_repl_turns_commands_and_exit(repl_env: Wiring) -> None:
    keys = "Miso hid under the bed again. is Miso scared of the vacuum?\r/help\r/id\r\x03\r/bogus\rexit\r"
    lines, conv = drive_repl(repl_env, keys)
    text = "\n".join(lines)
    assert "Our cat Miso hates the vacuum cleaner" in text
    assert "/new" in text and conv in text and "Unknown command /bogus" in text
    msgs = repl_env.chat.messages("alice", conv)
    assert [m.content for m in msgs] == [
        "Miso hid under the bed again. is Miso scared of the vacuum?"]
    assert repl_env.memories.count("alice") == 2  # the exchange was remembered


def test_repl_ctrl_d_leaves_and_new_starts_a_conversation(repl_env: Wiring) -> None:
    lines, conv = drive_repl(repl_env, "hello\r/new\rsecond\r\x04")
    assert any(line.startswith("Started conversation") for line in lines)
    convs = repl_env.chat.list_conversations("alice")
    assert len(convs) == 2 and convs[0].id == conv


def test_repl_escape_enter_inserts_a_newline(repl_env: Wiring) -> None:
    _, conv = drive_repl(repl_env, "line one\x1b\rline two\r\x04")
    assert [m.content for m in repl_env.chat.messages("alice", conv)] == ["line one\nline two"]


def test_repl_history_persists_encrypted(repl_env: Wiring, pai_home: Path) -> None:
    drive_repl(repl_env, "the xylophone recital is on Sunday\r\x04")
    history = EncryptedInputHistory(repl_env.db, repl_env.cipher, "alice")
    assert list(history.load())[0] == "the xylophone recital is on Sunday"
    # Up-arrow recalls it in a new session.
    _, conv = drive_repl(repl_env, "\x1b[A\r\x04")
    assert [m.content for m in repl_env.chat.messages("alice", conv)] == [
        "the xylophone recital is on Sunday"]
    repl_env.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in pai_home.rglob("*"):
        if path.is_file():
            assert b"xylophone" not in path.read_bytes()


def test_repl_continues_a_given_conversation(repl_env: Wiring) -> None:
    first = repl_env.chat.turn("alice", "opening line").conversation_id
    _, conv = drive_repl(repl_env, "follow up\r\x04", conversation=first)
    assert conv == first
    assert [m.content for m in repl_env.chat.messages("alice", first)] == ["opening line", "follow up"]


def test_forget_all_and_delete_conversation_drop_queued_jobs(pai_home: Path) -> None:
    w = Wiring(load_settings("alice"))
    kept = w.chat.turn("alice", "keep this one").conversation_id
    gone = w.chat.turn("alice", "delete this conversation").conversation_id
    w.chat.delete_conversation("alice", gone)
    w.chat.remember_pending("alice")
    assert [m.content for m in w.memories.list("alice")] == ["keep this one"]
    w.chat.turn("alice", "queued before forget --all", kept)
    w.close()
    assert pai("memory", "forget", "--all", "--yes").code == 0
    pai("chat", "-m", "after", "--json")
    assert [m["content"] for m in json.loads(pai("memory", "list", "--json").out)] == ["after"]
