"""Recall on the conversational sets (and bench/quality), per question kind.

    python bench/conversations/evaluate.py                   # every set, baselines + pai
    python bench/conversations/evaluate.py --sets friends    # one set
    python bench/conversations/evaluate.py --candidates      # also the fusion candidates
    python bench/conversations/evaluate.py --cli 40          # check `pai search` as a subprocess
    PAI_BENCH_EMBEDDER=local python bench/conversations/evaluate.py    # WordLlama, not MiniLM
    python bench/conversations/evaluate.py --weaker-vector 3  # the held-out run's regime

Runs as the held-out evaluation does: every turn of a conversation is imported as a memory
(one pai user per conversation, with its date), then one search per question, k=10.
R@k is the share of a question's evidence turns found in the top k (for a question with one
evidence turn: found or not); any@k counts a question as found when any one of them is.
In-process through MemoryService (the same code `pai search` runs); `--cli N` runs
`pai search --json -n 10` as a new process for N questions per set and compares the ids.

Baselines: plain BM25 over lowercased words (k1=1.2, b=0.75, the 20 lines below), the
embedder alone (one vector a turn, the question as asked), plain RRF (k=60) of those two;
then pai's own lists (vector only: its vector list, a vector per piece of a turn too, the
question asked with and without its commonest words, core/recall.vector_list; keyword
only) and pai's search.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
KS = (1, 5, 10)
SETS = ("friends", "diary", "quality", "chats")
PROBES = ("threads", "terse")
"""Sets run only when named (--sets threads): see build_threads.py for why."""


# -- data ------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def load_set(name: str) -> tuple[dict[str, list[dict]], list[dict]]:
    """(turns by conversation, questions with evidence ids and a kind)."""
    if name == "quality":
        q = ROOT / "bench" / "quality"
        turns = read_jsonl(q / "memories.jsonl")
        questions = [{"id": x["id"], "conversation": "quality", "question": x["question"],
                      "evidence": x["relevant"],
                      "kind": "paraphrase" if x["paraphrase"] else "shared-words"}
                     for x in read_jsonl(q / "questions.jsonl")]
        return {"quality": turns}, questions
    if name == "terse":  # chats' conversations, its questions as typed in a hurry
        folder = HERE / "chats"
        questions = read_jsonl(folder / "questions-terse.jsonl")
        convs = {p.stem: read_jsonl(p) for p in sorted(folder.glob("chats-*.jsonl"))}
        return convs, questions
    folder = HERE / name
    questions = read_jsonl(folder / "questions.jsonl")
    convs = {p.stem: read_jsonl(p) for p in sorted(folder.glob(f"{name}-*.jsonl"))}
    return convs, questions


# -- plain BM25 baseline ---------------------------------------------------------------------
_WORD = re.compile(r"\w+")


class PlainBM25:
    """Okapi BM25 over lowercased words, no stemming, no stopwords (the issue's baseline)."""

    def __init__(self, ids: list[str], texts: list[str], k1: float = 1.2, b: float = 0.75):
        self.ids, self.k1, self.b = ids, k1, b
        self.docs = [Counter(_WORD.findall(t.lower())) for t in texts]
        self.lens = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lens) / max(len(self.lens), 1)
        df: Counter[str] = Counter(w for d in self.docs for w in d)
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        self.post: dict[str, list[int]] = defaultdict(list)
        for i, d in enumerate(self.docs):
            for w in d:
                self.post[w].append(i)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        scores: dict[int, float] = defaultdict(float)
        for w in set(_WORD.findall(query.lower())):
            for i in self.post.get(w, ()):
                tf = self.docs[i][w]
                norm = tf + self.k1 * (1 - self.b + self.b * self.lens[i] / self.avg)
                scores[i] += self.idf[w] * tf * (self.k1 + 1) / norm
        best = sorted(scores.items(), key=lambda kv: -kv[1])[:k]
        return [(self.ids[i], s) for i, s in best]


