"""The shared memory tools (pai_cli/core/tools.py) on the in-memory fakes: schemas, argument
checking, results against their own output schemas, isolation, pluggable references."""

from __future__ import annotations

from typing import Any

import pytest
from fakes.home import FakeHome
from jsonschema import Draft202012Validator

from pai_cli.core.tool_args import CHECKED_KEYWORDS, check_arguments
from pai_cli.core.tools import MemoryTools
from pai_cli.errors import InputError, NotFound, PaiError


@pytest.fixture
def home() -> FakeHome:
    return FakeHome()


@pytest.fixture
def tools(home: FakeHome) -> MemoryTools:
    return MemoryTools(home.memories, "alice")


def conforms(tools: MemoryTools, name: str, result: dict[str, Any]) -> dict[str, Any]:
    schema = tools.get(name).output_schema
    errors = list(Draft202012Validator(schema).iter_errors(result))
    assert not errors, errors[0].message
    return result


def test_schemas_are_json_schema_and_only_what_the_checker_checks(tools: MemoryTools) -> None:
    names = [t.name for t in tools.definitions()]
    assert names == ["recall", "remember", "get", "list_memories", "update", "forget",
                     "history"]
    for t in tools.definitions():
        Draft202012Validator.check_schema(t.input_schema)
        Draft202012Validator.check_schema(t.output_schema)
        assert t.input_schema["type"] == "object"
        assert t.input_schema["additionalProperties"] is False
        assert "user" not in t.input_schema["properties"]  # the user is never an argument
        for prop in t.input_schema["properties"].values():
            assert set(prop) <= CHECKED_KEYWORDS, (t.name, set(prop) - CHECKED_KEYWORDS)
            assert prop["type"] in ("string", "integer", "boolean")
            assert prop.get("description")
        assert len(t.description) > 60 and t.title


def test_hints_say_what_each_tool_does(tools: MemoryTools) -> None:
    hints = {t.name: (t.hints.read_only, t.hints.destructive, t.hints.idempotent)
             for t in tools.definitions()}
    assert hints == {
        "recall": (True, False, True), "get": (True, False, True),
        "list_memories": (True, False, True), "remember": (False, False, False),
        "update": (False, True, True), "forget": (False, True, True),
        "history": (True, False, True),
    }


def test_every_tool_end_to_end(tools: MemoryTools, home: FakeHome) -> None:
    made = conforms(tools, "remember", tools.call(
        "remember", {"content": "  Sister Alice lives in Lisbon ", "category": "Person"}))
    assert made["content"] == "Sister Alice lives in Lisbon" and made["category"] == "person"
    assert made["pinned"] is False and made["expires_at"] is not None
    pinned = tools.call("remember", {"content": "Penicillin gives me hives", "pin": True})
    assert pinned["pinned"] is True and pinned["expires_at"] is None
    assert pinned["category"] == "general"

    found = conforms(tools, "recall", tools.call("recall", {"query": "Alice Lisbon", "k": 1}))
    assert found["count"] == 1 and found["results"][0]["id"] == made["id"]
    assert found["results"][0]["score"] > 0 and found["results"][0]["created_at"].endswith("Z")

    assert conforms(tools, "get", tools.call("get", {"id": made["id"]})) == made
    assert tools.call("get", {"id": made["id"][:12]})["id"] == made["id"]  # a prefix
    assert tools.call("get", {"id": made["id"][4:12]})["id"] == made["id"]  # without mem-

    listed = conforms(tools, "list_memories", tools.call("list_memories", {"category": "person"}))
    assert [m["id"] for m in listed["memories"]] == [made["id"]] and listed["count"] == 1
    assert tools.call("list_memories", {"limit": 1})["count"] == 1

    changed = conforms(tools, "update", tools.call(
        "update", {"id": made["id"], "content": "Sister Alice lives in Porto"}))
    assert changed["content"] == "Sister Alice lives in Porto"
    assert home.memories.get("alice", made["id"]).content == "Sister Alice lives in Porto"

    gone = conforms(tools, "forget", tools.call("forget", {"id": made["id"]}))
    assert gone == {"forgotten": made["id"]}
    with pytest.raises(NotFound):
        tools.call("get", {"id": made["id"]})


