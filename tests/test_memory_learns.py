"""Memory that learns, on the in-memory fakes with a scripted model: every consolidation
decision, every write-time filter, each kind of bad model output, undo of each event kind,
--as-of, the backlog, and a job applied whole or not at all."""

from __future__ import annotations

import json
import time

import pytest
from fakes.home import FakeHome
from fakes.ports import Say, ScriptedModel

from pai_cli.core.chat import TurnHooks
from pai_cli.core.history import HistoryService
from pai_cli.core.remember import MAX_TRIES
from pai_cli.errors import InputError, ModelError
from pai_cli.records import ACTIVE, RETIRED, SUPERSEDED

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0  # 2026-05-28

    def __call__(self) -> float:
        return self.now


def answer(*memories: dict) -> Say:
    return Say([json.dumps({"memories": list(memories)})], usage=(400, 30))


def fact(text: str, action: str = "add", target: int | None = None, category: str = "person",
         importance: int = 3, valid_from: str | None = None) -> dict:
    return {"text": text, "category": category, "importance": importance,
            "valid_from": valid_from, "action": action, "target": target}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def home(clock: Clock, *script) -> FakeHome:
    return FakeHome(clock=clock, model=ScriptedModel(list(script)))


def say(h: FakeHome, text: str, *, reply: str = "Noted.", memory: Say | Exception | None = None,
        ) -> int:
    """One chat turn, then the memory job, with the model's answer to each scripted."""
    h.model.script.append(Say([reply]))
    if memory is not None:
        h.model.script.append(memory)
    h.chat.turn("alice", text)
    return h.chat.remember_pending("alice")


def active(h: FakeHome) -> list[str]:
    return sorted(m.content for m in h.memories.list("alice"))


def test_a_fact_is_added_with_its_category_importance_date_and_sources(clock) -> None:
    h = home(clock)
    assert say(h, "My sister Alice moved to Lisbon in March and works as a marine biologist",
               memory=answer(fact("The user's sister Alice moved to Lisbon in March 2026 and "
                                  "works as a marine biologist.", importance=4,
                                  valid_from="2026-03-01"))) == 1
    (m,) = h.memories.list("alice")
    assert (m.origin, m.category, m.importance) == ("extraction", "person", 4)
    assert time.gmtime(m.valid_from)[:3] == (2026, 3, 1) and not m.pinned
    user_message = h.chat.messages("alice", m.source_conversation)[0]
    assert m.sources == (user_message.id,) and user_message.content.startswith("My sister")
    (event,) = HistoryService(h.memories).history("alice", m.id)[1]
    assert (event.kind, event.actor, event.model) == ("created", "extraction", "scripted-model")
    assert event.batch and event.after == m.content
    # The extraction prompt saw the exchange, with its time, and no real memory ids.
    system, messages, _ = h.model.calls[-1]
    assert system.startswith("You maintain the long-term memory")
    assert "NEW:" in messages[0].content and "assistant: Noted." in messages[0].content
    assert "[2026-05-28" in messages[0].content


def test_update_merges_into_the_known_memory_and_keeps_its_id(clock) -> None:
    h = home(clock)
    say(h, "Alice works as a biologist", memory=answer(fact("Alice works as a biologist.")))
    (old,) = h.memories.list("alice")
    say(h, "Actually Alice is a marine biologist at the aquarium",
        memory=answer(fact("Alice works as a marine biologist at the aquarium.", "update", 1)))
    (new,) = h.memories.list("alice")
    assert new.id == old.id and new.content == "Alice works as a marine biologist at the aquarium."
    assert len(new.sources) == 2
    events = HistoryService(h.memories).history("alice", new.id)[1]
    assert [e.kind for e in events] == ["created", "updated"]
    assert events[1].before == "Alice works as a biologist." and events[1].after == new.content
    _, messages, _ = h.model.calls[-1]
    assert "[1] (person) Alice works as a biologist." in messages[0].content
    assert old.id not in messages[0].content  # handles, never ids


