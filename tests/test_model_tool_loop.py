"""The chat model's memory tools in the one turn driver, on the fakes with a scripted
model: handles not ids, results fed back in the same turn, y/N before update and forget,
refusal where no one can be asked, and "forget what I told you about my old job"."""

from __future__ import annotations

import pytest
from fakes.home import FakeHome
from fakes.ports import Say, ScriptedModel

from pai_cli.core.chat import ChatSettings, TurnHooks
from pai_cli.core.history import HistoryService
from pai_cli.records import RETIRED, ToolCall


def home(*script, allow_unasked: bool = False) -> FakeHome:
    return FakeHome(model=ScriptedModel(list(script)),
                    chat_settings=ChatSettings(allow_unasked=allow_unasked))


def call(name: str, **arguments) -> ToolCall:
    return ToolCall(f"call-{name}", name, arguments)


def results(h: FakeHome, n: int = 1) -> list:
    """The tool results the model got back on its n-th call (1-based)."""
    return [r for m in h.model.calls[n][1] for r in m.tool_results]


def test_remember_then_answer_in_the_same_turn() -> None:
    h = home(Say(["Let me note that. "], calls=[call("remember", content="The user's gate "
                                                       "code is on a sticky note", category="fact")]),
             Say(["Done: I'll remember where the gate code is."]))
    lines: list[str] = []
    r = h.chat.turn("alice", "remember that my gate code is on a sticky note",
                    hooks=TurnHooks(on_tool=lines.append))
    assert r.reply == "Let me note that. Done: I'll remember where the gate code is."
    (m,) = h.memories.list("alice")
    assert (m.origin, m.content) == ("tool", "The user's gate code is on a sticky note")
    assert lines == ["remember \"The user's gate code is on a sticky note\": done"]
    assert h.model.tools_seen[0] == ["recall", "remember", "update", "forget"]
    (res,) = results(h)
    assert not res.is_error and res.content["id"] == 1  # a handle, never the real id
    assert m.id not in str(h.model.calls[1][1])
    assert r.tool_calls[0]["name"] == "remember" and r.tool_calls[0]["ok"]
    assert r.usage.input_tokens == 20  # both rounds counted


def test_forget_what_i_told_you_about_my_old_job_asks_and_is_undoable() -> None:
    h = home()
    job = h.memories.add("alice", "The user works at Initech as a tester", "work", pinned=False)
    h.model.script += [Say([], calls=[call("forget", id=1)]), Say(["Forgotten."])]
    asked: list[str] = []
    r = h.chat.turn("alice", "forget what I told you about my old job at Initech",
                    hooks=TurnHooks(confirm=lambda q: asked.append(q) or True))
    assert asked == ["pai wants to forget 'The user works at Initech as a tester'. Allow?"]
    assert h.memories.get("alice", job.id).status == RETIRED and r.reply == "Forgotten."
    assert h.memories.search("alice", "where do I work", 5, min_score=0.0) == []
    hist = HistoryService(h.memories)
    (event,) = [e for e in hist.log("alice", 0) if e.kind == "forgotten"]
    assert event.actor == "tool"
    hist.undo("alice", event.id)
    assert h.memories.get("alice", job.id).status == "active"


def test_a_no_leaves_the_memory_and_tells_the_model() -> None:
    h = home()
    m = h.memories.add("alice", "The user's cat is called Miso", "person")
    h.model.script += [Say([], calls=[call("update", id=1, content="The cat is Mochi")]),
                       Say(["OK, I left it."])]
    h.chat.turn("alice", "my cat Miso", hooks=TurnHooks(confirm=lambda q: False))
    assert h.memories.get("alice", m.id).content == "The user's cat is called Miso"
    (res,) = results(h)
    assert res.is_error and "said no" in res.content["error"]


def test_where_no_one_can_be_asked_destructive_calls_are_refused_unless_allowed() -> None:
    for allowed in (False, True):
        h = home(allow_unasked=allowed)
        m = h.memories.add("alice", "The user lives in Leeds", "fact")
        h.model.script += [Say([], calls=[call("forget", id=1)]), Say(["ok"])]
        h.chat.turn("alice", "where do I live? forget it")
        (res,) = results(h)
        assert res.is_error is (not allowed)
        assert (h.memories.get("alice", m.id).status == RETIRED) is allowed
        if not allowed:
            assert "no one can be asked" in res.content["error"]


def test_handles_name_only_what_was_shown_and_bad_arguments_are_error_results() -> None:
    h = home()
    h.memories.add("alice", "The user's dentist is Dr Okafor", "health")
    other = h.memories.add("bob", "Bob's secret plan", "plan")
    h.model.script += [
        Say([], calls=[call("forget", id=7), call("update", id=other.id, content="x"),
                       ToolCall("c3", "remember", None, "Expecting value at char 0"),
                       call("drop_database"), call("recall", query="")]),
        Say(["Sorry."])]
    h.chat.turn("alice", "tidy my memories", hooks=TurnHooks(confirm=lambda q: True))
    errors = [r.content["error"] for r in results(h)]
    assert "No memory [7] was shown" in errors[0]
    assert "id must be an integer" in errors[1]  # a real id is not a handle
    assert "not a JSON object" in errors[2]
    assert "no tool 'drop_database'" in errors[3]
    assert "query is empty" in errors[4]
    assert h.memories.get("bob", other.id).content == "Bob's secret plan"


def test_recall_results_get_handles_the_model_can_use_next() -> None:
    h = home()
    h.memories.add("alice", "Greetings to all", "fact")
    target = h.memories.add("alice", "The user's passport expires in 2031", "fact")
    # The message names the passport, so the prompt's recall puts it first (ref 1) whatever
    # order memories with no evidence at all come in; the recall result reuses that handle.
    h.model.script += [Say([], calls=[call("recall", query="passport expiry", k=3)]),
                       Say([], calls=[call("update", id=1,
                                           content="The user's passport expires in 2032")]),
                       Say(["Updated."])]
    h.chat.turn("alice", "about my passport", hooks=TurnHooks(confirm=lambda q: True))
    found = results(h, 1)[0].content["results"]
    assert [(x["id"], x["content"]) for x in found][0][1].startswith("The user's passport")
    assert h.memories.get("alice", target.id).content.endswith("2032")


def test_off_the_record_the_model_may_only_look_things_up() -> None:
    h = home(Say(["nothing kept"]))
    h.chat.turn("alice", "secret plans", hooks=TurnHooks(incognito=True))
    assert h.model.tools_seen == [["recall"]]


def test_a_model_that_keeps_calling_tools_is_stopped() -> None:
    h = home(*[Say(["."], calls=[call("recall", query="x")]) for _ in range(4)])
    r = h.chat.turn("alice", "loop")
    assert len(h.model.calls) == 4 and r.reply == "...."
    assert h.model.script == []


@pytest.mark.parametrize("model_tools", [False])
def test_tools_can_be_turned_off(model_tools: bool) -> None:
    h = FakeHome(model=ScriptedModel([Say(["hi"])]),
                 chat_settings=ChatSettings(model_tools=model_tools))
    h.chat.turn("alice", "hello")
    assert h.model.tools_seen == [[]]
