"""Property tests for the parsers and the round trips users rely on."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pai_cli.config import load_settings
from pai_cli.core import text
from pai_cli.core.importing import parse_jsonl
from pai_cli.errors import InputError
from pai_cli.wiring import Wiring

contents = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1, max_size=200,
).filter(lambda s: s.strip())


@given(st.lists(st.fixed_dictionaries({"content": contents}, optional={
    "category": st.sampled_from(["family", "work", "a.b-c_d"]),
    "created_at": st.integers(0, 4_000_000_000),
    "pinned": st.booleans(),
}), min_size=1, max_size=20))
def test_valid_lines_always_parse(objs: list[dict]) -> None:
    lines = [json.dumps(o, ensure_ascii=bool(i % 2)).encode() for i, o in enumerate(objs)]
    records = parse_jsonl(lines)
    assert [r.content for r in records] == [o["content"].strip() for o in objs]
    assert [r.line for r in records] == list(range(1, len(objs) + 1))


@given(st.lists(st.binary(max_size=60), min_size=1, max_size=10))
def test_arbitrary_bytes_never_crash_the_parser(lines: list[bytes]) -> None:
    try:
        parse_jsonl(lines)
    except InputError as e:
        assert "bad line" in e.message or "Nothing to import" in e.message


@given(st.text(max_size=300))
def test_terms_are_lowercase_and_free_of_stopwords(s: str) -> None:
    for term in text.terms(s):
        assert term == term.lower() and term not in text.STOPWORDS and term


@pytest.fixture(scope="module")
def wiring(tmp_path_factory: pytest.TempPathFactory):
    import os

    old = os.environ.get("PAI_HOME")
    os.environ["PAI_HOME"] = str(tmp_path_factory.mktemp("prop-home"))
    w = Wiring(load_settings("prop"))
    yield w
    w.close()
    if old is None:
        os.environ.pop("PAI_HOME", None)
    else:
        os.environ["PAI_HOME"] = old


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents, st.text(min_size=1, max_size=40))
def test_seal_open_round_trip(wiring: Wiring, plaintext: str, record_id: str) -> None:
    blob = wiring.cipher.seal("prop", "memory", record_id, plaintext)
    assert wiring.cipher.open("prop", "memory", record_id, blob) == plaintext
    assert plaintext.encode() not in blob or len(plaintext.encode()) < 4


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents)
def test_add_then_show_and_export_round_trip(wiring: Wiring, content: str) -> None:
    m = wiring.memories.add("prop", content, "general")
    assert wiring.memories.get("prop", m.id).content == content.strip()
    exported = {e.id: e.content for e in wiring.memories.export("prop")}
    assert exported[m.id] == content.strip()
