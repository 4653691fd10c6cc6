"""The memory tools as the chat model sees them: short integer handles instead of ids, and
the confirmation rule for the tools that change or remove a memory.

The tool definitions are pai_cli/core/tools.py's, the same the MCP server serves; only how
memories are named differs. A handle is a number the model was shown in this turn (the
recalled memories are [1]..[n], and each recall result gets the next numbers), so a model
can name no memory it was not shown, and no other user's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pai_cli.core.events import new_batch_id
from pai_cli.core.memory_service import MemoryService
from pai_cli.core.tools import MemoryTools
from pai_cli.errors import InputError, PaiError
from pai_cli.records import ToolCall, ToolResult, ToolSpec

FOR_THE_MODEL = ("remember", "recall", "update", "forget")
"""What the chat model may call (listing and reading by id are for MCP clients)."""
MAX_ROUNDS = 4
"""Tool rounds in one turn before the model must answer."""


class Handles:
    schema: dict[str, Any] = {
        "type": "integer", "minimum": 1, "maximum": 1000,
        "description": "The ref number of a memory shown in this conversation "
                       "(<memory ref=...> or a recall result).",
    }

    def __init__(self, memory_ids: list[str]) -> None:
        self._ids: list[str] = []
        for memory_id in memory_ids:
            self.name(memory_id)

    def resolve(self, ref: Any) -> str:
        n = ref if isinstance(ref, int) else int(ref) if str(ref).strip().isdigit() else 0
        if not 1 <= n <= len(self._ids):
            raise InputError(f"No memory [{ref}] was shown in this conversation: use a ref "
                             "from the memories or a recall result.")
        return self._ids[n - 1]

    def name(self, memory_id: str) -> int:
        if memory_id not in self._ids:
            self._ids.append(memory_id)
        return self._ids.index(memory_id) + 1


@dataclass(frozen=True)
class Outcome:
    result: ToolResult
    line: str
    """What the user is shown of this call, in one line."""


class ModelTools:
    """One turn's tools: the user is fixed, handles start at the recalled memories."""

    def __init__(self, memories: MemoryService, user_id: str, recalled_ids: list[str],
                 read_only: bool = False) -> None:
        self.handles = Handles(recalled_ids)
        self.tools = MemoryTools(memories, user_id, self.handles, batch=new_batch_id())
        self.read_only = read_only

    def specs(self) -> list[ToolSpec]:
        return [ToolSpec(t.name, t.description, t.input_schema)
                for t in self.tools.definitions() if t.name in FOR_THE_MODEL
                and (t.hints.read_only or not self.read_only)]

    def run(self, call: ToolCall, confirm: Callable[[str], bool] | None,
            allow_unasked: bool) -> Outcome:
        """Run one call. Destructive ones (update, forget) need a yes from the user; where
        no one can be asked they are refused (and the model told so) unless the settings
        allow them. Errors go back to the model as error results, never raised."""
        allowed = {s.name for s in self.specs()}
        if call.name not in allowed:
            return self._error(call, f"There is no tool {call.name!r} here; use one of "
                               f"{', '.join(sorted(allowed))}.")
        if call.arguments is None:
            return self._error(call, f"The arguments were not a JSON object ({call.error}).")
        tool = self.tools.get(call.name)
        what = self._describe(call)
        if tool.hints.destructive:
            if confirm is None and not allow_unasked:
                return self._error(call, "Refused: changing or forgetting a memory needs the "
                                   "user's yes, and no one can be asked here. Tell the user "
                                   "to do it with `pai memory` instead.", what + " (refused)")
            if confirm is not None and not confirm(f"pai wants to {what}. Allow?"):
                return self._error(call, "The user said no: leave the memory as it is.",
                                   what + " (declined)")
        try:
            content = self.tools.call(call.name, call.arguments)
        except PaiError as e:
            return self._error(call, e.message, f"{what} failed: {e.message}")
        return Outcome(ToolResult(call.id, content), what + self._after(call.name, content))

    def _error(self, call: ToolCall, message: str, line: str | None = None) -> Outcome:
        return Outcome(ToolResult(call.id, {"error": message}, is_error=True),
                       line or f"{call.name} refused: {message}")

    def _describe(self, call: ToolCall) -> str:
        a = call.arguments or {}
        if call.name == "remember":
            return f"remember {a.get('content', '')!r}"
        if call.name == "recall":
            return f"recall {a.get('query', '')!r}"
        try:
            memory = self.tools.memories.get(self.tools.user_id, self.handles.resolve(a.get("id")))
            shown = repr(memory.content[:60])
        except PaiError:
            shown = f"[{a.get('id')}]"
        if call.name == "update":
            return f"update {shown} to {a.get('content', '')!r}"
        return f"forget {shown}"

    @staticmethod
    def _after(name: str, content: dict[str, Any]) -> str:
        if name == "recall":
            return f": {content.get('count', 0)} found"
        return ": done"
