"""Retrieval quality on the labelled set: recall@1/5/10 for keyword, vector and fused search.

    python bench/quality/evaluate.py            # prints a table and a final JSON line

Builds a throwaway PAI_HOME, imports memories.jsonl through the real MemoryService
(encryption, blinded FTS5 terms, vectors), then asks every question of questions.jsonl in
each mode. A question counts as found at k when any of its relevant memories is in the top k.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
MODES = ("keyword", "vector", "hybrid")
KS = (1, 5, 10)


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).read_text().splitlines() if line.strip()]


def main() -> None:
    os.environ["PAI_HOME"] = tempfile.mkdtemp(prefix="pai-quality-")
    from pai_cli.config import load_settings
    from pai_cli.records import ImportRecord
    from pai_cli.wiring import Wiring

    wiring = Wiring(load_settings("quality"))
    svc = wiring.memories
    memories = load("memories.jsonl")
    questions = load("questions.jsonl")
    svc.import_records("quality", [
        ImportRecord(i, m["content"], m["category"], None, m["id"]) for i, m in enumerate(memories)
    ])
    svc.index.compact("quality")

    results: dict[str, dict[str, float]] = {}
    for subset in ("all", "paraphrase", "shared-words"):
        qs = [q for q in questions if subset == "all"
              or (subset == "paraphrase") == bool(q["paraphrase"])]
        for mode in MODES:
            found = {k: 0 for k in KS}
            rr = 0.0
            for q in qs:
                ids = [h.memory.id for h in svc.search("quality", q["question"], max(KS), mode=mode)]
                relevant = set(q["relevant"])
                for k in KS:
                    found[k] += any(i in relevant for i in ids[:k])
                rank = next((i for i, mid in enumerate(ids, 1) if mid in relevant), None)
                rr += 1 / rank if rank else 0.0
            results[f"{subset}/{mode}"] = {
                **{f"recall@{k}": round(found[k] / len(qs), 3) for k in KS},
                "mrr@10": round(rr / len(qs), 3), "questions": len(qs),
            }
    print(f"{len(memories)} memories, {len(questions)} questions "
          f"({sum(q['paraphrase'] for q in questions)} paraphrased); embedder "
          f"{svc.embedder.model_id}")
    print(f"{'subset/mode':28} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6}")
    for name, r in results.items():
        print(f"{name:28} {r['recall@1']:6.3f} {r['recall@5']:6.3f} {r['recall@10']:6.3f} "
              f"{r['mrr@10']:6.3f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
