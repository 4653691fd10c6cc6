"""Which embedding model a user's index was built with, and whether a reindex runs.

Vectors from two models cannot be compared, so the store keeps, per user, the model the
index holds and a marker while a reindex rebuilds it; every search and write asks here
first."""

from __future__ import annotations

import json
import math

from pai_cli.errors import ModelMismatch
from pai_cli.ports import Clock, Embedder, MemoryStore

REINDEX_LEASE_S = 300.0
"""A reindex marker with no progress for this long belongs to a reindex that was stopped
without a chance to say so (SIGKILL, power cut): each batch renews it."""


MODEL_KEY = "embed_model:"
"""The meta key prefix under which each user's index records the model that made it."""


def model_id_of(tag: str) -> str:
    """The model id in a stamp's tag ("<model id>:<dim>")."""
    return tag.rsplit(":", 1)[0]


class IndexStamp:
    def __init__(self, store: MemoryStore, embedder: Embedder, clock: Clock) -> None:
        self.store = store
        self.embedder = embedder
        self.clock = clock

    @property
    def model_tag(self) -> str:
        return f"{self.embedder.model_id}:{self.embedder.dim}"

    def model_key(self, user_id: str) -> str:
        return f"{MODEL_KEY}{user_id}"

    def reindex_key(self, user_id: str) -> str:
        return f"reindexing:{user_id}"

    def reindexing(self, user_id: str) -> tuple[str, bool, float] | None:
        """The reindex under way or left unfinished: (the model it embeds with, whether it is
        still running, seconds since its last progress); None when there is none."""
        raw = self.store.get_meta(self.reindex_key(user_id))
        if not raw:
            return None
        try:
            marker = json.loads(raw)
            tag, at, stopped = str(marker["model"]), float(marker["at"]), bool(marker["stopped"])
        except (ValueError, TypeError, KeyError):  # a marker of an older pai: plain model tag
            return raw, False, math.inf
        idle = max(0.0, self.clock() - at)
        return tag, not stopped and idle < REINDEX_LEASE_S, idle

    def mark_reindex(self, user_id: str, stopped: bool = False) -> None:
        self.store.set_meta(self.reindex_key(user_id), json.dumps(
            {"model": self.model_tag, "at": self.clock(), "stopped": stopped}))

    def finish_reindex(self, user_id: str) -> None:
        """The index now holds this model's vectors of every memory (in the caller's
        transaction)."""
        self.store.set_meta(self.model_key(user_id), self.model_tag)
        self.store.set_meta(self.reindex_key(user_id), "")

    def forget(self, user_id: str) -> None:
        """No memories left: the next write may use any model."""
        self.store.set_meta(self.model_key(user_id), "")

    def check(self, user_id: str, writing: bool = False) -> None:
        """Refuse a search (or, writing, a write) the index cannot serve correctly.

        While a reindex runs, writes with its model are accepted (it re-embeds or keeps
        them), and so are searches when it rebuilds with the model the index already has;
        after one was stopped, search waits for it to be run again, as before."""
        built = self.store.get_meta(self.model_key(user_id))
        reindex = self.reindexing(user_id)
        if reindex is not None:
            tag, running, idle = reindex
            if writing and tag == self.model_tag:
                return
            if running and not writing and tag == self.model_tag and built in (None, tag):
                return
            if running:
                raise ModelMismatch(
                    f"A reindex of your memories is running (last progress {idle:.0f} s ago): "
                    "try again when it has finished. If it was stopped, run `pai memory "
                    "reindex` again."
                )
            raise ModelMismatch(
                "A reindex of your memories was interrupted: run `pai memory reindex` again "
                "to finish it."
            )
        if built is not None and built != self.model_tag:
            raise ModelMismatch(
                f"Your memories were indexed with {built}, but pai now embeds with "
                f"{self.model_tag}. Run `pai memory reindex` to rebuild the index."
            )

    def claim(self, user_id: str) -> None:
        """Before a write (in its transaction): the first write names the index's model."""
        self.check(user_id, writing=True)
        if self.store.get_meta(self.model_key(user_id)) is None:
            self.store.set_meta(self.model_key(user_id), self.model_tag)