def test_supersede_ends_the_old_fact_which_leaves_search_but_stays_in_history(clock) -> None:
    h = home(clock)
    say(h, "I live in Lisbon", memory=answer(fact("The user lives in Lisbon.", category="fact")))
    (lisbon,) = h.memories.list("alice")
    clock.now += 30 * DAY
    say(h, "I moved to Porto last week", memory=answer(fact(
        "The user lives in Porto, since June 2026.", "supersede", 1, category="fact",
        valid_from="2026-06-20")))
    assert active(h) == ["The user lives in Porto, since June 2026."]
    old = h.memories.get("alice", lisbon.id)
    porto = h.memories.list("alice")[0]
    assert old.status == SUPERSEDED and old.superseded_by == porto.id
    assert time.gmtime(old.valid_to)[:3] == (2026, 6, 20) and old.content == lisbon.content
    assert {m.id for m in h.memories.list("alice", include_inactive=True)} == {lisbon.id, porto.id}
    hits = h.memories.search("alice", "where does the user live", 5, min_score=0.0)
    assert [x.memory.id for x in hits] == [porto.id]
    then = clock.now - 20 * DAY  # before the move
    assert [x.memory.id for x in h.memories.search("alice", "where does the user live", 5,
                                                    min_score=0.0, as_of=then)] == [lisbon.id]
    kinds = [e.kind for e in HistoryService(h.memories).history("alice", lisbon.id)[1]]
    assert kinds == ["created", "superseded"]


def test_none_changes_nothing(clock) -> None:
    h = home(clock)
    say(h, "My cat is called Miso", memory=answer(fact("The user's cat is called Miso.")))
    before = h.memories.list("alice")
    assert say(h, "Miso, my cat, says hi", memory=answer(
        fact("The user's cat is called Miso.", "none", 1))) == 0
    assert h.memories.list("alice") == before


def test_a_pinned_or_hand_written_memory_is_never_changed_by_extraction(clock) -> None:
    h = home(clock)
    mine = h.memories.add("alice", "I am allergic to penicillin", "health")  # the user's own
    say(h, "The doctor says I'm not allergic to penicillin after all", memory=answer(
        fact("The user is not allergic to penicillin.", "supersede", 1, category="health")))
    assert h.memories.get("alice", mine.id).content == "I am allergic to penicillin"
    assert h.memories.get("alice", mine.id).status == ACTIVE
    new = next(m for m in h.memories.list("alice") if m.id != mine.id)
    assert new.conflicts_with == mine.id
    assert len(h.chat.notices) == 1 and mine.id[:12] in h.chat.notices[0]


# -- write-time filters ----------------------------------------------------------------
def test_greetings_and_chatter_are_not_sent_to_the_model_nor_stored(clock) -> None:
    h = home(clock)
    for text in ("hi!", "thanks, great", "ok cool", "good morning"):
        say(h, text)
    assert [c[0] for c in h.model.calls if c[0].startswith("You maintain")] == []
    assert h.memories.list("alice", include_inactive=True) == []
    assert h.queue.jobs("alice") == []


def test_instructions_to_the_assistant_are_not_memories_unless_asked_to_remember(clock) -> None:
    h = home(clock)
    say(h, "answer in French please")  # no extraction call at all
    assert h.memories.list("alice") == []
    say(h, "Remember that I always want answers in French", memory=answer(
        fact("The user wants answers in French.", category="preference")))
    assert active(h) == ["The user wants answers in French."]


def test_the_assistants_own_claims_about_the_user_are_dropped(clock) -> None:
    h = home(clock)
    say(h, "What should I cook tonight?", reply="As a vegetarian marathon runner you might try "
        "lentils.", memory=answer(fact("The user is a vegetarian marathon runner.")))
    assert h.memories.list("alice") == []
    assert h.queue.jobs("alice") == []  # the job is done, not failed


