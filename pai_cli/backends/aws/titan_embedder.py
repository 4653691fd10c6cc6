"""Bedrock Titan Text Embeddings V2 (1024-d, normalised), the AWS home's default embedder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from pai_cli.backends.aws.session import Aws, call

MODEL = "amazon.titan-embed-text-v2:0"
MAX_CHARS = 50_000  # Titan V2 takes at most 8,192 tokens or 50,000 characters
PARALLEL = 8  # InvokeModel embeds one text per call


class TitanEmbedder:
    model_id = f"bedrock/{MODEL}"
    dim = 1024

    def __init__(self, aws: Aws, env: str = "dev") -> None:
        self.aws = aws
        self.env = env

    def _one(self, text: str) -> list[float]:
        body = json.dumps({"inputText": text[:MAX_CHARS], "dimensions": self.dim,
                           "normalize": True})
        out = call(lambda: self.aws.client("bedrock-runtime").invoke_model(
            modelId=MODEL, body=body, contentType="application/json",
            accept="application/json"), f"Bedrock model {MODEL}", self.env)
        payload: Any = json.loads(out["body"].read())
        return payload["embedding"]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) <= 1:
            rows = [self._one(t) for t in texts]
        else:
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                rows = list(pool.map(self._one, texts))
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