def rrf(lists: list[list[tuple[str, float]]], k: int = 60) -> list[str]:
    score: dict[str, float] = defaultdict(float)
    for ranked in lists:
        for rank, (mid, _) in enumerate(ranked, 1):
            score[mid] += 1.0 / (k + rank)
    return [m for m, _ in sorted(score.items(), key=lambda kv: -kv[1])]


# -- scoring ---------------------------------------------------------------------------------
class Tally:
    def __init__(self) -> None:
        self.n: Counter[str] = Counter()
        self.r: dict[str, Counter[int]] = defaultdict(Counter)
        self.any: dict[str, Counter[int]] = defaultdict(Counter)

    def add(self, kind: str, ranked: list[str], evidence: list[str]) -> None:
        ev = set(evidence)
        for key in (kind, "all"):
            self.n[key] += 1
            for k in KS:
                top = set(ranked[:k])
                self.r[key][k] += len(ev & top) / len(ev)
                self.any[key][k] += bool(ev & top)

    def row(self, key: str = "all") -> dict[str, float]:
        n = self.n[key] or 1
        out = {f"R@{k}": round(self.r[key][k] / n, 3) for k in KS}
        out.update({f"any@{k}": round(self.any[key][k] / n, 3) for k in KS})
        out["n"] = self.n[key]
        return out


# -- running ---------------------------------------------------------------------------------
Method = Callable[[dict, dict], list[str]]


def build_home(convs: dict[str, list[dict]]):  # type: ignore[no-untyped-def]
    os.environ["PAI_HOME"] = tempfile.mkdtemp(prefix="pai-conv-eval-")
    os.environ.pop("PAI_CONFIG", None)
    if os.environ.get("PAI_BENCH_EMBEDDER"):  # e.g. minilm: the home's config chooses it
        Path(os.environ["PAI_HOME"], "config.toml").write_text(
            f'embedder = "{os.environ["PAI_BENCH_EMBEDDER"]}"\n', encoding="utf-8")
    from pai_cli.config import load_settings
    from pai_cli.core.importing import parse_line
    from pai_cli.wiring import Wiring

    wiring = Wiring(load_settings("eval"))
    svc = wiring.memories
    if os.environ.get("PAI_BENCH_COMMON_SHARE"):  # a MemorySettings value to measure
        from dataclasses import replace
        svc.settings = replace(svc.settings,
                               common_share=float(os.environ["PAI_BENCH_COMMON_SHARE"]))
    for user, turns in convs.items():
        records = [parse_line(json.dumps(t).encode(), i, "general") for i, t in enumerate(turns, 1)]
        svc.import_records(user, records, batch_size=2000)
        svc.index.compact(user)
    return wiring


class PlainVectors:
    """The embedder alone, one vector a turn, searched exactly with the question as asked
    (the issue's "MiniLM-L6 alone"): pai's own vector list differs from it twice, with
    the question asked with and without its commonest words (core/recall.vector_list) and
    a vector per piece of a turn (core/pieces.py)."""

    def __init__(self, ids: list[str], vectors: np.ndarray, embed: Callable) -> None:
        self.ids, self.embed = ids, embed
        self.mat = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        q = np.asarray(self.embed([query])[0], dtype=np.float32)
        sims = self.mat @ (q / (np.linalg.norm(q) or 1.0))
        top = np.argsort(-sims, kind="stable")[:k]
        return [(self.ids[i], float(sims[i])) for i in top]


def contexts(wiring, convs: dict[str, list[dict]]) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Per conversation: pai's service and the baselines' own indexes. Call before the
    query vectors are weakened: the turns' vectors are made here, with the clean model."""
    out = {}
    svc = wiring.memories
    for user, turns in convs.items():
        ids = [t["id"] for t in turns]
        vectors = np.asarray(svc.embedder.embed([t["content"] for t in turns]), dtype=np.float32)
        out[user] = {"user": user, "svc": svc,
                     "bm25": PlainBM25(ids, [t["content"] for t in turns]),
                     # the service's embedder looked up at query time: weakened, if it is
                     "vectors": PlainVectors(ids, vectors,
                                             lambda texts: svc.embedder.embed(texts)),
                     "turns": {t["id"]: t for t in turns}}
    return out


