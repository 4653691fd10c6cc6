"""Build the `chats` set from its written sources (deterministic).

    python bench/conversations/build_chats.py     # chats/written/*.txt -> chats/*.jsonl

Why it was made: in friends and diary (templated facts told once among small talk) and
bench/quality the vector beats plain BM25 by 0.1-0.35 R@1, so a model fitted on them gives
keyword evidence a minor vote. The issue's held-out figures go the other way. In `chats`
two friends keep talking about the same few threads of their lives (a job, a hobby, a pet, a
trip) over 16-20 dated sessions, so many turns share a topic and differ in their specifics,
and the questions were written by someone who had read the chat, in their own words.

The conversations and questions were written for pai by its developers' writing agents
(eight pairs of invented friends, one brief: chats/written/BRIEF.md), not taken from any
corpus or long-term conversational memory benchmark. Each written conversation is plain text,
`# session N | YYYY-MM-DD HH:MM` then one `tNNN Speaker: text` line per turn; its questions
are JSON lines with local turn ids. This script gives each turn a time (1-4 minutes after
the one before, seeded) and global ids, in the format evaluate.py reads.

`*.terse.jsonl` holds the same questions rewritten short, as a person types into `pai
search` ("How much was Fergus's exhibition grant?" for "How much money did the council give
Fergus's library for the local-history exhibition?"), by the same agents from a second brief
(written/TERSE.md); evaluate.py runs them as the set `terse`.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "chats"
WRITTEN = FOLDER / "written"
SEED = 20261203
_SESSION = re.compile(r"# session (\d+) \| (\d{4}-\d\d-\d\d \d\d:\d\d)")
_TURN = re.compile(r"(t\d{3}) ([A-Z][\w'-]+): (\S.*)")


KINDS = frozenset({"fact", "when", "multi", "preference", "latest", "paraphrase", "temporal"})


def read_conversation(path: Path, name: str, r: random.Random) -> tuple[list[dict], set[str]]:
    """The turns, timed and named; refuses what the brief's format does not allow."""
    turns, local, speakers = [], set(), set()
    clock: datetime | None = None
    sessions = 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if m := _SESSION.fullmatch(line):
            start = datetime.strptime(m.group(2), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            sessions += 1
            if int(m.group(1)) != sessions:
                raise SystemExit(f"{path.name} line {n}: session {m.group(1)}, expected "
                                 f"{sessions}")
            if clock is not None and start <= clock:
                raise SystemExit(f"{path.name} line {n}: a session starts before the last turn")
            clock = start
            continue
        m = _TURN.fullmatch(line)
        if m is None or clock is None:
            raise SystemExit(f"{path.name} line {n}: not a turn or a session header")
        if m.group(1) != f"t{len(turns) + 1:03d}":
            raise SystemExit(f"{path.name} line {n}: turn {m.group(1)} out of sequence")
        day = clock.date()
        clock += timedelta(minutes=r.randint(1, 4))
        if clock.date() != day:
            # A "when" answer is its session's date: a turn must not move to the next day.
            raise SystemExit(f"{path.name} line {n}: the session runs past midnight; start it "
                             "earlier")
        local.add(m.group(1))
        speakers.add(m.group(2))
        turns.append({"id": f"{name}-{m.group(1)}", "content": f"{m.group(2)}: {m.group(3)}",
                      "category": "conversation",
                      "created_at": clock.isoformat(timespec="seconds").replace("+00:00", "Z")})
    if len(speakers) != 2:
        raise SystemExit(f"{path.name}: two speakers expected, found {sorted(speakers)}")
    return turns, local


def read_questions(path: Path, name: str, local: set[str]) -> list[dict]:
    out = []
    lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    for i, line in enumerate(lines, 1):
        try:
            q = json.loads(line)
            if set(q) != {"question", "evidence", "kind"} or not isinstance(q["evidence"], list):
                raise ValueError("keys must be question, evidence (a list) and kind")
        except ValueError as e:
            raise SystemExit(f"{path.name} question {i}: {e}") from None
        missing = [e for e in q["evidence"] if e not in local]
        if missing or not q["evidence"] or q["kind"] not in KINDS:
            raise SystemExit(f"{path.name} question {i}: evidence {q['evidence']} or kind "
                             f"{q['kind']!r} is wrong")
        out.append({"id": f"{name}-q{i:03d}", "conversation": name, "question": q["question"],
                    "evidence": [f"{name}-{e}" for e in q["evidence"]], "kind": q["kind"]})
    return out


def build(out: Path = FOLDER) -> int:
    """Writes one JSONL file per conversation, questions.jsonl and questions-terse.jsonl
    (the same questions as typed in a hurry: evaluate.py's `terse` set) into `out`."""
    r = random.Random(SEED)  # one stream: editing a conversation re-times the later ones
    questions, terse, files = [], [], {}
    for path in sorted(WRITTEN.glob("chats-*.txt")):
        turns, local = read_conversation(path, path.stem, r)
        files[f"{path.stem}.jsonl"] = turns
        full = read_questions(WRITTEN / f"{path.stem}.questions.jsonl", path.stem, local)
        short = read_questions(WRITTEN / f"{path.stem}.terse.jsonl", path.stem, local)
        if [(q["evidence"], q["kind"]) for q in full] != [(q["evidence"], q["kind"])
                                                        for q in short]:
            raise SystemExit(f"{path.stem}.terse.jsonl: not the same questions as "
                             f"{path.stem}.questions.jsonl (evidence and kind, in order)")
        questions += full
        terse += short
    # Written only once every source has been read: a bad one leaves the set as it was.
    files.update({"questions.jsonl": questions, "questions-terse.jsonl": terse})
    for stale in out.glob("chats-*.jsonl"):
        if stale.name not in files:  # its source is gone; evaluate.py would still read it
            stale.unlink()
    for name, rows in files.items():
        (out / name).write_text(
            "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")
    return len(questions)


def main() -> None:
    print(f"{len(list(WRITTEN.glob('chats-*.txt')))} conversations, {build()} questions")


if __name__ == "__main__":
    main()
