"""Memory ids: random for what is new, derived from the data for what is made from other
data, so that writing it twice is a no-op."""

from __future__ import annotations

import uuid

_IMPORT_NS = uuid.UUID("6f1d8c52-3b1e-4c59-9a63-2f0f3d1c7a10")


def new_memory_id() -> str:
    return f"mem-{uuid.uuid4()}"


def derived_memory_id(*parts: str) -> str:
    """A stable id for a memory made from other data, so writing it twice is a no-op."""
    return f"mem-{uuid.uuid5(_IMPORT_NS, chr(31).join(parts))}"