@pytest.mark.parametrize(("name", "args", "says"), [
    ("recall", {"query": ""}, "query is empty"),
    ("recall", {"query": "   "}, "query is empty"),
    ("recall", {}, "recall needs 'query'"),
    ("recall", {"query": "x", "k": 0}, "k must be an integer from 1 to 50, not 0"),
    ("recall", {"query": "x", "k": 51}, "from 1 to 50, not 51"),
    ("recall", {"query": "x", "k": "5"}, "not the string '5'"),
    ("recall", {"query": "x", "k": True}, "not true"),
    ("recall", {"query": "x", "k": 2.5}, "not the number 2.5"),
    ("recall", {"query": 42}, "query must be a string, not the number 42"),
    ("recall", {"query": "x", "user": "bob"}, "Unknown argument 'user'"),
    ("recall", ["x"], "takes an object of named arguments, not a list"),
    ("recall", {"query": "x", "category": "no spaces allowed"}, "Category"),
    ("remember", {"content": "x", "pin": "yes"}, "pin must be true or false"),
    ("remember", {"content": ["a"]}, "content must be a string, not a list"),
    ("remember", {"content": "x" * 70000}, "the limit is 65,536"),
    ("list_memories", {"limit": 0}, "limit must be an integer from 1 to 200"),
    ("get", {"id": ""}, "id is empty"),
    ("get", {"id": "mem-0000"}, "No memory 'mem-0000'"),
    ("forget", {"id": "ab"}, "No memory 'ab'"),
    ("nope", {}, "Unknown tool 'nope'"),
])
def test_bad_arguments_are_one_line_errors(tools: MemoryTools, name: str, args: Any,
                                           says: str) -> None:
    tools.call("remember", {"content": "Something to keep"})
    with pytest.raises(InputError) as e:
        tools.call(name, args)
    assert says in e.value.message and "\n" not in e.value.message
    assert tools.call("list_memories", {})["count"] == 1  # nothing written, nothing lost


def test_integral_floats_count_as_integers_and_null_means_not_given(tools: MemoryTools) -> None:
    assert check_arguments("recall", tools.get("recall").input_schema,
                           {"query": "x", "k": 3.0, "category": None}) == {
        "query": "x", "k": 3, "category": None, "as_of": None}
    assert check_arguments("list_memories", tools.get("list_memories").input_schema, None) == {
        "category": None, "limit": 20}


def test_a_failed_update_leaves_the_memory_as_it_was(tools: MemoryTools, home: FakeHome) -> None:
    made = tools.call("remember", {"content": "Works at the harbour"})
    with pytest.raises(InputError):
        tools.call("update", {"id": made["id"], "content": " "})
    with pytest.raises(InputError):
        tools.call("update", {"id": made["id"], "content": "x" * 70000})
    assert home.memories.get("alice", made["id"]).content == "Works at the harbour"


def test_another_users_memory_is_never_resolved(home: FakeHome) -> None:
    bob = MemoryTools(home.memories, "bob").call("remember", {"content": "Bob's secret plan"})
    alice = MemoryTools(home.memories, "alice")
    for name, args in (("get", {"id": bob["id"]}), ("update", {"id": bob["id"], "content": "x"}),
                       ("forget", {"id": bob["id"]}), ("get", {"id": bob["id"][:12]})):
        with pytest.raises(NotFound):
            alice.call(name, args)
    assert alice.call("recall", {"query": "secret plan"})["count"] == 0
    assert alice.call("list_memories", {})["count"] == 0
    assert home.memories.get("bob", bob["id"]).content == "Bob's secret plan"


