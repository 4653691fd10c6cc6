"""all-MiniLM-L6-v2 sentence embeddings (384-d), run by onnxruntime from the model pai ships.

The graph and its float16 weights are in pai's own wheel (pai_cli/models/minilm, built by
pai_cli/models/build_minilm.py): no torch, no download. On first use onnxruntime folds the
weights' casts to float32 and its quantiser turns the MatMul weights into int8 (~2 s once);
that copy is kept in the pai cache (Settings.model_cache, 58 MB) and opens in ~0.02 s
afterwards. Where the cache cannot be written, the float32 graph runs (optimised in memory,
0.07 s), rather than making the int8 copy anew in every process.

The computation is transformers' BertModel followed by sentence-transformers' mean pooling
and L2 normalisation (tests/minilm_reference.py checks it against a numpy forward pass).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pai_cli.errors import ConfigError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 128
"""The model was trained on inputs of up to 128 tokens; memories are far shorter."""
THREADS = 2
"""onnxruntime's threads for one run: two cores gave 1.8x one (~800 vs ~450 short texts a
second here); more only contend with the rest of pai."""
SHIPPED = Path(__file__).resolve().parents[2] / "models" / "minilm"


def _shipped_files() -> tuple[Path, Path]:
    model, tokenizer = SHIPPED / "model.onnx", SHIPPED / "tokenizer.json"
    if not model.exists() or not tokenizer.exists():
        raise ConfigError(f"The MiniLM model files are missing under {SHIPPED}: reinstall pai.")
    return model, tokenizer


def _options(ort: Any, optimise: bool) -> Any:
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # onnxruntime's own warnings are not the user's business
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED if optimise
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return so


PROVIDERS = ["CPUExecutionProvider"]


def _prepare(ort: Any, model: Path, folder: Path) -> None:
    """folder/model.onnx: the shipped graph with its casts folded (onnxruntime's optimiser),
    then its MatMul weights in int8, one scale per output channel (onnxruntime's dynamic
    quantisation). A query runs ~3x faster (0.5 against 1.7-2.5 ms here), its vector at a
    cosine of 0.99+ from the float32 one, and recall on every evaluation set within 0.01
    (README, design notes)."""
    import logging

    options = _options(ort, True)
    options.optimized_model_filepath = str(folder / "float32.onnx")
    # Weights in a side file: a session reads them in ms, where the same weights inside
    # the protobuf take ~0.4 s to parse.
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", "float32.data")
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(str(model), options, providers=PROVIDERS)
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser advises pre-processing through the root logger, whose first use also
    # gives it a stderr handler: neither is the user's business, and both are put back.
    root = logging.getLogger()
    handlers, level, disabled = list(root.handlers), root.level, logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(folder / "float32.onnx", folder / "model.onnx",
                         op_types_to_quantize=["MatMul"], per_channel=True,
                         weight_type=QuantType.QInt8, use_external_data_format=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.disable(disabled)
        root.handlers[:] = handlers
        root.setLevel(level)
    for name in ("float32.onnx", "float32.data"):
        (folder / name).unlink(missing_ok=True)


def _session(model: Path, cache: Path | None) -> Any:
    """An inference session on the quantised copy in `cache`, made there on first use
    (written beside, then renamed, so a crash leaves no half-written copy). Without a cache
    that can be written, the float32 graph."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError("The MiniLM embedder needs onnxruntime: reinstall pai "
                          "(pip install onnxruntime).") from None
    if cache is not None:
        stat = model.stat()
        folder = cache / f"minilm-q8-ort{ort.__version__}-{stat.st_size}-{int(stat.st_mtime)}"
        if (folder / "model.onnx").exists():
            try:
                return ort.InferenceSession(str(folder / "model.onnx"), _options(ort, False),
                                            providers=PROVIDERS)
            except Exception:  # noqa: BLE001 - a damaged copy is rebuilt from the shipped file
                shutil.rmtree(folder, ignore_errors=True)
        if importlib.util.find_spec("onnx") is None:  # needed only to make the copy
            raise ConfigError("The MiniLM embedder needs onnx to make its int8 copy: reinstall "
                              "pai (pip install onnx).")
        tmp: Path | None = None
        try:
            folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".minilm-"))
            _prepare(ort, model, tmp)
            session = ort.InferenceSession(str(tmp / "model.onnx"), _options(ort, False),
                                           providers=PROVIDERS)
        except Exception:  # noqa: BLE001 - an unwritable cache, a full disk: none kept
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            try:
                os.replace(tmp, folder)
            except OSError:  # another process got there first
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                # Copies made by an earlier pai or onnxruntime are never read again, nor
                # are the folders of a build a crash stopped (an hour is far past any build).
                for old in folder.parent.glob("minilm-*"):
                    if old != folder:
                        shutil.rmtree(old, ignore_errors=True)
                for old in folder.parent.glob(".minilm-*"):
                    with contextlib.suppress(OSError):
                        if time.time() - old.stat().st_mtime > 3600:
                            shutil.rmtree(old, ignore_errors=True)
            return session
    # No cache to keep a copy in: the float32 graph, optimised in memory (0.07 s), rather
    # than making the int8 copy anew in every process (~2 s). Its vectors are within a
    # cosine of 0.99 of the int8 ones, and recall the same on every set.
    return ort.InferenceSession(str(model), _options(ort, True), providers=PROVIDERS)


class MiniLMEmbedder:
    model_id = MODEL_ID
    dim = DIM

    def __init__(self, cache: Path | None = None) -> None:
        """cache: a folder where the optimised model is kept after the first load."""
        from tokenizers import Tokenizer

        model, tokenizer = _shipped_files()
        self._tok = Tokenizer.from_file(str(tokenizer))
        self._tok.enable_truncation(MAX_TOKENS)
        self._tok.no_padding()
        self._session = _session(model, cache)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        # One text a run, never a batch: the int8 copy quantises each run's activations
        # with one scale, so a text batched with a longer one came out a little different
        # from the same text alone (a cosine of ~0.995). Alone, a memory's vector is the same
        # whatever it was imported with, and a query's is made the same way. Short texts
        # run at ~1,150/s so (~1,550/s batched; 650/s with the float32 graph, batched).
        for i, encoded in enumerate(self._tok.encode_batch(list(texts))):
            ids = np.array([encoded.ids], dtype=np.int64)
            out[i] = self._session.run(["embedding"], {"input_ids": ids,
                                                       "attention_mask": np.ones_like(ids)})[0][0]
        return out