def baseline_methods() -> dict[str, Method]:
    def bm25(ctx: dict, q: dict) -> list[str]:
        return [m for m, _ in ctx["bm25"].search(q["question"], 10)]

    def mode(name: str, floor: float | None = None) -> Method:
        def run(ctx: dict, q: dict) -> list[str]:
            return [h.memory.id for h in ctx["svc"].search(ctx["user"], q["question"], 10,
                                                            mode=name, min_score=floor)]
        return run

    def plain_vector(ctx: dict, q: dict) -> list[str]:
        return [m for m, _ in ctx["vectors"].search(q["question"], 10)]

    def rrf60(ctx: dict, q: dict) -> list[str]:
        return rrf([ctx["bm25"].search(q["question"], 100),
                    ctx["vectors"].search(q["question"], 100)])[:10]

    return {"plain BM25": bm25, "embedder alone, one vector a turn": plain_vector,
            "vector only": mode("vector"), "pai keyword only": mode("keyword"),
            "plain RRF k=60 (BM25 + vector)": rrf60, "pai (hybrid)": mode("hybrid"),
            "pai (hybrid), no floor": mode("hybrid", 0.0)}


def one_home(convs: dict[str, list[dict]], questions: list[dict]
             ) -> tuple[dict[str, list[dict]], list[dict]]:
    """Every conversation of a set in one user's memories, as one `pai memory import` of
    them all would leave them: each question then searches every conversation's turns."""
    return ({"all": [t for turns in convs.values() for t in turns]},
            [{**q, "conversation": "all"} for q in questions])


