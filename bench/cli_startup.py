"""Wall time of `pai` as a new process: --help, search --help, and a real search over 10k.

    python bench/cli_startup.py [--quick]

Also prints `python -X importtime` for the search command: which imports cost most.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as c

TARGET_HELP_S, TARGET_SEARCH_S = 0.15, 0.5
PAI = str(Path(sys.executable).with_name("pai"))


def wall(cmd: list[str], env: dict, runs: int, warm: int = 2) -> list[float]:
    out = []
    for i in range(warm + runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd[i % len(cmd)] if isinstance(cmd[0], list) else cmd, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"{cmd} failed: {p.stderr.decode()[-500:]}")
        if i >= warm:
            out.append(dt)
    return out


def importtime(env: dict, top: int = 10) -> tuple[list[tuple[str, float, float]], float]:
    """(module, self ms, cumulative ms) of the slowest imports of `pai search`, and the
    total (sum over top-level imports)."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "pai_cli.cli.main", "search", "x"],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|")
        self_us, cum_us, name = self_us.strip(), cum_us.strip(), name.rstrip()[1:]
        rows.append((name, int(self_us) / 1000, int(cum_us) / 1000))
    total = sum(cum for name, _, cum in rows if not name.startswith(" "))
    return sorted(rows, key=lambda r: -r[2])[:top], total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    runs, n = (5, 2000) if a.quick else (20, 10_000)
    home = tempfile.mkdtemp(prefix="pai-bench-cli-")
    c.log(f"building {n:,} memories in {home}")
    c.build_home(home, n)
    env = {**os.environ, "PAI_HOME": home, "PAI_USER": c.USER}
    env.pop("PAI_CONFIG", None)

    results = {}
    for label, cmd in [("help", [PAI, "--help"]), ("search_help", [PAI, "search", "--help"])]:
        results[label] = wall(cmd, env, runs)
    queries = c.make_queries(runs + 2, seed=7)
    results["search"] = wall([[PAI, "search", q] for q in queries], env, runs)

    figures = {"n": n, "runs": runs}
    rows = []
    for label, target in [("help", TARGET_HELP_S), ("search_help", TARGET_HELP_S),
                          ("search", TARGET_SEARCH_S)]:
        p50, p90 = c.pct(results[label], 50), c.pct(results[label], 90)
        figures[f"{label}_p50_s"], figures[f"{label}_p90_s"] = round(p50, 4), round(p90, 4)
        rows.append([label, f"{p50:.3f}", f"{p90:.3f}", target, c.verdict(p50, target)])
    c.table(rows, ["pai ...", "p50 s", "p90 s", "target s", ""])

    imports, total = importtime(env)
    print(f"\nimporttime, `pai search \"x\"`: {total:.0f} ms of imports in all; top cumulative:")
    c.table([[m.strip(), f"{s:.1f}", f"{cum:.1f}"] for m, s, cum in imports],
            ["module", "self ms", "cum ms"])
    figures["importtime_total_ms"] = round(total, 1)
    figures["importtime_top"] = [[m.strip(), round(cum, 1)] for m, _, cum in imports]
    print(f"load {c.load()}")
    c.emit("cli_startup", figures)


if __name__ == "__main__":
    main()
