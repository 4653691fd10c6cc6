"""Consolidation: does pai end up holding the right memories after weeks of statements?

    python bench/consolidation/run.py            # the scripted oracle model (mechanics)
    PAI_BENCH_BASE_URL=http://localhost:11434/v1 PAI_BENCH_MODEL=llama3.2 \\
        python bench/consolidation/run.py        # a real OpenAI-compatible model
    PAI_BENCH_BEDROCK=1 python bench/consolidation/run.py   # Bedrock (your credentials)

Each scenario of scenarios.jsonl runs in a fresh local home: its turns through the real
chat turn and memory writer (SQLite, WordLlama, the real filters), at the turns' dates.
Exact final state: every expected memory is there, in the expected state (by its terms),
nothing else is active, and no forbidden term is in any memory. Prints accuracy per kind,
the end question's top-1 recall, and the memory model's tokens per turn."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).parent
DAY = 86400.0


class Clock:
    def __init__(self, start: float) -> None:
        self.start = self.now = start

    def __call__(self) -> float:
        return self.now


class Oracle:
    """A ChatModel that answers as a perfect model would: the scenario's decisions, with the
    handles of the known memories it names read from the prompt itself."""

    provider, model_id = "oracle", "scripted-oracle"

    def __init__(self, turns: list[dict], redact) -> None:  # type: ignore[no-untyped-def]
        self.turns = turns
        self.redact = redact

    def stream(self, system: str, messages: Sequence, max_tokens: int,
               tools: Sequence = ()) -> Iterator:
        from pai_cli.records import ReplyEvent, Usage

        prompt = messages[-1].content
        if not system.startswith("You maintain the long-term memory"):
            turn = next(t for t in self.turns if self.redact(t["user"])[0] in prompt)
            yield ReplyEvent(text=turn["reply"])
            yield ReplyEvent(usage=Usage(len(system + prompt) // 4, 10), stop_reason="end_turn")
            return
        new = prompt.split("NEW:", 1)[1].split("KNOWN:", 1)
        turn = next(t for t in self.turns if self.redact(t["user"])[0] in new[0])
        known = {m.group(2).strip(): int(m.group(1))
                 for m in re.finditer(r"^\[(\d+)\] \([^)]*\) (.*)$", new[1], re.M)}
        out = []
        for d in turn["oracle"]:
            item = {k: v for k, v in d.items() if k != "target_text"}
            if "target_text" in d:
                if d["target_text"] not in known:  # not shown: a perfect model adds it
                    if d["action"] == "none":
                        continue
                    item["action"] = "add"
                else:
                    item["target"] = known[d["target_text"]]
            out.append(item)
        answer = json.dumps({"memories": out})
        yield ReplyEvent(text=answer)
        yield ReplyEvent(usage=Usage(len(system + prompt) // 4, len(answer) // 4),
                         stop_reason="end_turn")


def real_model() -> object | None:
    if os.environ.get("PAI_BENCH_BASE_URL"):
        from pai_cli.backends.llm.openai_compat import OpenAICompatModel

        return OpenAICompatModel(os.environ["PAI_BENCH_BASE_URL"],
                                 os.environ.get("PAI_BENCH_MODEL", "llama3.2"),
                                 os.environ.get("PAI_BENCH_API_KEY"), timeout=120)
    if os.environ.get("PAI_BENCH_BEDROCK"):
        from pai_cli.backends.llm.bedrock import BedrockModel, default_model

        region = os.environ.get("AWS_REGION", "us-east-1")
        return BedrockModel(os.environ.get("PAI_BENCH_MODEL") or default_model(region), region)
    return None


def matches(content: str, terms: list[str]) -> bool:
    return all(t.lower() in content.lower() for t in terms)


def run(scenario: dict, model: object | None) -> dict:
    os.environ["PAI_HOME"] = tempfile.mkdtemp(prefix="pai-bench-consolidation-")
    from pai_cli.config import load_settings
    from pai_cli.wiring import Wiring

    start = datetime.fromisoformat("2026-03-02T09:00:00+00:00").timestamp()
    clock = Clock(start)
    w = Wiring(load_settings("bench"), clock=clock)
    chat = w.chat
    chat.model = chat.writer.model = model or Oracle(scenario["turns"], w.memories.redact)
    for text in scenario["pins"]:
        w.memories.add("bench", text, "health", pinned=True)
    calls = 0
    for t in scenario["turns"]:
        clock.now = start + t["day"] * DAY + 60
        chat.turn("bench", t["user"])
        chat.remember_pending("bench")
        calls += 1
    active = w.memories.list("bench", limit=None)
    everything = w.memories.list("bench", limit=None, include_inactive=True)
    problems = []
    used: set[str] = set()
    for e in scenario["expect"]:
        found = [m for m in everything if m.id not in used and matches(m.content, e["terms"])
                 and m.status == e["status"] and (not e.get("pinned") or m.pinned)
                 and (not e.get("conflicts") or m.conflicts_with)]
        if not found:
            problems.append(f"missing {e['status']} {e['terms']}")
        else:
            used.add(found[0].id)
    extra = [m.content for m in active if m.id not in used]
    if extra:
        problems.append(f"also active: {extra}")
    for term in scenario["absent"]:
        if any(term.lower() in m.content.lower() for m in everything):
            problems.append(f"holds {term!r}")
    hits = w.memories.search("bench", scenario["question"], 1, min_score=0.0)
    answered = bool(hits) and any(a.lower() in hits[0].memory.content.lower()
                                  for a in scenario["answer"])
    usage = [r for r in w.usage_log.records("bench", 0) if r.purpose == "memory"]
    w.close()
    return {"id": scenario["id"], "kind": scenario["kind"], "exact": not problems,
            "problems": problems, "answered": answered, "turns": calls,
            "memory_calls": len(usage), "memory_in": sum(r.input_tokens for r in usage),
            "memory_out": sum(r.output_tokens for r in usage)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="run scenarios whose id contains this")
    args = ap.parse_args()
    scenarios = [json.loads(x) for x in (HERE / "scenarios.jsonl").read_text().splitlines()]
    if args.only:
        scenarios = [s for s in scenarios if args.only in s["id"]]
    model = real_model()
    name = "oracle (scripted)" if model is None else f"{model.provider}:{model.model_id}"
    t0 = time.perf_counter()
    results = [run(s, model) for s in scenarios]
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_kind[r["kind"]].append(r)
    print(f"consolidation, {len(results)} scenarios, model {name}")
    print(f"{'kind':<16} {'n':>3} {'exact state':>12} {'question':>9}")
    for kind, rs in sorted(by_kind.items()):
        print(f"{kind:<16} {len(rs):>3} {sum(r['exact'] for r in rs) / len(rs):>12.3f} "
              f"{sum(r['answered'] for r in rs) / len(rs):>9.3f}")
    turns = sum(r["turns"] for r in results)
    figures = {
        "bench": "consolidation", "model": name, "scenarios": len(results),
        "exact_state": round(sum(r["exact"] for r in results) / len(results), 3),
        "question_top1": round(sum(r["answered"] for r in results) / len(results), 3),
        "turns": turns,
        "memory_calls_per_turn": round(sum(r["memory_calls"] for r in results) / turns, 3),
        "memory_tokens_in_per_turn": round(sum(r["memory_in"] for r in results) / turns, 1),
        "memory_tokens_out_per_turn": round(sum(r["memory_out"] for r in results) / turns, 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"overall: exact state {figures['exact_state']}, question top-1 "
          f"{figures['question_top1']}; {figures['memory_calls_per_turn']} memory calls and "
          f"{figures['memory_tokens_in_per_turn']} in / {figures['memory_tokens_out_per_turn']} "
          "out tokens per turn")
    for r in results:
        if not r["exact"]:
            print(f"  {r['id']}: {'; '.join(r['problems'])}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
