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


def test_chats_rebuilds_from_its_written_sources(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_chats", SETS / "build_chats.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
