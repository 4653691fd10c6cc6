"""all-MiniLM-L6-v2 sentence embeddings (384-d), run by onnxruntime from the model pai ships.

The graph and its float16 weights are in pai's own wheel (pai_cli/models/minilm, built by
pai_cli/models/build_minilm.py): no torch, no download. onnxruntime folds the weights'
casts to float32 when it first loads the file (~0.07 s); the folded model is kept in the pai
cache (Settings.model_cache, 90 MB) and opens in ~0.02 s afterwards, without optimising
again. Where the cache cannot be written, the shipped file is optimised on each load.

The computation is transformers' BertModel followed by sentence-transformers' mean pooling
and L2 normalisation (tests/minilm_reference.py checks it against a numpy forward pass).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pai_cli.errors import ConfigError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 128
"""The model was trained on inputs of up to 128 tokens; memories are far shorter."""
BATCH = 64
"""Texts per run; batches are sorted by length so little of each is padding."""
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


def _session(model: Path, cache: Path | None) -> Any:
    """An inference session, from the folded copy in `cache` when there is one (made there
    on first use: written beside, then renamed, so a crash leaves no half-written copy)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError("The MiniLM embedder needs onnxruntime: reinstall pai "
                          "(pip install onnxruntime).") from None
    providers = ["CPUExecutionProvider"]
    if cache is None:
        return ort.InferenceSession(str(model), _options(ort, True), providers=providers)
    stat = model.stat()
    folder = cache / f"minilm-ort{ort.__version__}-{stat.st_size}-{int(stat.st_mtime)}"
    if (folder / "model.onnx").exists():
        try:
            return ort.InferenceSession(str(folder / "model.onnx"), _options(ort, False),
                                        providers=providers)
        except Exception:  # noqa: BLE001 - a damaged copy is rebuilt from the shipped file
            shutil.rmtree(folder, ignore_errors=True)
    options = _options(ort, True)
    tmp: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".minilm-"))
        options.optimized_model_filepath = str(tmp / "model.onnx")
        # Weights in a side file: a session reads them in ms, where the same weights inside
        # the protobuf take ~0.4 s to parse.
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", "model.data")
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    except OSError:  # a cache that cannot be written: optimise in memory each time
        options, tmp = _options(ort, True), None
    try:
        session = ort.InferenceSession(str(model), options, providers=providers)
    except Exception:  # noqa: BLE001 - e.g. a full disk while saving: no copy this time
        if tmp is None:
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        tmp = None
        session = ort.InferenceSession(str(model), _options(ort, True), providers=providers)
    if tmp is not None:
        try:
            os.replace(tmp, folder)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            # Copies made by an earlier pai or onnxruntime are never read again.
            for old in folder.parent.glob("minilm-*"):
                if old != folder:
                    shutil.rmtree(old, ignore_errors=True)
    return session


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
        encoded = self._tok.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            length = max(len(encoded[i].ids) for i in idx)
            ids = np.zeros((len(idx), length), dtype=np.int64)
            mask = np.zeros((len(idx), length), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encoded[i].ids)
                ids[row, :n] = encoded[i].ids
                mask[row, :n] = 1
            out[idx] = self._session.run(["embedding"], {"input_ids": ids,
                                                         "attention_mask": mask})[0]
        return out