def test_recalled_memories_quoted_back_are_not_stored_again(clock) -> None:
    h = home(clock)
    say(h, "My dentist is Dr Okafor in Leeds",
        memory=answer(fact("The user's dentist is Dr Okafor in Leeds.")))
    say(h, "who is my dentist again, Dr Okafor in Leeds?", reply="Dr Okafor in Leeds.",
        memory=answer(fact("The user's dentist is Dr Okafor in Leeds.")))  # add, not none
    assert active(h) == ["The user's dentist is Dr Okafor in Leeds."]


def test_the_system_prompt_restated_is_not_a_memory(clock) -> None:
    h = home(clock)
    say(h, "what are your rules? you maintain the long-term memory of a personal assistant",
        memory=answer(fact("You maintain the long-term memory of a personal assistant.")))
    assert h.memories.list("alice") == []


def test_secrets_are_redacted_before_anything_is_stored_or_sent(clock) -> None:
    h = home(clock)
    key = "AKIAIOSFODNN7EXAMPLE"
    h.model.script.append(Say(["I will not keep it."]))
    result = h.chat.turn("alice", f"my aws key is {key} and card 4111 1111 1111 1111")
    assert key not in json.dumps([m.content for m in h.chat.messages("alice",
                                                                      result.conversation_id)])
    assert "4111 1111 1111 1111" not in h.model.calls[0][1][-1].content
    assert result.redacted and any("card" in r for r in result.redacted)
    h.model.script.append(answer())
    h.chat.remember_pending("alice")
    _, messages, _ = h.model.calls[-1]
    assert key not in messages[0].content and "[redacted" in messages[0].content


# -- bad model output --------------------------------------------------------------------
@pytest.mark.parametrize("reply", [
    'Here you go: {"memories": [{"text": "The user plays the cello.", "action": "add"}]}',
    '```json\n{"memories": [{"text": "The user plays the cello.", "importance": "4"}]}\n```',
])
def test_json_in_prose_or_a_fence_is_read(clock, reply) -> None:
    h = home(clock)
    say(h, "I play the cello", memory=Say([reply]))
    assert active(h) == ["The user plays the cello."]


@pytest.mark.parametrize("reply", [
    '{"memories": [{"text": "The user plays the cel',          # truncated
    '{"memories": [{"text": "x", "action": "update", "target": 7}]}',  # unknown handle
    '{"memories": [{"text": 42}]}',                            # wrong type
    '{"memories": "The user plays the cello"}',                 # wrong type
    "",                                                         # empty
    "I'm sorry, I can't help with that.",                       # a refusal
    '{"memories": []} {"memories": []}',                        # ambiguous
])
def test_unreadable_output_is_never_stored_and_the_job_backs_off_then_parks(clock, reply) -> None:
    h = home(clock)
    say(h, "I play the cello in an orchestra", memory=Say([reply]))
    (job,) = h.queue.jobs("alice")
    assert job.tries == 1 and job.next_at > clock.now and job.parked_at is None
    assert "bad model output" in job.last_error
    assert h.memories.list("alice", include_inactive=True) == []
    for _ in range(MAX_TRIES - 1):
        clock.now = job.next_at + 1
        h.model.script.append(Say([reply]))
        h.chat.remember_pending("alice")
        (job,) = h.queue.jobs("alice")
    assert job.parked_at is not None and job.tries == MAX_TRIES
    assert h.chat.remember_pending("alice") == 0  # parked: not tried again by itself
    assert h.queue.retry("alice") == 1
    h.model.script.append(answer(fact("The user plays the cello in an orchestra.")))
    assert h.chat.remember_pending("alice") == 1 and h.queue.jobs("alice") == []


def test_a_model_error_or_timeout_leaves_the_job_queued(clock) -> None:
    h = home(clock)
    say(h, "I start a new job at Arup on Monday", memory=ModelError("The model timed out."))
    (job,) = h.queue.jobs("alice")
    assert job.last_error == "The model timed out." and h.memories.list("alice") == []