class Handles:
    """References as a model prompt would use them: small integers for the memories the
    model was shown, nothing else (the memory issue's consolidation plugs in like this)."""

    schema = {"type": "integer", "minimum": 1, "description": "A memory's handle."}

    def __init__(self) -> None:
        self.ids: list[str] = []

    def name(self, memory_id: str) -> int:
        if memory_id not in self.ids:
            self.ids.append(memory_id)
        return self.ids.index(memory_id) + 1

    def resolve(self, ref: Any) -> str:
        if not 1 <= ref <= len(self.ids):
            raise NotFound(f"No memory with handle {ref}: use one from the results shown.")
        return self.ids[ref - 1]


def test_references_are_pluggable(home: FakeHome) -> None:
    hidden = home.memories.add("alice", "A memory the model was never shown")
    refs = Handles()
    tools = MemoryTools(home.memories, "alice", refs)
    assert tools.get("get").input_schema["properties"]["id"] == Handles.schema
    made = conforms(tools, "remember", tools.call("remember", {"content": "Likes green tea"}))
    assert made["id"] == 1
    assert tools.call("update", {"id": 1, "content": "Likes jasmine tea"})["id"] == 1
    with pytest.raises(InputError, match="id must be an integer"):
        tools.call("get", {"id": hidden.id})
    with pytest.raises(NotFound):
        tools.call("forget", {"id": 2})
    assert conforms(tools, "forget", tools.call("forget", {"id": 1})) == {"forgotten": 1}
    assert home.memories.get("alice", hidden.id).content.startswith("A memory")


def test_errors_are_pai_errors_with_an_exit_code(tools: MemoryTools) -> None:
    with pytest.raises(PaiError) as e:
        tools.call("get", {"id": "mem-ffff"})
    assert e.value.exit_code == 1


def test_tool_writes_are_events_a_forget_is_undoable_and_history_shows_them(
        home: FakeHome, tools: MemoryTools) -> None:
    from pai_cli.core.history import HistoryService

    made = tools.call("remember", {"content": "Sister Alice lives in Lisbon"})
    tools.call("update", {"id": made["id"], "content": "Sister Alice lives in Porto"})
    tools.call("forget", {"id": made["id"]})
    assert tools.call("list_memories", {})["count"] == 0
    with pytest.raises(NotFound, match="pai memory undo"):
        tools.call("update", {"id": made["id"], "content": "again"})
    history = conforms(tools, "history", tools.call("history", {"id": made["id"]}))
    assert [(e["kind"], e["by"]) for e in history["events"]] == [
        ("created", "tool"), ("updated", "tool"), ("forgotten", "tool")]
    assert history["status"] == "retired"
    hist = HistoryService(home.memories)
    hist.undo("alice", hist.log("alice", 0)[0].id)  # the user takes the forget back
    assert tools.call("get", {"id": made["id"]})["content"] == "Sister Alice lives in Porto"
    assert home.memories.get("alice", made["id"]).origin == "tool"


def test_recall_as_of_answers_with_what_held_then() -> None:
    from dataclasses import replace

    now = [1_780_000_000.0]  # 2026-05-28
    home = FakeHome(clock=lambda: now[0])
    tools = MemoryTools(home.memories, "alice")
    old = home.memories.add("alice", "The user lives in Lisbon", "fact")
    now[0] += 10 * 86400
    new = home.memories.add("alice", "The user lives in Porto", "fact")
    home.memories.change(old, replace(old, status="superseded", superseded_by=new.id,
                                      valid_to=now[0]), "superseded", "extraction")
    later = tools.call("recall", {"query": "where does the user live", "k": 5})
    assert [r["id"] for r in later["results"]] == [new.id]
    then = tools.call("recall", {"query": "where does the user live", "as_of": "2026-06-01"})
    assert [r["id"] for r in then["results"]] == [old.id]
    with pytest.raises(InputError, match="not a date"):
        tools.call("recall", {"query": "x", "as_of": "last summer"})
