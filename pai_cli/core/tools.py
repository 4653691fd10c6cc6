"""The memory tools a model may call: one definition for every caller.

MCP clients (`pai mcp`, pai_cli/mcp) and pai's own chat model (Bedrock `toolConfig`, OpenAI
function calling) act on memory through the same tools: each has a name, a description a
model can act on, a JSON Schema for its arguments and one for its result, hints (read-only,
destructive, idempotent) and an executor that checks the arguments and calls MemoryService.
The adapters only translate: the MCP server registers these with its SDK, a chat model
adapter would put `input_schema` into its request and feed `call()`'s result back.

How a memory is named is the caller's choice, through a `References` resolver: over MCP,
pai's own ids (or unique prefixes); in a model prompt, short integer handles, so a model can
only name a memory it was shown, never another user's. The user is fixed when the tools are
made: no tool takes a user argument (an unknown argument is refused), and every id resolves
within that user only.

Arguments are untrusted (model output, a client's JSON): `call()` checks them against the
tool's own schema before anything runs and answers a bad one with a one-line InputError
that says what to send instead; a write that fails leaves nothing behind (each service call
is one transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pai_cli.core.memory_service import MemoryService
from pai_cli.core.tool_args import check_arguments
from pai_cli.errors import InputError, NotFound
from pai_cli.records import RETIRED, Memory, SearchHit, iso

RECALL_K_MAX = 50
"""A model asking for more than this wants a listing, not a search; and results are prompt tokens."""
LIST_LIMIT_MAX = 200
LIST_LIMIT_DEFAULT = 20


@dataclass(frozen=True)
class Hints:
    """What a tool does to the user's memory, for clients that ask before acting
    (MCP's ToolAnnotations; the REPL's y/N before a model's update or forget)."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = False
    """pai's memory is a closed world: no tool reaches anything outside it."""


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    hints: Hints
    run: Callable[[dict[str, Any]], dict[str, Any]]
    """Checked arguments (defaults filled in) -> a result matching output_schema."""


class References(Protocol):
    """How a tool's caller names memories."""

    schema: dict[str, Any]
    """The JSON Schema of one reference, as it appears in a tool's arguments and results."""

    def resolve(self, ref: Any) -> str:
        """The pai id of the memory the caller named, within the tools' user; raises
        InputError (or NotFound) when it names none, or more than one."""
        ...

    def name(self, memory_id: str) -> Any:
        """What the caller sees for this memory in a result (it may name it from then on)."""
        ...


class PaiIds:
    """References for MCP: pai's own ids (`mem-...`), or a unique prefix of at least 4
    characters after `mem-` (the prefix may leave out `mem-`), within one user."""

    schema: dict[str, Any] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "description": "A memory id from recall or list_memories (mem-...), or a unique "
                       "prefix of it (at least 4 characters after mem-).",
    }

    def __init__(self, memories: MemoryService, user_id: str) -> None:
        self._memories = memories
        self._user = user_id

    def resolve(self, ref: Any) -> str:
        wanted = str(ref).strip()
        try:
            return self._memories.resolve(self._user, wanted)
        except NotFound as first:
            if wanted.startswith("mem-"):
                raise
            # Models often drop the prefix they were shown ("3f2a..." for "mem-3f2a...").
            try:
                return self._memories.resolve(self._user, f"mem-{wanted}")
            except NotFound:
                raise first from None

    def name(self, memory_id: str) -> str:
        return memory_id


def _date(value: str) -> float:
    from datetime import UTC, datetime, timedelta

    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"as_of {value!r} is not a date: use YYYY-MM-DD.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if len(value.strip()) == 10:  # a day: what held on that day
        parsed += timedelta(days=1, seconds=-1)
    return parsed.timestamp()


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


_CATEGORY = {
    "type": "string", "minLength": 1, "maxLength": 40,
    "description": "A category: 1-40 letters, digits, '-', '_' or '.' (e.g. preference, "
                   "person, work, health, plan). Lowercased.",
}


