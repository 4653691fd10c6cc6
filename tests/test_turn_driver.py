"""ChatService.turn, the one turn driver, on the in-memory port fakes: each hook and each
way a reply can end, in milliseconds."""

from __future__ import annotations

import time

import pytest
from fakes.home import FakeHome
from fakes.ports import Say, ScriptedModel

from pai_cli.core.chat import TurnHooks
from pai_cli.core.jobs import CorruptJob, RememberJob
from pai_cli.errors import DeadlineExceeded, ModelError


def home(*script) -> FakeHome:
    return FakeHome(model=ScriptedModel(list(script)))


def stored(h: FakeHome, cid: str) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in h.chat.messages("alice", cid)]


def test_text_reaches_the_sink_and_the_reply_and_usage_are_stored() -> None:
    h = home(Say(["Hello ", "Alice."], usage=(30, 4)))
    h.memories.add("alice", "Alice's sister Inês lives in Lisbon", "person")
    seen: list[str] = []
    recalled: list[int] = []
    result = h.chat.turn("alice", "where does my sister live?", hooks=TurnHooks(
        on_text=seen.append, on_recalled=lambda r: recalled.append(len(r.recalled))))
    assert seen == ["Hello ", "Alice."] and recalled == [1]
    assert result.reply == "Hello Alice." and result.failure is None and not result.interrupted
    assert stored(h, result.conversation_id) == [("user", "where does my sister live?"),
                                                  ("assistant", "Hello Alice.")]
    assert [(u.input_tokens, u.output_tokens) for u in h.usage.records("alice", 0)] == [(30, 4)]
    system, messages, _ = h.model.calls[0]
    assert "Inês lives in Lisbon" in system and messages[-1].content == "where does my sister live?"


def test_recalled_hook_runs_after_the_message_is_stored_and_before_the_model() -> None:
    h = home(Say(["ok"]))
    order: list[str] = []

    def on_recalled(result) -> None:
        order.append("recalled")
        assert h.model.calls == []  # the model has not been asked yet...
        assert h.queue.pending("alice", 10, time.time())  # ...but the message and its job are stored

    h.chat.turn("alice", "hello", hooks=TurnHooks(on_recalled=on_recalled,
                                                  on_text=lambda _: order.append("text")))
    assert order == ["recalled", "text"]


def test_a_stop_ends_the_reply_and_keeps_what_arrived() -> None:
    h = home(Say(["one ", "two ", "three"]))
    pieces: list[str] = []
    result = h.chat.turn("alice", "count", hooks=TurnHooks(
        on_text=pieces.append, stop=lambda: len(pieces) >= 2))
    assert result.interrupted and result.reply == "one two " and result.failure is None
    assert stored(h, result.conversation_id)[-1] == ("assistant", "one two ")


def test_a_passed_deadline_is_a_deadline_error_with_the_partial_reply_stored() -> None:
    def slow(system, messages):
        return Say(["first ", "second"])

    h = home(slow)
    result = h.chat.turn("alice", "tell me a story", hooks=TurnHooks(
        on_text=lambda _: time.sleep(0.02), deadline=time.monotonic() + 0.01,
        deadline_message="too slow for the API"))
    assert isinstance(result.failure, DeadlineExceeded) and result.error == "too slow for the API"
    assert result.reply == "first "
    assert stored(h, result.conversation_id)[-1] == ("assistant", "first ")


def test_a_model_error_mid_stream_is_reported_after_storing_the_partial_reply() -> None:
    h = home(Say(["partial "], error=ModelError("the server cut the stream")))
    result = h.chat.turn("alice", "go on")
    assert isinstance(result.failure, ModelError) and result.error == "the server cut the stream"
    assert result.reply == "partial "
    assert stored(h, result.conversation_id) == [("user", "go on"), ("assistant", "partial ")]


def test_ctrl_c_during_the_reply_keeps_what_arrived() -> None:
    h = home(Say(["kept ", "lost"]))

    def sink(piece: str) -> None:
        if piece == "lost":
            raise KeyboardInterrupt

    result = h.chat.turn("alice", "hi", hooks=TurnHooks(on_text=sink))
    assert result.interrupted and result.reply == "kept lost"  # it had arrived, so it is kept


def test_a_failing_sink_is_raised_after_what_arrived_is_stored() -> None:
    h = home(Say(["saved ", "then"]))

    def broken_terminal(piece: str) -> None:
        if piece == "then":
            raise BrokenPipeError("stdout closed")

    with pytest.raises(BrokenPipeError):
        h.chat.turn("alice", "hi", hooks=TurnHooks(on_text=broken_terminal))
    cid = h.chat.latest_conversation("alice")
    assert stored(h, cid) == [("user", "hi"), ("assistant", "saved then")]


def test_recall_only_mode_stores_the_message_and_never_invents_a_reply() -> None:
    h = FakeHome()
    result = h.chat.turn("alice", "I moved to Porto")
    assert result.reply is None and result.notice and result.model is None
    assert stored(h, result.conversation_id) == [("user", "I moved to Porto")]
    assert h.chat.remember_pending("alice") == 1
    assert [m.content for m in h.memories.list("alice")] == ["I moved to Porto"]


def test_the_remember_job_codec_round_trips_and_refuses_what_it_cannot_read() -> None:
    job = RememberJob("conv-1", "msg-2", b"\x00sealed\nbytes\n")
    assert RememberJob.decode(job.encode()) == job
    assert job.encode().startswith(RememberJob.conversation_prefix("conv-1"))
    for bad in (b"", b"conv-only", b"\nmsg\nx", b"conv\n\nx", "conv\u00e9\nmsg\nx".encode()):
        with pytest.raises(CorruptJob):
            RememberJob.decode(bad)


def test_a_rolled_back_transaction_leaves_every_fake_as_it_was() -> None:
    h = FakeHome()
    h.memories.add("alice", "a note written before")
    with pytest.raises(RuntimeError), h.db.transaction():
        h.memories.add("alice", "a note written inside, rolled back")
        h.queue.enqueue("alice", "remember", b"x", 0.0)
        raise RuntimeError("crash")
    assert [m.content for m in h.memories.list("alice")] == ["a note written before"]
    assert h.queue.pending("alice", 10, time.time()) == []
    # The query holds every word of the rolled-back note and two of the kept one: only the
    # kept one is found, so the other's terms and vector went with it.
    assert [x.memory.content for x in h.memories.search(
        "alice", "note written inside rolled back", 5)] == ["a note written before"]
