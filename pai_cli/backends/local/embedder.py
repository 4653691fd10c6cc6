"""WordLlama's static 256-d embeddings, loaded offline from the files its wheel ships.

We read the two files ourselves instead of calling `WordLlama.load()`: its loader looks for
the bundled tokenizer in `tokenizer/` while the wheel ships `tokenizers/`, then tries to
download it; importing the package also pulls in requests and pydantic and sets the root
logger to INFO. The computation is WordLlama's own: mean of token vectors, then L2 norm.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pai_cli.errors import ConfigError

MODEL_ID = "wordllama/l2_supercat_256"
DIM = 256
BATCH = 256
MAX_TOKENS = 512
"""Static embeddings average tokens: past a few hundred, more of them only blur the mean."""


def _package_dir() -> Path:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "The embedding model is missing: reinstall pai (it needs the `wordllama` package)."
        )
    return Path(spec.origin).parent


class WordLlamaEmbedder:
    model_id = MODEL_ID
    dim = DIM

    def __init__(self) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        base = _package_dir()
        tok_path = base / "tokenizers" / "l2_supercat_tokenizer_config.json"
        weights_path = base / "weights" / "l2_supercat_256.safetensors"
        if not tok_path.exists() or not weights_path.exists():
            raise ConfigError(
                f"The embedding model files are missing under {base}: reinstall `wordllama`."
            )
        self._tok = Tokenizer.from_file(str(tok_path))
        self._tok.no_padding()
        self._tok.enable_truncation(MAX_TOKENS)
        weights = load_file(str(weights_path))["embedding.weight"]
        self._emb = np.ascontiguousarray(weights.astype(np.float32))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        vocab = self._emb.shape[0]
        for start in range(0, len(texts), BATCH):
            chunk = list(texts[start:start + BATCH])
            encoded = self._tok.encode_batch(chunk, add_special_tokens=False)
            for i, enc in enumerate(encoded):
                ids = np.asarray(enc.ids, dtype=np.int64)
                if ids.size:
                    np.clip(ids, 0, vocab - 1, out=ids)
                    out[start + i] = self._emb[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
