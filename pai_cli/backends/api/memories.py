"""The memory commands the HTTP API serves, in the memory service's shape, so `pai search`
and `pai memory list|show|add|forget` run unchanged on `--backend api`.

The user is whoever signed the request: the API decides it (api/identity.py), so the
user_id every method takes is not sent. Secrets are taken out here, before the text leaves
the machine (and again by the server). What the API has no route for fails with one line
(NotServed, exit 3) before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from pai_cli.backends.api import records
from pai_cli.backends.api.client import ApiClient, not_served
from pai_cli.errors import InputError, NotFound
from pai_cli.records import Memory, SearchHit

PAGE = 100
"""The most GET /memories returns at once (api/app.py)."""
MAX_K = 50
"""The most POST /search returns (api/schema.py SearchRequest.k)."""
MIN_PREFIX = 4

_NOT_SERVED = {
    "edit": "pai memory edit", "set_pinned": "pai memory pin/unpin",
    "export": "pai memory export", "import_records": "pai memory import",
    "reindex": "pai memory reindex", "forget_all": "pai memory forget --all",
    "retire": "pai memory undo", "index": "pai memory import", "events": "pai memory history",
    "unreadable": "pai memory export",
}


class ApiMemories:
    def __init__(self, client: ApiClient, redactor: Callable[[str], tuple[str, list[str]]]) -> None:
        self.client = client
        self._redact = redactor
        self.notices: list[str] = []

    def redact(self, content: str) -> tuple[str, list[str]]:
        return self._redact(content)

    def search(self, user_id: str, query: str, k: int = 5, category: str | None = None, *,
               mode: str = "hybrid", min_score: float | None = None,
               as_of: float | None = None) -> list[SearchHit]:
        if mode != "hybrid":
            raise not_served(f"pai search --mode {mode}")
        if as_of is not None:
            raise not_served("pai search --as-of")
        if not 1 <= k <= MAX_K:
            raise InputError(f"Ask for 1 to {MAX_K} results through the API (-n).")
        body: dict[str, Any] = {"query": query, "k": k}
        if category:
            body["category"] = category
        found = [records.hit(h) for h in self.client.call("POST", "/search", body)["results"]]
        # The server leaves out what scores under its floor; a higher one is applied here.
        return [h for h in found if min_score is None or h.score >= min_score]

    def list(self, user_id: str, category: str | None = None, limit: int | None = 50,
             include_inactive: bool = False) -> list[Memory]:
        if include_inactive:
            raise not_served("pai memory list --all")
        wanted = limit if limit is not None else 2**62
        out: list[Memory] = []
        cursor: int | None = 0
        while cursor is not None and len(out) < wanted:
            page = self.client.call("GET", "/memories", params={
                "category": category, "limit": min(PAGE, wanted - len(out)), "cursor": cursor})
            out += [records.memory(m) for m in page.get("memories") or []]
            cursor = page.get("next_cursor")
        return out[:wanted]

    def resolve(self, user_id: str, id_or_prefix: str) -> str:
        """A full id, or a unique prefix of at least 4 characters (looked for in the list,
        as the API names memories by full ids only)."""
        wanted = id_or_prefix.strip()
        try:
            return records.memory(self._get(wanted)).id
        except NotFound:
            if len(wanted) < MIN_PREFIX:
                raise
        matches = [m.id for m in self.list(user_id, None, None) if m.id.startswith(wanted)]
        if not matches:
            raise NotFound(f"No memory {wanted!r}.")
        if len(matches) > 1:
            raise InputError(f"{wanted!r} names {len(matches)} memories: give more of the id.")
        return matches[0]

    def get(self, user_id: str, id_or_prefix: str) -> Memory:
        return records.memory(self._get(self.resolve(user_id, id_or_prefix)))

    def add(self, user_id: str, content: str, category: str | None = None,
            pinned: bool = True, **more: Any) -> Memory:
        if more:
            raise not_served("Adding a memory with " + ", ".join(sorted(more)))
        content, _ = self.redact(content)
        body: dict[str, Any] = {"content": content, "pinned": pinned}
        if category:
            body["category"] = category
        return records.memory(self.client.call("POST", "/memories", body))

    def forget(self, user_id: str, id_or_prefix: str) -> str:
        memory_id = self.resolve(user_id, id_or_prefix)
        return str(self.client.call("DELETE", f"/memories/{quote(memory_id, safe='')}")["forgotten"])

    def count(self, user_id: str) -> int:
        return len(self.list(user_id, None, None))

    def maintain(self, user_id: str) -> None:
        """Expiry and compaction are the server's (they run with its writes)."""

    def purge_expired(self, user_id: str) -> int:
        return 0

    def _get(self, memory_id: str) -> dict[str, Any]:
        return self.client.call("GET", f"/memories/{quote(memory_id, safe='')}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise not_served(_NOT_SERVED.get(name, "This command"))