def evaluate(name: str, methods: dict[str, Method], cli: int,
             together: bool = False, weaker: float = 0.0) -> dict[str, dict]:
    convs, questions = load_set(name)
    if together:
        convs, questions = one_home(convs, questions)
    t0 = time.perf_counter()
    wiring = build_home(convs)
    ctxs = contexts(wiring, convs)
    if weaker:
        from weaker_vector import weaken_queries  # type: ignore[import-not-found]

        weaken_queries(wiring.memories, weaker)
        name = f"{name}, query vectors weakened by {weaker:g}"
    print(f"[{name}] {sum(map(len, convs.values()))} turns in {len(convs)} conversations, "
          f"{len(questions)} questions; imported in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    tallies = {m: Tally() for m in methods}
    for q in questions:
        ctx = ctxs[q["conversation"]]
        for m, fn in methods.items():
            tallies[m].add(q["kind"], fn(ctx, q), q["evidence"])
    if cli:
        check_cli(wiring, ctxs, questions, cli)
    off_topic = ask_off_topic(ctxs)
    kinds = sorted({q["kind"] for q in questions})
    count = Counter(q["kind"] for q in questions)
    print(f"\n## {name}: {len(questions)} questions ("
          + ", ".join(f"{k} {count[k]}" for k in kinds) + ")")
    print(f"{'method':40} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'any@10':>7}")
    for m, t in tallies.items():
        r = t.row()
        print(f"{m:40} {r['R@1']:6.3f} {r['R@5']:6.3f} {r['R@10']:6.3f} {r['any@10']:7.3f}")
    print("\nper kind, R@1 / R@5 / R@10 (n):")
    print(f"{'method':40} " + " ".join(f"{k[:16]:>18}" for k in kinds))
    for m, t in tallies.items():
        cells = []
        for k in kinds:
            r = t.row(k)
            cells.append(f"{r['R@1']:.2f}/{r['R@5']:.2f}/{r['R@10']:.2f}".rjust(18))
        print(f"{m:40} " + " ".join(cells))
    print(" " * 41 + " ".join(f"{'(' + str(t.n[k]) + ')':>18}" for k in kinds))
    print(f"\noff-topic questions ({off_topic['questions']} in {OFF_TOPIC.name}, asked of each "
          f"of {len(ctxs)} homes): pai shows something for {off_topic['shown_share']:.1%}, "
          f"{off_topic['shown_per_search']:.2f} memories a search; best score p50 "
          f"{off_topic['best_p50']:.3f}, p90 {off_topic['best_p90']:.3f}")
    return {"off-topic": off_topic,
            **{m: {"all": t.row(), **{k: t.row(k) for k in kinds}} for m, t in tallies.items()}}


OFF_TOPIC = HERE / "off_topic.txt"


def ask_off_topic(ctxs: dict[str, dict]) -> dict[str, float]:
    """What `pai search -n 10` shows for questions no memory answers, each asked of every
    home: what the floor lets through where nothing is relevant."""
    lines = [x.strip() for x in OFF_TOPIC.read_text(encoding="utf-8").splitlines()]
    asks = [x for x in lines if x and not x.startswith("#")]
    shown, best = [], []
    for ctx in ctxs.values():
        for question in asks:
            hits = ctx["svc"].search(ctx["user"], question, 10)
            shown.append(len(hits))
            best.append(hits[0].score if hits else 0.0)
    return {"questions": len(asks), "shown_share": float(np.mean([n > 0 for n in shown])),
            "shown_per_search": float(np.mean(shown)),
            "best_p50": float(np.quantile(best, 0.5)), "best_p90": float(np.quantile(best, 0.9))}


def check_cli(wiring, ctxs: dict, questions: list[dict], n: int) -> None:  # type: ignore[no-untyped-def]
    """`pai search --json -n 10` as a new process gives the same ids as the in-process run."""
    step = max(1, len(questions) // n)
    sample = questions[::step][:n]
    same = 0
    env = dict(os.environ)
    for q in sample:
        ctx = ctxs[q["conversation"]]
        inproc = [h.memory.id for h in ctx["svc"].search(ctx["user"], q["question"], 10)]
        out = subprocess.run(
            [sys.executable, "-m", "pai_cli.cli.main", "search", q["question"], "--json",
             "-n", "10", "--user", ctx["user"]],
            capture_output=True, text=True, env=env, check=False)
        ids = [h["id"] for h in json.loads(out.stdout or "[]")] if out.returncode == 0 else None
        same += ids == inproc
        if ids != inproc:
            print(f"  cli differs on {q['id']}: rc={out.returncode} {out.stderr.strip()[:200]}",
                  file=sys.stderr)
    print(f"[cli] `pai search --json -n 10` as a subprocess: {same}/{len(sample)} questions "
          "with the same ids as in-process", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS + PROBES)
    ap.add_argument("--candidates", action="store_true", help="also the fusion candidates")
    ap.add_argument("--one-home", action="store_true",
                    help="import every conversation of a set as one user's memories")
    ap.add_argument("--cli", type=int, default=0, metavar="N",
                    help="check N questions per set through `pai search` as a subprocess")
    ap.add_argument("--weaker-vector", type=float, default=0.0, metavar="SIGMA",
                    help="add noise of this norm to every question's vector (weaker_vector.py;"
                         " 3 gives chats the held-out run's baselines)")
    args = ap.parse_args()
    if args.cli and args.weaker_vector:
        ap.error("--cli runs `pai search` as it is: it cannot be combined with --weaker-vector")
    methods = baseline_methods()
    if args.candidates:
        from candidates import candidate_methods  # type: ignore[import-not-found]

        methods.update(candidate_methods())
    results = {name: evaluate(name, methods, args.cli, args.one_home, args.weaker_vector)
               for name in args.sets}
    print(json.dumps(results))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
