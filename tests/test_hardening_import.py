"""Imports that cannot poison a store, as properties: whatever a line holds, it is either a
record every read can show or an error naming its line, and nothing in between."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pai_cli.config import load_settings
from pai_cli.core.importing import BOM, parse_jsonl
from pai_cli.errors import InputError
from pai_cli.records import iso
from pai_cli.wiring import Wiring

DATE_FIELDS = ("created_at", "valid_from", "valid_to")

dates = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**20, max_value=10**20),
    st.integers(min_value=-70_000_000_000, max_value=260_000_000_000),  # near the bounds
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.text(max_size=30),
    st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)
lines = st.fixed_dictionaries(
    {"content": st.text(min_size=1, max_size=40)},
    optional={"created_at": dates, "valid_from": dates, "valid_to": dates,
              "importance": json_values, "pinned": json_values, "status": json_values,
              "origin": json_values, "sources": json_values, "category": json_values,
              "id": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,10}", fullmatch=True)
              | json_values},
)


def dump(obj: dict) -> bytes:
    # allow_nan: the file may well hold NaN or Infinity, which Python's json writes bare.
    return json.dumps(obj, allow_nan=True).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, min_size=1, max_size=6))
def test_a_line_is_a_showable_record_or_an_error_naming_it(objs: list[dict]) -> None:
    raw = [dump(o) for o in objs]
    try:
        records = parse_jsonl(raw)
    except InputError as e:
        assert e.message.startswith("Nothing imported") or "Nothing to import" in e.message
        named = {int(d.split(":")[0].removeprefix("line ")) for d in e.details}
        assert named and named <= set(range(1, len(objs) + 1))
        return
    assert len(records) == len(objs)
    for r in records:
        for name in DATE_FIELDS:
            value = getattr(r, name)
            if value is not None:
                assert math.isfinite(value)
                assert iso(value) is not None  # every read can show it
                assert iso(value + 100 * 366 * 86400.0) is not None  # and its expiry


@given(st.lists(st.sampled_from(["mem-a", "mem-b", "mem-c", None]), min_size=2, max_size=8),
       st.booleans())
def test_one_id_twice_is_refused_with_both_lines(ids: list[str | None], bom: bool) -> None:
    raw = [dump({"content": f"line {i}", **({"id": x} if x else {})}) for i, x in enumerate(ids)]
    if bom:
        raw[0] = BOM + raw[0]  # a BOM on line 1 is not an error of its own
    first: dict[str, int] = {}
    expected = set()
    for n, x in enumerate(ids, 1):
        if x and first.setdefault(x, n) != n:
            expected.add(f"line {n}: id {x!r} is also on line {first[x]}: give each memory its "
                         "own id")
    try:
        records = parse_jsonl(raw)
    except InputError as e:
        assert set(e.details) == expected and expected
        return
    assert not expected and len(records) == len(ids)


@pytest.fixture(scope="module")
def wiring(tmp_path_factory: pytest.TempPathFactory):
    import os

    old = os.environ.get("PAI_HOME")
    os.environ["PAI_HOME"] = str(tmp_path_factory.mktemp("poison-home"))
    w = Wiring(load_settings("poison"))
    yield w
    w.close()
    if old is None:
        os.environ.pop("PAI_HOME", None)
    else:
        os.environ["PAI_HOME"] = old


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lines, min_size=1, max_size=4))
def test_whatever_is_imported_every_read_still_works(wiring: Wiring, objs: list[dict]) -> None:
    """What parses is written; afterwards list, export, search and show never fail."""
    mem = wiring.memories
    try:
        records = parse_jsonl([dump(o) for o in objs])
    except InputError:
        records = []
    if records:
        mem.import_records("poison", records)
    before = len(mem.unreadable)
    listed = mem.list("poison", limit=None, include_inactive=True)
    for m in listed:
        assert json.dumps(m.to_dict())  # what `memory list --json` prints
        assert mem.get("poison", m.id).id == m.id
    assert len(list(mem.export("poison"))) == mem.count("poison")
    for hit in mem.search("poison", "content line text", k=5, min_score=0.0):
        assert json.dumps(hit.to_dict())
    assert len(mem.unreadable) == before == 0