class MemoryTools:
    """The tools over one user's memories. Build it per caller: the user and the way
    memories are named (`refs`) are fixed for its life."""

    def __init__(self, memories: MemoryService, user_id: str,
                 refs: References | None = None, batch: str | None = None) -> None:
        self.memories = memories
        self.user_id = user_id
        self.batch = batch
        """The events of one chat turn's tool calls share a batch (undone together)."""
        self.refs: References = refs or PaiIds(memories, user_id)
        self._tools = {t.name: t for t in self._define()}

    def definitions(self) -> list[Tool]:
        return list(self._tools.values())

    def get(self, name: str) -> Tool:
        tool = self._tools.get(name)
        if tool is None:
            raise InputError(f"Unknown tool {name!r}: pai's tools are {', '.join(self._tools)}.")
        return tool

    def call(self, name: str, arguments: Any) -> dict[str, Any]:
        """Check the arguments, then run the tool. Raises PaiError with a one-line message
        (bad arguments: InputError, before anything is written)."""
        tool = self.get(name)
        return tool.run(check_arguments(name, tool.input_schema, arguments))

    # -- results -----------------------------------------------------------------------
    def _memory_schema(self) -> dict[str, Any]:
        date = {"type": "string", "description": "ISO 8601, UTC"}
        return {
            "type": "object",
            "properties": {
                "id": self.refs.schema,
                "content": {"type": "string"},
                "category": {"type": "string"},
                "pinned": {"type": "boolean",
                           "description": "Pinned memories never expire."},
                "created_at": date,
                "updated_at": date,
                "expires_at": {"type": ["string", "null"],
                               "description": "ISO 8601, UTC; null when pinned"},
            },
            "required": ["id", "content", "category", "pinned", "created_at", "updated_at",
                         "expires_at"],
        }

    def _memory(self, m: Memory) -> dict[str, Any]:
        return {
            "id": self.refs.name(m.id),
            "content": m.content,
            "category": m.category,
            "pinned": m.pinned,
            "created_at": iso(m.created_at),
            "updated_at": iso(m.updated_at),
            "expires_at": iso(m.expires_at),
        }

    def _hit(self, h: SearchHit) -> dict[str, Any]:
        out = self._memory(h.memory)
        out["score"] = round(h.score, 6)
        out["similarity"] = None if h.vector_score is None else round(h.vector_score, 4)
        return out

    # -- the tools ---------------------------------------------------------------------
    def _define(self) -> list[Tool]:
        memory = self._memory_schema()
        ref = self.refs.schema
        hit = {
            **memory,
            "properties": {
                **memory["properties"],
                "score": {"type": "number", "description":
                          "Estimated chance (0-1) that the memory is what was asked "
                          "about, from keyword, meaning and date evidence; comparable "
                          "across searches."},
                "similarity": {"type": ["number", "null"], "description":
                               "Cosine similarity of meaning (-1 to 1), null when only "
                               "keywords matched."},
            },
            "required": [*memory["required"], "score", "similarity"],
        }
        listing = _object({"memories": {"type": "array", "items": memory},
                           "count": {"type": "integer"}}, ("memories", "count"))
        return [
            Tool(
                name="recall",
                title="Recall memories",
                description=(
                    "Search what the user has told pai to remember (their long-term memory: "
                    "people, places, preferences, plans, health, work, past conversations). "
                    "Call it before answering anything that may depend on the user's own "
                    "life or earlier conversations. Keyword and meaning search together, "
                    "best match first, with scores and dates; ask in the user's own words."),
                input_schema=_object({
                    "query": {"type": "string", "minLength": 1,
                              "description": "What to look for, in plain words."},
                    "k": {"type": "integer", "minimum": 1, "maximum": RECALL_K_MAX,
                          "default": 5, "description": "How many memories to return."},
                    "category": {**_CATEGORY, "description": "Only this category."},
                    "as_of": {"type": "string", "minLength": 10, "maxLength": 40,
                              "description": "Answer with what held at this date "
                                             "(YYYY-MM-DD), superseded memories included."},
                }, ("query",)),
                output_schema=_object({"results": {"type": "array", "items": hit},
                                       "count": {"type": "integer"}}, ("results", "count")),
                hints=Hints(read_only=True, destructive=False, idempotent=True),
                run=self._recall,
            ),
            Tool(
                name="remember",
                title="Remember a fact",
                description=(
                    "Save one short, self-contained fact about the user so that pai and "
                    "every client can recall it later, e.g. 'Prefers aisle seats on "
                    "flights' or 'Sister Alice lives in Lisbon'. One fact per call, in words "
                    "that make sense without this conversation. Only what the user said or "
                    "asked to keep; never secrets (passwords, keys, card numbers). Check "
                    "with recall first and use update when the fact changed. Unpinned "
                    "memories expire after pai's memory lifetime (365 days by default); "
                    "pin=true keeps one forever."),
                input_schema=_object({
                    "content": {"type": "string", "minLength": 1,
                                "description": "The fact to remember (up to 64 KiB)."},
                    "category": {**_CATEGORY, "description": _CATEGORY["description"]
                                 + " Default: pai's default category."},
                    "pin": {"type": "boolean", "default": False,
                            "description": "Keep it forever (never expires)."},
                }, ("content",)),
                output_schema=memory,
                hints=Hints(read_only=False, destructive=False, idempotent=False),
                run=self._remember,
            ),
            Tool(
                name="get",
                title="Read a memory",
                description="Read one memory in full, by the id recall or list_memories gave.",
                input_schema=_object({"id": ref}, ("id",)),
                output_schema=memory,
                hints=Hints(read_only=True, destructive=False, idempotent=True),
                run=self._get,
            ),
            Tool(
                name="list_memories",
                title="List memories",
                description=(
                    "List the user's memories, most recently made first, optionally of one "
                    "category. For finding something, recall is better."),
                input_schema=_object({
                    "category": {**_CATEGORY, "description": "Only this category."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": LIST_LIMIT_MAX,
                              "default": LIST_LIMIT_DEFAULT,
                              "description": "At most this many."},
                }),
                output_schema=listing,
                hints=Hints(read_only=True, destructive=False, idempotent=True),
                run=self._list,
            ),
            Tool(
                name="update",
                title="Update a memory",
                description=(
                    "Replace the text of one memory when a fact changed or was wrong, e.g. "
                    "'Lives in Porto' for 'Lives in Lisbon'. The old text is overwritten. "
                    "Use the id from recall or list_memories."),
                input_schema=_object({
                    "id": ref,
                    "content": {"type": "string", "minLength": 1,
                                "description": "The new text of the memory."},
                }, ("id", "content")),
                output_schema=memory,
                hints=Hints(read_only=False, destructive=True, idempotent=True),
                run=self._update,
            ),
            Tool(
                name="forget",
                title="Forget a memory",
                description=(
                    "Forget one memory: it leaves recall and listing at once (the user can "
                    "bring it back with `pai memory undo`). Only when the user asks to forget "
                    "something, or a memory is plainly wrong and update does not fit."),
                input_schema=_object({"id": ref}, ("id",)),
                output_schema=_object({"forgotten": ref}, ("forgotten",)),
                hints=Hints(read_only=False, destructive=True, idempotent=True),
                run=self._forget,
            ),
            Tool(
                name="history",
                title="History of a memory",
                description=(
                    "How one memory came to be: when it was made, each change (who made "
                    "it: the user, extraction from a conversation, a tool), and whether it "
                    "was superseded or forgotten."),
                input_schema=_object({"id": ref}, ("id",)),
                output_schema=_object({
                    "events": {"type": "array", "items": {"type": "object"}},
                    "current": {"type": ["string", "null"]},
                    "status": {"type": "string"}}, ("events", "current", "status")),
                hints=Hints(read_only=True, destructive=False, idempotent=True),
                run=self._history,
            ),
        ]

    def _recall(self, a: dict[str, Any]) -> dict[str, Any]:
        as_of = _date(a["as_of"]) if a.get("as_of") else None
        hits = self.memories.search(self.user_id, a["query"], a["k"], a["category"],
                                    as_of=as_of)
        return {"results": [self._hit(h) for h in hits], "count": len(hits)}

    def _remember(self, a: dict[str, Any]) -> dict[str, Any]:
        m = self.memories.add(self.user_id, a["content"], a["category"], pinned=a["pin"],
                              origin="tool", actor="tool", batch=self.batch)
        return self._memory(m)

    def _current(self, ref: Any) -> str:
        """The id a reference names, if that memory is still held (not forgotten)."""
        memory_id = self.refs.resolve(ref)
        if self.memories.get(self.user_id, memory_id).status == RETIRED:
            raise NotFound(f"No memory {ref!r}: it was forgotten (the user can bring it back "
                           "with `pai memory undo`).")
        return memory_id

    def _get(self, a: dict[str, Any]) -> dict[str, Any]:
        return self._memory(self.memories.get(self.user_id, self._current(a["id"])))

    def _list(self, a: dict[str, Any]) -> dict[str, Any]:
        found = self.memories.list(self.user_id, a["category"], a["limit"])
        return {"memories": [self._memory(m) for m in found], "count": len(found)}

    def _update(self, a: dict[str, Any]) -> dict[str, Any]:
        memory_id = self._current(a["id"])
        return self._memory(self.memories.edit(self.user_id, memory_id, a["content"],
                                               actor="tool", batch=self.batch))

    def _forget(self, a: dict[str, Any]) -> dict[str, Any]:
        # A model's forget retires the memory as an event the user can undo; only the user's
        # own `pai memory forget` deletes for good.
        memory = self.memories.retire(self.user_id, self._current(a["id"]), "tool",
                                      batch=self.batch)
        return {"forgotten": self.refs.name(memory.id)}

    def _history(self, a: dict[str, Any]) -> dict[str, Any]:
        from pai_cli.core.history import HistoryService

        memory, events = HistoryService(self.memories).history(self.user_id,
                                                               self.refs.resolve(a["id"]))
        return {"events": [{"kind": e.kind, "by": e.actor, "at": iso(e.at), "before": e.before,
                            "after": e.after} for e in events],
                "current": memory.content if memory else None,
                "status": memory.status if memory else "forgotten"}
