"""An embedder that loads its model on the first embed."""

from __future__ import annotations

from typing import Any


class LazyEmbedder:
    """The embedder's id without loading its weights: commands that never embed stay fast."""

    def __init__(self, make: Any, model_id: str, dim: int) -> None:
        self._make = make
        self.model_id = model_id
        self.dim = dim

    def embed(self, texts: Any) -> Any:
        return self._make().embed(texts)