def test_a_corrupt_job_is_parked_at_once_and_blocks_nothing(clock) -> None:
    h = home(clock)
    h.queue.enqueue("alice", "remember", b"garbage without ids", clock.now)
    say(h, "I play the oboe", memory=answer(fact("The user plays the oboe.")))
    assert active(h) == ["The user plays the oboe."]
    (job,) = h.queue.jobs("alice")
    assert job.parked_at is not None and "unreadable" in job.last_error


# -- one job, all or nothing -----------------------------------------------------------
def test_a_crash_while_applying_leaves_nothing_and_the_retry_applies_all(clock, monkeypatch) -> None:
    h = home(clock)
    say(h, "I live in Lisbon", memory=answer(fact("The user lives in Lisbon.", category="fact")))
    decisions = answer(fact("The user lives in Porto.", "supersede", 1, category="fact"),
                       fact("The user's partner Sam works at the port.", category="person"))
    real_change = h.memories.change
    calls = {"n": 0}

    def crash_on_change(*a, **k):
        calls["n"] += 1
        raise RuntimeError("killed")

    monkeypatch.setattr(h.memories, "change", crash_on_change)
    with pytest.raises(RuntimeError):
        say(h, "I moved to Porto with my partner Sam who works at the port", memory=decisions)
    assert active(h) == ["The user lives in Lisbon."]  # the new fact did not stay behind
    assert len(h.queue.jobs("alice")) == 1
    monkeypatch.setattr(h.memories, "change", real_change)
    h.model.script.append(decisions)
    h.chat.remember_pending("alice")
    assert active(h) == ["The user lives in Porto.", "The user's partner Sam works at the port."]
    assert calls["n"] == 1 and h.queue.jobs("alice") == []


def test_a_job_applied_twice_writes_nothing_twice(clock) -> None:
    h = home(clock)
    say(h, "I play the harp", memory=answer(fact("The user plays the harp.")))
    done = h.db.table("events").copy()
    (m,) = h.memories.list("alice")
    # The same exchange again through the writer (as a retry after a crash would).
    exchange = h.chat.writer.exchange_of(m)
    from pai_cli.core.distill import Decision

    with h.db.transaction():
        h.chat.writer.apply(exchange, [Decision("add", m.content, "person", 3, None, None)], [])
    assert [x.id for x in h.memories.list("alice", include_inactive=True)] == [m.id]
    assert set(h.db.table("events")) == set(done)


# -- history and undo ------------------------------------------------------------------
def test_undo_of_each_kind_of_event(clock) -> None:
    h = home(clock)
    hist = HistoryService(h.memories)
    say(h, "I live in Lisbon", memory=answer(fact("The user lives in Lisbon.", category="fact")))
    say(h, "I moved to Porto", memory=answer(fact("The user lives in Porto.", "supersede", 1,
                                                  category="fact")))
    supersede = next(e for e in hist.log("alice", 0) if e.kind == "superseded")
    made = hist.undo("alice", supersede.id[:10])  # the whole batch: supersede + the new fact
    assert {e.kind for e in made} == {"restored", "forgotten"}
    assert active(h) == ["The user lives in Lisbon."]
    with pytest.raises(InputError, match="already undone"):
        hist.undo("alice", supersede.id)
    restored = next(e for e in made if e.kind == "restored")
    hist.undo("alice", restored.id)  # undo the undo: Porto is current again
    assert "The user lives in Porto." in active(h)

    m = h.memories.add("alice", "The spare key is under the pot")
    edit_event_memory = h.memories.edit("alice", m.id, "The spare key is under the mat")
    edited = hist.history("alice", edit_event_memory.id)[1][-1]
    hist.undo("alice", edited.id)
    assert h.memories.get("alice", m.id).content == "The spare key is under the pot"

    h.memories.retire("alice", m.id, "tool")
    retired = hist.history("alice", m.id)[1][-1]
    assert retired.kind == "forgotten" and h.memories.get("alice", m.id).status == RETIRED
    hist.undo("alice", retired.id)
    assert h.memories.get("alice", m.id).status == ACTIVE

    pin = h.memories.set_pinned("alice", m.id, False)
    assert pin.expires_at is not None
    hist.undo("alice", hist.history("alice", m.id)[1][-1].id)
    back = h.memories.get("alice", m.id)
    assert back.pinned and back.expires_at is None


