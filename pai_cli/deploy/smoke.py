"""`pai smoke`: is a deployed environment answering, end to end, for a signed caller?

    run(memories, chat, clock=...) -> SmokeReport

Each step is one call through the API client (`--backend api`): a search, a chat turn, and
a memory's round trip (add, recall by search, forget, and a read that must find nothing).
A step that fails is recorded with its one-line error and the next one runs (the steps of
the round trip after a failed add are skipped: there is nothing to recall or forget).
The smoke memory is unpinned and in the category "smoke", so one left behind by a failed
forget expires on its own."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pai_cli.errors import NotFound, PaiError

RECALL_WAIT_S = 30.0
"""How long a memory just added may take to be found: S3 Vectors answers at once, an
OpenSearch Serverless collection makes new documents searchable after a delay."""
RECALL_EVERY_S = 2.0
CHAT_MESSAGE = "pai smoke test: answer with the single word OK."


@dataclass
class Step:
    name: str
    ok: bool
    ms: float
    detail: str


@dataclass
class SmokeReport:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if not s.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "steps": [asdict(s) for s in self.steps]}


def run(memories: Any, chat: Any, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep, recall_wait_s: float = RECALL_WAIT_S,
        user_id: str = "") -> SmokeReport:
    report = SmokeReport()

    def step(name: str, action: Callable[[], str]) -> bool:
        started = clock()
        try:
            detail, ok = action(), True
        except PaiError as e:
            detail, ok = e.message, False
        report.steps.append(Step(name, ok, round((clock() - started) * 1000, 1), detail))
        return ok

    def search() -> str:
        hits = memories.search(user_id, "pai smoke test", 1)
        return f"{len(hits)} result(s)"

    def turn() -> str:
        result = chat.turn(user_id, CHAT_MESSAGE, None, None)
        if result.failure is not None:
            raise result.failure if isinstance(result.failure, PaiError) else PaiError(
                str(result.error or result.failure))
        if not (result.reply or "").strip():
            raise PaiError("The turn came back without a reply"
                           + (f": {result.notice}" if result.notice else "."))
        return f"{len(result.reply)} characters from {result.model or 'the model'}"

    step("search", search)
    step("chat", turn)
    token = f"smoke-{secrets.token_hex(6)}"
    added: dict[str, str] = {}

    def add() -> str:
        memory = memories.add(user_id, f"pai smoke test marker {token}", "smoke", pinned=False)
        added["id"] = memory.id
        return memory.id

    def recall() -> str:
        deadline = clock() + recall_wait_s
        while True:
            hits = memories.search(user_id, f"pai smoke test marker {token}", 5, "smoke")
            if any(h.memory.id == added["id"] for h in hits):
                return f"found among {len(hits)}"
            if clock() >= deadline:
                raise PaiError(f"The memory just added ({added['id']}) was not found by a "
                               f"search within {recall_wait_s:g} s.")
            sleep(RECALL_EVERY_S)

    def forget() -> str:
        return str(memories.forget(user_id, added["id"]))

    def gone() -> str:
        try:
            memories.get(user_id, added["id"])
        except NotFound:
            return "not found, as it should be"
        raise PaiError(f"The memory {added['id']} can still be read after it was forgotten.")

    if step("memory add", add):
        step("memory recall", recall)
        if step("memory forget", forget):
            step("memory gone", gone)
    return report
