"""WordLlama's static 256-d embeddings, loaded offline from the files its wheel ships.

We read the two files ourselves instead of calling `WordLlama.load()`: its loader looks for
the bundled tokenizer in `tokenizer/` while the wheel ships `tokenizers/`, then tries to
download it; importing the package also pulls in requests and pydantic and sets the root
logger to INFO. The computation is WordLlama's own: mean of token vectors, then L2 norm.
"""

from __future__ import annotations

import importlib.util
import json
import struct
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
        # float16 as shipped, memory-mapped: a text reads only its own rows, widened to
        # float32 per text (exact, so the vectors are those of a float32 matrix). Widening
        # the whole 32000x256 matrix at load cost 25-130 ms of every `pai search`.
        self._emb = _mapped_matrix(weights_path, "embedding.weight")

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
                    out[start + i] = self._emb[ids].astype(np.float32).mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


def _mapped_matrix(path: Path, name: str) -> np.ndarray:
    """One float16 matrix of a safetensors file, memory-mapped read-only. The format: an
    8-byte little-endian header length, a JSON header (dtype, shape, data_offsets from the
    end of the header), then the raw little-endian data."""
    broken = ConfigError(f"The embedding model file {path} is damaged: reinstall `wordllama`.")
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        info = header[name]
        rows, cols = (int(n) for n in info["shape"])
        begin, end = (int(n) for n in info["data_offsets"])
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        raise broken from None
    if info.get("dtype") != "F16" or end - begin != rows * cols * 2:
        raise broken
    try:
        return np.memmap(path, dtype="<f2", mode="r", offset=8 + size + begin,
                         shape=(rows, cols))
    except (OSError, ValueError):
        raise broken from None
