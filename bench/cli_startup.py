"""Wall time of `pai` as a new process: --help, search --help, and a real search and
`memory list` over 10k.

    python bench/cli_startup.py [--quick] [--home DIR] [--source]

Each figure comes with the 1-minute load average measured while it ran, and the p50 of
the child's CPU time (user + sys): on a shared machine wall time includes waiting for a
core, CPU time much less so. Also prints `python -X importtime` for the search command:
which imports cost most.

pai's own modules are byte-compiled first (`compileall`), as `pip install` does: with
PYTHONDONTWRITEBYTECODE set (as on the shared machine) every run would otherwise compile
them from source again. `--source` skips that and removes their `__pycache__`, to see the
difference.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common as c

TARGET_HELP_S, TARGET_SEARCH_S = 0.15, 0.5
PAI = str(Path(sys.executable).with_name("pai"))
PACKAGE = Path(__file__).resolve().parent.parent / "pai_cli"


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wall(cmd: list, env: dict, runs: int, warm: int = 2) -> tuple[list[float], list[float], float]:
    """(wall seconds, child CPU seconds, 1-minute load at the end) of `runs` new processes
    after `warm` untimed ones; cmd is one command or a list to cycle through."""
    out, cpu = [], []
    for i in range(warm + runs):
        c0 = _child_cpu()
        t0 = time.perf_counter()
        p = subprocess.run(cmd[i % len(cmd)] if isinstance(cmd[0], list) else cmd, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"{cmd} failed: {p.stderr.decode()[-500:]}")
        if i >= warm:
            out.append(dt)
            cpu.append(_child_cpu() - c0)
    return out, cpu, os.getloadavg()[0]


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


def bytecode(source: bool) -> str:
    if source:
        for cache in PACKAGE.rglob("__pycache__"):
            shutil.rmtree(cache)
        return "from source (no __pycache__)"
    compileall.compile_dir(str(PACKAGE), quiet=1)
    return "byte-compiled (compileall)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--home", help="keep/reuse the built home under DIR/n<size>")
    ap.add_argument("--source", action="store_true",
                    help="run pai's modules from source, not byte-compiled")
    a = ap.parse_args()
    runs, n = (5, 2000) if a.quick else (20, 10_000)
    home = c.home_for(a.home, n)
    c.log(f"building {n:,} memories in {home}")
    c.build_home(home, n)
    env = {**os.environ, "PAI_HOME": str(home), "PAI_USER": c.USER}
    env.pop("PAI_CONFIG", None)
    compiled = bytecode(a.source)

    results = {}
    for label, cmd in [("help", [PAI, "--help"]), ("search_help", [PAI, "search", "--help"])]:
        results[label] = wall(cmd, env, runs)
    queries = c.make_queries(runs + 2, seed=7)
    results["search"] = wall([[PAI, "search", q] for q in queries], env, runs)
    results["memory_list"] = wall([PAI, "memory", "list"], env, runs)

    figures = {"n": n, "runs": runs, "bytecode": compiled}
    rows = []
    for label, target in [("help", TARGET_HELP_S), ("search_help", TARGET_HELP_S),
                          ("search", TARGET_SEARCH_S), ("memory_list", None)]:
        times, cpu, load = results[label]
        p50, p90, cpu50 = c.pct(times, 50), c.pct(times, 90), c.pct(cpu, 50)
        figures[f"{label}_p50_s"], figures[f"{label}_p90_s"] = round(p50, 4), round(p90, 4)
        figures[f"{label}_cpu_p50_s"], figures[f"{label}_load"] = round(cpu50, 4), round(load, 2)
        rows.append([label.replace("_", " "), f"{p50:.3f}", f"{p90:.3f}", f"{cpu50:.3f}",
                     f"{load:.2f}", target or "", c.verdict(p50, target) if target else ""])
    print(f"pai's modules {compiled}; {n:,} memories")
    c.table(rows, ["pai ...", "p50 s", "p90 s", "cpu p50 s", "load", "target s", ""])

    imports, total = importtime(env)
    print(f"\nimporttime, `pai search \"x\"`: {total:.0f} ms of imports in all; top cumulative "
          f"(load {os.getloadavg()[0]:.2f}):")
    c.table([[m.strip(), f"{s:.1f}", f"{cum:.1f}"] for m, s, cum in imports],
            ["module", "self ms", "cum ms"])
    figures["importtime_total_ms"] = round(total, 1)
    figures["importtime_top"] = [[m.strip(), round(cum, 1)] for m, _, cum in imports]
    print(f"load {c.load()}")
    c.emit("cli_startup", figures)


if __name__ == "__main__":
    main()