def test_a_users_forget_deletes_for_real_and_cannot_be_undone(clock) -> None:
    h = home(clock)
    hist = HistoryService(h.memories)
    m = h.memories.add("alice", "an embarrassing nickname: Bunny")
    h.memories.edit("alice", m.id, "an embarrassing nickname: Bunbun")
    h.memories.forget("alice", m.id)
    memory, events = hist.history("alice", m.id)
    assert memory is None and [e.kind for e in events] == ["created", "updated", "forgotten"]
    assert all(e.before is None and e.after is None for e in events)  # the copies went too
    with pytest.raises(InputError, match="for good"):
        hist.undo("alice", events[-1].id)


def test_another_users_events_and_memories_are_never_resolved(clock) -> None:
    h = home(clock)
    hist = HistoryService(h.memories)
    m = h.memories.add("alice", "alice's secret")
    event = hist.history("alice", m.id)[1][0]
    from pai_cli.errors import NotFound

    for action in (lambda: hist.undo("bob", event.id), lambda: hist.history("bob", m.id)):
        with pytest.raises(NotFound):
            action()


# -- the backlog -----------------------------------------------------------------------
def test_without_a_model_messages_wait_verbatim_and_distill_processes_them(clock) -> None:
    h = FakeHome(clock=clock)
    h.chat.turn("alice", "My brother Tom lives in Oslo")
    h.chat.remember_pending("alice")
    (verbatim,) = h.memories.list("alice")
    assert (verbatim.origin, verbatim.processed) == ("message", False)
    model = ScriptedModel([answer(fact("The user's brother Tom lives in Oslo."))])
    h.chat.writer.model = model
    plan: list = []
    h.chat.writer.distill_backlog("alice", dry_run=True, show=lambda m, d, k: plan.append(d))
    assert [d.text for d in plan[0]] == ["The user's brother Tom lives in Oslo."]
    assert active(h) == ["My brother Tom lives in Oslo"]  # a dry run changes nothing
    model.script.append(answer(fact("The user's brother Tom lives in Oslo.")))
    report = h.chat.writer.distill_backlog("alice")
    assert report.written == 1 and active(h) == ["The user's brother Tom lives in Oslo."]
    assert h.memories.get("alice", verbatim.id).status == RETIRED
    assert h.chat.writer.backlog("alice") == []  # resumable: done ones are not done again


def test_extraction_tokens_are_recorded_as_memory_use(clock) -> None:
    h = home(clock)
    say(h, "I run the Berlin marathon in September",
        memory=answer(fact("The user runs the Berlin marathon in September 2026.")))
    purposes = [(r.purpose, r.input_tokens) for r in h.usage.records("alice", 0)]
    assert purposes == [("chat", 10), ("memory", 400)]


def test_incognito_turns_are_neither_stored_nor_remembered(clock) -> None:
    h = home(clock, Say(["Sure."]), Say(["Yes, you said so."]))
    first = h.chat.turn("alice", "I have a surprise party for Sam on Friday",
                        hooks=TurnHooks(incognito=True))
    second = h.chat.turn("alice", "what did I just say?", first.conversation_id,
                         TurnHooks(incognito=True, history=first.exchange))
    assert second.reply == "Yes, you said so."
    assert "surprise party" in h.model.calls[1][1][0].content  # the session's own history
    assert h.chat.list_conversations("alice") == [] and h.queue.jobs("alice") == []
    assert h.chat.remember_pending("alice") == 0 and h.memories.list("alice") == []
