"""The conversational evaluation sets are whole: every question's evidence is a turn of its
conversation, and `chats` (with `terse`, its questions typed short) rebuilds from its
written sources byte for byte."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SETS = Path(__file__).resolve().parent.parent / "bench" / "conversations"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.mark.parametrize("name", ["friends", "diary", "chats", "threads"])
def test_every_evidence_id_is_a_turn_of_its_conversation(name: str) -> None:
    folder = SETS / name
    turns = {p.stem: {t["id"] for t in _jsonl(p)} for p in folder.glob(f"{name}-*.jsonl")}
    questions = _jsonl(folder / "questions.jsonl")
    assert len(questions) >= 800 and turns
    for q in questions:
        assert q["evidence"], q["id"]
        assert set(q["evidence"]) <= turns[q["conversation"]], q["id"]


def _bench_module(name: str):  # type: ignore[no-untyped-def]
    """bench/conversations/<name>.py as a fresh module (build_chats' WRITTEN folder can then
    be pointed elsewhere)."""
    spec = importlib.util.spec_from_file_location(name, SETS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build_chats():  # type: ignore[no-untyped-def]
    return _bench_module("build_chats")


def _build_chats_of_one(tmp_path: Path):  # type: ignore[no-untyped-def]
    """build_chats.py reading a copy of the first conversation's sources only."""
    module = _build_chats()
    written = tmp_path / "written"
    written.mkdir()
    for source in (SETS / "chats" / "written").glob("chats-01*"):
        (written / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    module.WRITTEN = written
    return module, written


def test_chats_rebuilds_from_its_written_sources(tmp_path: Path) -> None:
    module = _build_chats()
    assert module.build(tmp_path) == 849
    for built in sorted(tmp_path.iterdir()):
        assert built.read_bytes() == (SETS / "chats" / built.name).read_bytes(), built.name
    assert len(list(tmp_path.iterdir())) == 10


def test_terse_asks_chats_questions_in_fewer_words() -> None:
    full = _jsonl(SETS / "chats" / "questions.jsonl")
    terse = _jsonl(SETS / "chats" / "questions-terse.jsonl")
    assert [(q["id"], q["evidence"], q["kind"]) for q in full] == [
        (q["id"], q["evidence"], q["kind"]) for q in terse]
    words = [len(q["question"].split()) for q in terse]
    assert sum(words) < 0.8 * sum(len(q["question"].split()) for q in full)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace("# session 1 | 2023-01-14 20:10", "# session 1 | 2023-01-14 23:58"),
     "past midnight"),
    (lambda t: t.replace("t002 ", "t003 ", 1), "out of sequence"),
    (lambda t: t.replace("# session 2 |", "# session 3 |", 1), "expected 2"),
])
def test_build_chats_refuses_a_broken_source_and_writes_nothing(
        tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    module, written = _build_chats_of_one(tmp_path)
    conv = written / "chats-01.txt"
    text = conv.read_text(encoding="utf-8")
    assert change(text) != text
    conv.write_text(change(text), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SystemExit, match=message):
        module.build(out)
    assert list(out.iterdir()) == []


def test_build_chats_names_a_question_line_it_cannot_read(tmp_path: Path) -> None:
    module, written = _build_chats_of_one(tmp_path)
    questions = written / "chats-01.questions.jsonl"
    lines = questions.read_text(encoding="utf-8").splitlines()
    lines[4] = '{"question": "Who?", "evidence": ["t001"]}'
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="question 5: keys must be"):
        module.build(tmp_path)


def test_weaker_vector_moves_only_the_query_and_always_the_same_way() -> None:
    """bench/conversations/weaker_vector.py: the held-out regime's stand-in. A question gets
    the same weakened vector every time (each method compares the same one), of unit length,
    about 1/sqrt(1 + sigma^2) from the embedder's in cosine; noise 0 leaves it alone. The
    texts of one call (a search's question asked two ways) share one direction."""
    import zlib

    import numpy as np

    weaker = _bench_module("weaker_vector")
    rng = np.random.default_rng(3)
    base = {t: (v := rng.standard_normal(384).astype(np.float32)) / np.linalg.norm(v)
            for t in ("where does Ana live?", "when did I get Pilot?")}

    def embed(texts: list[str]) -> np.ndarray:
        return np.stack([base[t] for t in texts])

    texts = list(base)
    assert np.array_equal(weaker.weakened(embed, 0.0)(texts), embed(texts))
    weak = weaker.weakened(embed, 3.0)
    first = np.vstack([weak([t]) for t in texts])
    assert np.array_equal(first, np.vstack([weak([t]) for t in texts[::-1]])[::-1])
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    cos = (first * embed(texts)).sum(axis=1)
    assert np.all(np.abs(cos - 1 / np.sqrt(10)) < 0.12), cos  # the noise has a share along v
    assert not np.allclose(first[0], first[1])
    together = weak(texts)
    g = np.random.default_rng(zlib.crc32(texts[0].encode())).standard_normal(384)
    moved = base[texts[1]] + 3.0 * (g / np.linalg.norm(g)).astype(np.float32)
    assert np.array_equal(together[0], first[0])
    assert np.allclose(together[1], moved / np.linalg.norm(moved), atol=1e-5)
    base["nothing"] = np.zeros(384, dtype=np.float32)
    assert not weak(["nothing"]).any()  # no direction to move: left as it is
    # weaken_queries: what the service embeds from then on is weakened, the same way.
    from types import SimpleNamespace

    service = SimpleNamespace(embedder=SimpleNamespace(embed=embed))
    weaker.weaken_queries(service, 3.0)
    assert np.array_equal(service.embedder.embed(texts), together)
