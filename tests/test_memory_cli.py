"""Memory that learns through the real CLI and a scripted OpenAI-compatible server over HTTP:
distil after a turn, history, log, undo, --as-of, list --all, the queue and its retry,
distilling the backlog, incognito, redaction, memory tokens in `pai usage`."""

from __future__ import annotations

import json

import pytest
from conftest import pai
from fakes.openai_server import Reply, openai_fake


def memories(*facts: dict) -> Reply:
    return Reply([json.dumps({"memories": list(facts)})], usage=(350, 25))


def fact(text: str, action: str = "add", target: int | None = None, **kw) -> dict:
    return {"text": text, "category": kw.get("category", "fact"), "importance": 3,
            "valid_from": kw.get("valid_from"), "action": action, "target": target}


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch):
    def use(url: str) -> None:
        monkeypatch.setenv("PAI_PROVIDER", "openai")
        monkeypatch.setenv("PAI_BASE_URL", url + "/v1")
        monkeypatch.setenv("PAI_MODEL", "tiny-model")
    return use


def js(*args: str) -> object:
    r = pai(*args, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_a_turn_is_distilled_superseded_and_undone_from_the_cli(model) -> None:
    with openai_fake(Reply(["Lovely."]), Reply(["Congratulations!"])) as (fake, server):
        fake.memory_script = [
            memories(fact("The user lives in Lisbon.", valid_from="2025-01-10")),
            memories(fact("The user lives in Porto.", "supersede", 1, valid_from="2026-06-01")),
        ]
        model(server.url)
        assert pai("chat", "-m", "I live in Lisbon").code == 0
        assert pai("chat", "-m", "I moved to Porto in June").code == 0
        assert len(fake.memory_calls) == 2 and fake.memory_script == []
    listed = js("memory", "list")
    assert [m["content"] for m in listed] == ["The user lives in Porto."]
    everything = js("memory", "list", "--all")
    lisbon = next(m for m in everything if m["content"] == "The user lives in Lisbon.")
    assert lisbon["status"] == "superseded" and lisbon["superseded_by"] == listed[0]["id"]
    then = js("search", "where does the user live", "--as-of", "2026-03-01", "--min-score", "0")
    assert [h["content"] for h in then] == ["The user lives in Lisbon."]
    now = js("search", "where does the user live", "--min-score", "0")
    assert [h["content"] for h in now] == ["The user lives in Porto."]

    history = js("memory", "history", lisbon["id"][:12])
    assert [e["kind"] for e in history["events"]] == ["created", "superseded"]
    assert history["events"][0]["actor"] == "extraction"
    log = js("memory", "log", "--since", "1h")
    superseded = next(e for e in log if e["kind"] == "superseded")
    undone = js("memory", "undo", superseded["id"][:12])
    assert sorted(e["kind"] for e in undone) == ["forgotten", "restored"]
    assert [m["content"] for m in js("memory", "list")] == ["The user lives in Lisbon."]
    again = pai("memory", "undo", superseded["id"])
    assert again.code == 1 and "already undone" in again.err


def test_bad_model_output_waits_in_the_queue_and_retry_writes_it(model) -> None:
    with openai_fake(Reply(["Nice."])) as (fake, server):
        fake.memory_script = [Reply(["Sorry, I cannot do that."]),
                              memories(fact("The user plays the cello."))]
        model(server.url)
        assert pai("chat", "-m", "I play the cello").code == 0  # the reply is not held up
        queue = js("memory", "queue")
        assert len(queue) == 1 and queue[0]["tries"] == 1
        assert "bad model output" in queue[0]["last_error"]
        assert js("memory", "list") == []
        r = pai("memory", "queue", "retry", "--all")
        assert r.code == 0 and "1 memories written" in r.err, r.err
    assert [m["content"] for m in js("memory", "list")] == ["The user plays the cello."]
    assert js("memory", "queue") == []
    assert pai("memory", "queue", "retry", "999").code == 1


def test_recall_only_backlog_is_distilled_once_a_model_is_configured(model) -> None:
    assert pai("chat", "-m", "My brother Tom lives in Oslo").code == 0  # no model yet
    (verbatim,) = js("memory", "list")
    assert verbatim["origin"] == "message" and verbatim["processed"] is False
    assert pai("memory", "distill").code == 3  # needs a model, and says so
    with openai_fake() as (fake, server):
        fake.memory_script = [memories(fact("The user's brother Tom lives in Oslo.",
                                            category="person")),
                              memories(fact("The user's brother Tom lives in Oslo.",
                                            category="person"))]
        model(server.url)
        dry = js("memory", "distill", "--dry-run")
        assert dry["messages"] == 1 and dry["planned"][0]["decisions"][0]["action"] == "add"
        assert [m["content"] for m in js("memory", "list")] == ["My brother Tom lives in Oslo"]
        done = js("memory", "distill")
        assert done["written"] == 1
        assert js("memory", "distill")["messages"] == 0  # resumable: nothing left
    assert [m["content"] for m in js("memory", "list")] == ["The user's brother Tom lives in Oslo."]


def test_incognito_and_redaction_from_the_cli(model) -> None:
    with openai_fake(Reply(["Noted, off the record."]), Reply(["Understood."])) as (fake, server):
        model(server.url)
        r = pai("chat", "--incognito", "-m", "I am planning a surprise party for Sam")
        assert r.code == 0 and "off the record" in r.out
        assert js("conversations", "list") == [] and fake.memory_calls == []
        r = pai("chat", "-m", "my card is 4111 1111 1111 1111, remember it", "--json")
        assert r.code == 0
        turn = json.loads(r.out)
        assert turn["redacted"] == ["card number"] and "Redacted" in r.err
        sent = json.dumps(fake.memory_calls + [s.json() for s in server.seen
                                               if s.method == "POST"])
        assert "4111" not in sent
    stored = json.dumps(js("conversations", "show", turn["conversation_id"]))
    assert "4111" not in stored and "[redacted card number]" in stored


def test_memory_tokens_are_shown_apart_in_usage(model) -> None:
    with openai_fake(Reply(["Great."], usage=(40, 2))) as (fake, server):
        fake.memory_script = [memories(fact("The user runs on Sundays."))]
        model(server.url)
        assert pai("chat", "-m", "I run every Sunday").code == 0
    usage = js("usage")
    by = {(m["model"], m["purpose"]): m for m in usage["models"]}
    assert by[("tiny-model", "chat")]["input_tokens"] == 40
    assert by[("tiny-model", "memory")]["input_tokens"] == 350
    table = pai("usage")
    assert "memory" in table.out and "chat" in table.out


def test_forget_what_i_told_you_about_my_old_job_over_http(model) -> None:
    """The model's forget tool over the real OpenAI wire format: refused from -m (no one to
    ask), done with the user's yes in the REPL's question, and undoable. (The request names
    the job: MiniLM puts "forget what I told you about my old job" at a cosine of 0.09 from
    the memory, too far to be recalled, so there a model would search first.)"""
    from fakes.openai_server import split_call

    from pai_cli.cli.chat import run_turn
    from pai_cli.cli.output import Out
    from pai_cli.config import load_settings
    from pai_cli.wiring import Wiring

    job = js("memory", "add", "The user works at Initech as a tester", "-c", "work", "--no-pin")
    forget = Reply([], tool_chunks=split_call(0, "call_1", "forget", ['{"id"', ': 1}']))
    with openai_fake(forget, Reply(["I can't do that from here."]), forget,
                     Reply(["Done, forgotten."])) as (fake, server):
        model(server.url)
        r = pai("chat", "-m", "forget that I work as a tester", "--json")
        assert r.code == 0, r.err
        turn = json.loads(r.out)
        assert turn["tool_calls"][0]["ok"] is False and "refused" in turn["tool_calls"][0][
            "summary"]
        assert js("memory", "show", job["id"])["status"] == "active"
        sent = fake.chat_calls[1]["messages"]
        assert sent[-1]["role"] == "tool" and "no one can be asked" in sent[-1]["content"]
        # The REPL's turn, with a yes to its question.
        w = Wiring(load_settings("alice"))
        import io

        out = Out("text", stdout=io.StringIO(), stderr=io.StringIO())
        asked: list[str] = []
        run_turn(w.chat, out, "alice", "forget that I work as a tester", None,
                 confirm=lambda q: asked.append(q) or True)
        w.close()
        assert asked == ["pai wants to forget 'The user works at Initech as a tester'. Allow?"]
        assert "[memory] forget 'The user works at Initech as a tester': done" in \
            out.stderr.getvalue()
        assert out.stdout.getvalue().strip() == "Done, forgotten."
    assert js("memory", "list") == []
    event = next(e for e in js("memory", "log") if e["kind"] == "forgotten")
    assert event["actor"] == "tool"
    assert pai("memory", "undo", event["id"]).code == 0
    assert [m["id"] for m in js("memory", "list")] == [job["id"]]
