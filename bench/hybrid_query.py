"""End-to-end `svc.search` latency (hybrid, keyword-only, vector-only), warm, in-process;
and hybrid with the question embedded twice (a question holding a word most memories hold:
core/recall.vector_list), which no synthetic query does unless made to.

    python bench/hybrid_query.py [--quick] [--sizes 100000,1000000] [--home DIR] [--profile]

--home DIR reuses homes built by vector_query.py (DIR/n<size>). --profile prints the top
cProfile entries of the hybrid queries at each size. Beside each wall-time p50 the
calling thread's CPU time p50: on a loaded machine the wall time includes waiting for a core.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import _common as c

TARGET_MS = {100_000: 5.0, 1_000_000: 15.0}
QUERIES, WARMUP, K = 200, 20, 10
MODES = ("hybrid", "keyword", "vector")


def run(n: int, base: str | None, profile: bool) -> dict:
    home = c.home_for(base, n)
    c.build_home(home, n)
    w = c.wiring(home)
    svc = w.memories
    queries = c.make_queries(QUERIES + WARMUP)
    t0 = time.perf_counter()
    svc.search(c.USER, queries[0], k=K)  # loads the embedder and opens the index
    first_ms = (time.perf_counter() - t0) * 1000
    out = {"n": n, "first_query_ms": round(first_ms, 1), "target_ms": TARGET_MS.get(n)}
    for mode in MODES:
        cpu: list[float] = []
        t = c.timed(lambda q, m=mode: svc.search(c.USER, q, k=K, mode=m), queries, WARMUP,
                    cpu)
        out[f"{mode}_p50_ms"] = c.ms(c.pct(t, 50))
        out[f"{mode}_p90_ms"] = c.ms(c.pct(t, 90))
        out[f"{mode}_cpu_p50_ms"] = c.ms(c.pct(cpu, 50))
    # The question twice (core/recall.vector_list): a question holding a word most memories
    # hold is embedded as asked and without it. No bench query holds one, so one is made
    # to: its first word counts as common, through the same search code.
    from pai_cli.core import fusion, recall

    if not fusion.model_for(svc.embedder.model_id).asked_weight:
        c.log("  this embedder asks the question once: 'question twice' is the same path")
    plain = recall._vector_query

    def first_word_common(*args: object) -> str:
        plain(*args)  # the lookup of the words' shares is paid as in a real search
        return str(args[2]).split(" ", 1)[-1]

    recall._vector_query = first_word_common
    try:
        cpu = []
        t = c.timed(lambda q: svc.search(c.USER, q, k=K), queries, WARMUP, cpu)
    finally:
        recall._vector_query = plain
    out["twice_p50_ms"], out["twice_cpu_p50_ms"] = c.ms(c.pct(t, 50)), c.ms(c.pct(cpu, 50))
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        for q in queries:
            svc.search(c.USER, q, k=K)
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(18)
        print(f"--- cProfile, {len(queries)} hybrid queries at n={n:,} (by cumulative) ---")
        print("\n".join(s.getvalue().splitlines()[4:30]))
    w.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--home", help="keep/reuse built homes under DIR/n<size>")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    sizes = [20_000] if a.quick else [int(s) for s in a.sizes.split(",")]
    results = []
    for n in sizes:
        c.log(f"hybrid_query n={n:,} load={c.load()}")
        results.append(run(n, a.home, a.profile))
    c.table([[f"{r['n']:,}", r["hybrid_p50_ms"], r["hybrid_p90_ms"], r["hybrid_cpu_p50_ms"],
              r["target_ms"] or "-",
              c.verdict(r["hybrid_p50_ms"], r["target_ms"]) if r["target_ms"] else "-",
              r["keyword_p50_ms"], r["keyword_cpu_p50_ms"], r["vector_p50_ms"],
              r["vector_cpu_p50_ms"], r["twice_p50_ms"], r["twice_cpu_p50_ms"],
              r["first_query_ms"]] for r in results],
            ["n", "hybrid p50 ms", "p90", "cpu p50", "target", "", "keyword p50", "cpu",
             "vector p50", "cpu", "question twice p50", "cpu", "first query ms"])
    print(f"load {c.load()}")
    c.emit("hybrid_query", {"results": results})


if __name__ == "__main__":
    main()
