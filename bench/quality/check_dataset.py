#!/usr/bin/env python3
"""Validate the labelled retrieval-quality dataset in bench/quality.

Checks:
  * memories.jsonl / questions.jsonl parse, have the required fields, unique ids
  * every relevant id referenced by a question exists
  * at least MIN_QUESTIONS questions
  * the "paraphrase" flag of every question agrees with a recomputation:
    paraphrase == the question shares NO content word with any relevant memory
  * at least MIN_PARAPHRASE_RATIO of the questions are paraphrases

Stdlib only. Exit code 0 on success, 1 on any failure (offending lines printed).
Usage: python3 bench/quality/check_dataset.py [--dir DIR]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

MIN_QUESTIONS = 300
MIN_PARAPHRASE_RATIO = 0.50
MEM_ID_RE = re.compile(r"^mem-q\d{4}$")
Q_ID_RE = re.compile(r"^q\d{4}$")
CATEGORIES = {
    "personal", "family", "health", "work", "travel",
    "preferences", "tech", "finance", "hobbies", "home",
}

STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren as at
be because been before being below between both but by
can cannot could couldn
did didn do does doesn doing don down during
each else ever every few for from further
get gets getting got had hadn has hasn have haven having he her here hers
herself him himself his how
i if in into is isn it its itself just
let like likes liked me mentioned might mine more most much must mustn my myself
no nor not now of off on once one only or other ought our ours ourselves out
over own
really remember remind said same say says shall shan she should shouldn so
some such tell than that the their theirs them themselves then there these they
this those through to told too under until up upon us user very
was wasn we were weren what whatever when where whether which while who whom
whose why will with won would wouldn yes yet you your yours yourself
yourselves
""".split())

SUFFIXES = ("ing", "ed", "es", "s", "ly", "er")


def stem(token: str) -> str:
    """Light stemming: strip the first matching suffix if >= 4 chars remain."""
    for suf in SUFFIXES:
        if token.endswith(suf) and len(token) - len(suf) >= 4:
            return token[: -len(suf)]
    return token


def content_words(text: str) -> set[str]:
    words = set()
    for tok in re.findall(r"[a-z0-9]+", text.lower()):
        if len(tok) <= 2 or tok in STOPWORDS:
            continue
        words.add(stem(tok))
    return words


def load_jsonl(path: Path, errors: list[str]) -> list[tuple[int, dict]]:
    rows = []
    if not path.exists():
        errors.append(f"{path}: missing file")
        return rows
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"{path.name}:{lineno}: invalid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                errors.append(f"{path.name}:{lineno}: not a JSON object")
                continue
            rows.append((lineno, obj))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(Path(__file__).resolve().parent))
    args = ap.parse_args()
    base = Path(args.dir)
    errors: list[str] = []

    mem_rows = load_jsonl(base / "memories.jsonl", errors)
    q_rows = load_jsonl(base / "questions.jsonl", errors)

    memories: dict[str, str] = {}
    categories: dict[str, int] = {}
    for lineno, m in mem_rows:
        mid, content, cat = m.get("id"), m.get("content"), m.get("category")
        where = f"memories.jsonl:{lineno}"
        if not isinstance(mid, str) or not MEM_ID_RE.match(mid):
            errors.append(f"{where}: bad id {mid!r}")
            continue
        if mid in memories:
            errors.append(f"{where}: duplicate id {mid}")
            continue
        if not isinstance(content, str) or not content.strip():
            errors.append(f"{where}: empty content")
        if cat not in CATEGORIES:
            errors.append(f"{where}: unknown category {cat!r}")
        memories[mid] = content if isinstance(content, str) else ""
        categories[cat] = categories.get(cat, 0) + 1

    seen_q: set[str] = set()
    n_para = 0
    n_multi = 0
    for lineno, q in q_rows:
        qid, text, rel, para = q.get("id"), q.get("question"), q.get("relevant"), q.get("paraphrase")
        where = f"questions.jsonl:{lineno}"
        if not isinstance(qid, str) or not Q_ID_RE.match(qid):
            errors.append(f"{where}: bad id {qid!r}")
        elif qid in seen_q:
            errors.append(f"{where}: duplicate id {qid}")
        else:
            seen_q.add(qid)
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{where}: empty question")
            continue
        if not isinstance(rel, list) or not rel or not all(isinstance(r, str) for r in rel):
            errors.append(f"{where}: 'relevant' must be a non-empty list of ids")
            continue
        if len(set(rel)) != len(rel):
            errors.append(f"{where}: duplicate ids in 'relevant'")
        missing = [r for r in rel if r not in memories]
        if missing:
            errors.append(f"{where}: unknown relevant ids {missing}")
            continue
        if len(rel) > 1:
            n_multi += 1
        if not isinstance(para, bool):
            errors.append(f"{where}: 'paraphrase' must be a boolean")
            continue
        qwords = content_words(text)
        shared = set()
        for r in rel:
            shared |= qwords & content_words(memories[r])
        computed = not shared
        if computed:
            n_para += 1
        if para != computed:
            errors.append(
                f"{where}: paraphrase={para} but recomputed {computed}"
                + (f" (shared: {sorted(shared)})" if shared else "")
                + f" :: {text}"
            )

    n_q = len(q_rows)
    ratio = n_para / n_q if n_q else 0.0
    print(f"memories:     {len(memories)}")
    cats = sorted(categories.items(), key=lambda kv: str(kv[0]))
    print("categories:   " + ", ".join(f"{k}={v}" for k, v in cats))
    print(f"questions:    {n_q}")
    print(f"paraphrases:  {n_para} ({ratio:.1%})")
    print(f"multi-relevant questions: {n_multi}")

    if n_q < MIN_QUESTIONS:
        errors.append(f"only {n_q} questions (< {MIN_QUESTIONS})")
    if ratio < MIN_PARAPHRASE_RATIO:
        errors.append(f"paraphrase ratio {ratio:.1%} < {MIN_PARAPHRASE_RATIO:.0%}")

    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
