"""WordLlama's vectors from its float16 matrix as shipped (memory-mapped, rows widened per
text) are exactly those of the matrix widened to float32 as a whole, which is how they were
made before; a damaged weights file is one line, not a traceback."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from pai_cli.backends.local.embedder import (
    MAX_TOKENS,
    WordLlamaEmbedder,
    _mapped_matrix,
    _package_dir,
)
from pai_cli.errors import ConfigError

TEXTS = ["garden tomatoes", "My dog is called Biscuit and loves the beach", "", "   ",
         "ünïcödé 日本語 emoji 🚲 text", "a long note " * 400, "x"]


def float32_reference(embedder: WordLlamaEmbedder, texts: list[str]) -> np.ndarray:
    """The former computation: safetensors' own reader, the whole matrix widened first."""
    path = _package_dir() / "weights" / "l2_supercat_256.safetensors"
    matrix = np.ascontiguousarray(load_file(str(path))["embedding.weight"].astype(np.float32))
    out = np.zeros((len(texts), matrix.shape[1]), dtype=np.float32)
    for i, enc in enumerate(embedder._tok.encode_batch(texts, add_special_tokens=False)):
        ids = np.clip(np.asarray(enc.ids, dtype=np.int64), 0, matrix.shape[0] - 1)
        if ids.size:
            out[i] = matrix[ids].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def test_vectors_equal_those_of_the_float32_matrix() -> None:
    embedder = WordLlamaEmbedder()
    assert embedder._emb.dtype == np.float16  # kept as shipped, not widened at load
    got = embedder.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 256)
    np.testing.assert_allclose(got, float32_reference(embedder, TEXTS), rtol=0, atol=1e-6)
    assert np.all(got[2] == 0) and abs(float(np.linalg.norm(got[0])) - 1) < 1e-5
    assert len(embedder._tok.encode(TEXTS[5], add_special_tokens=False).ids) == MAX_TOKENS


def write_safetensors(path: Path, header: dict, data: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def test_the_mapped_matrix_reads_a_safetensors_file_and_refuses_a_damaged_one(
        tmp_path: Path) -> None:
    values = np.arange(6, dtype="<f2").reshape(2, 3)
    good = tmp_path / "good.safetensors"
    write_safetensors(good, {"__metadata__": {}, "m": {
        "dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}}, values.tobytes())
    assert np.array_equal(_mapped_matrix(good, "m"), values)
    damaged = {
        "truncated": (b"\x10\x00", None),
        "wrong dtype": ({"m": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 12]}},
                        values.tobytes()),
        "wrong size": ({"m": {"dtype": "F16", "shape": [4, 3], "data_offsets": [0, 12]}},
                       values.tobytes()),
        "no tensor": ({"other": {}}, b""),
        "short data": ({"m": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}},
                       b"\x00" * 4),
    }
    for label, (header, data) in damaged.items():
        path = tmp_path / f"{label}.safetensors"
        if data is None:
            path.write_bytes(header)
        else:
            write_safetensors(path, header, data)
        with pytest.raises(ConfigError, match="damaged"):
            _mapped_matrix(path, "m")
