"""Import throughput: `import_records` vs the raw embedder on the same texts, and the CLI.

    python bench/import_rate.py [--quick] [--profile]
    PAI_BENCH_THINGS=2 python bench/import_rate.py   # every memory says two things

With memories of several sentences pai embeds each piece too (pai_cli/core/pieces.py): the
raw embedder's rate over those texts is printed beside it.

Target: import_records at >= 80% of the raw embedder rate.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as c

TARGET_RATIO = 0.8
PAI = str(Path(sys.executable).with_name("pai"))


def in_process(texts: list[str], batch: int, profile: bool = False) -> tuple[float, float]:
    """(import seconds, compact seconds) into a fresh home."""
    w = c.wiring(tempfile.mkdtemp(prefix="pai-bench-imp-"))
    svc = w.memories
    w.embedder.embed(["warm up"])
    svc.count(c.USER)  # open the db and the cipher before the clock starts
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    added, _ = svc.import_records(c.USER, c.records(texts), batch_size=batch)
    t_imp = time.perf_counter() - t0
    if prof:
        prof.disable()
        print(f"--- cProfile of import_records, {len(texts):,} memories, batch={batch} ---")
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    assert added == len(texts), added
    t0 = time.perf_counter()
    svc.index.compact(c.USER)
    t_cmp = time.perf_counter() - t0
    w.close()
    return t_imp, t_cmp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profile", action="store_true", help="also cProfile one extra batch=2000 import")
    a = ap.parse_args()
    n = 3000 if a.quick else 20_000
    texts = c.make_texts(n, seed=42)
    c.log(f"import_rate n={n:,} load={c.load()}")

    w = c.wiring(tempfile.mkdtemp(prefix="pai-bench-emb-"))
    w.embedder.embed(texts[:500])
    t0 = time.perf_counter()
    w.embedder.embed(texts)
    embed_rate = n / (time.perf_counter() - t0)

    rows, figures = [], {"n": n, "things": c.THINGS, "embed_per_s": round(embed_rate)}
    rows.append(["raw embedder", f"{embed_rate:,.0f}", "-", "-", ""])
    from pai_cli.core.pieces import pieces

    extra = [p for t in texts for p in pieces(t)]
    if extra:  # memories saying several things: each piece is embedded too
        t0 = time.perf_counter()
        w.embedder.embed(texts + extra)
        whole_rate = n / (time.perf_counter() - t0)
        figures["embed_with_pieces_per_s"] = round(whole_rate)
        figures["pieces_per_memory"] = round(len(extra) / n, 2)
        rows.append([f"raw embedder, + {len(extra) / n:.1f} pieces a memory",
                     f"{whole_rate:,.0f}", f"{whole_rate / embed_rate:.1%}", "-", ""])
    for batch in (500, 2000):
        t_imp, t_cmp = in_process(texts, batch)
        rate = n / t_imp
        ratio = rate / embed_rate
        figures[f"import_b{batch}_per_s"] = round(rate)
        figures[f"import_b{batch}_ratio"] = round(ratio, 3)
        figures[f"compact_b{batch}_s"] = round(t_cmp, 2)
        rows.append([f"import_records batch={batch}", f"{rate:,.0f}", f"{ratio:.1%}",
                     f"{t_cmp:.2f}", "ok" if ratio >= TARGET_RATIO else "MISS"])

    if a.profile:  # a separate run: profiling slows the import it watches
        in_process(texts, 2000, profile=True)

    # The CLI path: a new process parses, validates, imports (default batch) and compacts.
    home = tempfile.mkdtemp(prefix="pai-bench-cli-imp-")
    path = Path(home) / "notes.jsonl"
    path.write_text("".join(json.dumps({"content": t}) + "\n" for t in texts))
    env = {**os.environ, "PAI_HOME": home, "PAI_USER": c.USER}
    t0 = time.perf_counter()
    p = subprocess.run([PAI, "memory", "import", str(path)], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t_cli = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"pai memory import failed: {p.stderr[-500:]}")
    figures["cli_wall_s"] = round(t_cli, 2)
    figures["cli_per_s"] = round(n / t_cli)
    rows.append(["pai memory import (subprocess)", f"{n / t_cli:,.0f}",
                 f"{n / t_cli / embed_rate:.1%}", "incl.", ""])

    c.table(rows, ["path", "memories/s", "of embed rate", "compact s", f"target >= {TARGET_RATIO:.0%}"])
    print(f"load {c.load()}")
    c.emit("import_rate", figures)


if __name__ == "__main__":
    main()
