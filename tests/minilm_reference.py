"""A numpy forward pass of all-MiniLM-L6-v2 (transformers' BertModel, then mean pooling and
L2 normalisation), written from the architecture, not from the ONNX graph: the graph pai
ships is checked against it. It reads its weights from the shipped file's initializers, so
the two compute with the same float16-rounded numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIM, LAYERS, HEADS = 384, 6, 12
EPS = 1e-12


def weights_of(model_path: Path) -> dict[str, np.ndarray]:
    """The graph's initializers as float32, by their transformers names (linear layers as
    (in, out), as the graph multiplies them)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_path))
    out = {}
    for init in model.graph.initializer:
        name = init.name.removesuffix("_f16")
        out[name] = numpy_helper.to_array(init).astype(np.float32)
    return out


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    from math import erf

    return 0.5 * x * (1.0 + np.vectorize(erf, otypes=[np.float64])(x / np.sqrt(2.0)))


def forward(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """One text's embedding (no padding: nothing to mask)."""
    n = len(ids)
    x = (w["word_embeddings"][ids] + w["position_embeddings"][:n] + w["token_type_0"])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    head = DIM // HEADS
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."

        def lin(t: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return t @ w[p + name + ".weight"] + w[p + name + ".bias"]

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(n, HEADS, head).transpose(1, 0, 2)

        q = split(lin(x, "attention.self.query"))
        k = split(lin(x, "attention.self.key"))
        v = split(lin(x, "attention.self.value"))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(head)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, DIM)
        x = _layer_norm(lin(ctx, "attention.output.dense") + x,
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"])
        ff = lin(_gelu(lin(x, "intermediate.dense")), "output.dense")
        x = _layer_norm(ff + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    pooled = x.mean(0)
    return (pooled / np.linalg.norm(pooled)).astype(np.float32)
