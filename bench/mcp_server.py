"""`pai mcp` through the SDK's own client over stdio, at 10k memories:

- the warm `recall` tool round trip (call_tool -> result), after warm-up calls; beside it the
  same queries through MemoryService.search in-process, so the protocol's share shows;
- process start to the first answered tool call: spawn `pai mcp`, initialize, call recall,
  get the result (each a new process), with where the time goes: the SDK import alone and
  `python -X importtime` of the server's start.

    python bench/mcp_server.py [--quick] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import _common as c
import anyio

TARGET_RECALL_MS, TARGET_START_S = 10.0, 0.6
PAI = [sys.executable, "-m", "pai_cli.cli.main"]


def params(home: str):
    from mcp import StdioServerParameters

    env = {"PAI_HOME": home, "PAI_USER": c.USER, "PAI_PROVIDER": "none"}
    return StdioServerParameters(command=PAI[0], args=[*PAI[1:], "mcp"], env=env)


async def round_trips(home: str, queries: list[str], warmup: int) -> list[float]:
    from mcp import ClientSession, stdio_client

    out = []
    with open(os.devnull, "w") as err:
        async with stdio_client(params(home), errlog=err) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                for i, q in enumerate(queries):
                    t0 = time.perf_counter()
                    res = await s.call_tool("recall", {"query": q, "k": 5})
                    dt = time.perf_counter() - t0
                    if res.is_error:
                        raise SystemExit(f"recall failed: {res.content}")
                    if i >= warmup:
                        out.append(dt)
    return out


async def first_call(home: str, query: str) -> tuple[float, float]:
    """(seconds to the initialize answer, seconds to the first tool answer), from spawn."""
    from mcp import ClientSession, stdio_client

    with open(os.devnull, "w") as err:
        t0 = time.perf_counter()
        async with stdio_client(params(home), errlog=err) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                t_init = time.perf_counter() - t0
                res = await s.call_tool("recall", {"query": query, "k": 5})
                t_call = time.perf_counter() - t0
                if res.is_error:
                    raise SystemExit(f"recall failed: {res.content}")
    return t_init, t_call


def in_process(home: str, queries: list[str], warmup: int) -> list[float]:
    w = c.wiring(home)
    try:
        svc = w.memories
        return c.timed(lambda q: svc.search(c.USER, q, 5), queries, warmup)
    finally:
        w.close()


def sdk_import_s(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mcp.server.mcpserver"], check=True)
        out.append(time.perf_counter() - t0)
    return out


def importtime(home: str, top: int = 8) -> list[tuple[str, float]]:
    """Slowest imports (cumulative ms) of `pai mcp` answering one session on stdin."""
    env = {**os.environ, "PAI_HOME": home, "PAI_USER": c.USER}
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "pai_cli.cli.main", "mcp"],
                       env=env, input=b"", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rows = []
    for line in p.stderr.decode().splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            _, cum, name = line[len("import time:"):].split("|")
            rows.append((name.rstrip()[1:], int(cum) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--home", help="keep and reuse built homes under DIR")
    a = ap.parse_args()
    n, calls, starts = (2000, 60, 3) if a.quick else (10_000, 400, 12)
    warmup = 20
    home = str(c.home_for(a.home, n) if a.home else tempfile.mkdtemp(prefix="pai-bench-mcp-"))
    meta = c.build_home(home, n)
    queries = c.make_queries(calls + warmup, seed=11)

    c.log("warm recall round trips over stdio")
    trips = anyio.run(round_trips, home, queries, warmup)
    direct = in_process(home, queries, warmup)
    c.log("process start to first answered tool call")
    anyio.run(first_call, home, queries[0])  # one untimed start: the OS file cache
    firsts = [anyio.run(first_call, home, q) for q in queries[1:starts + 1]]
    inits, calls_s = [f[0] for f in firsts], [f[1] for f in firsts]
    sdk = sdk_import_s(max(3, starts // 2))

    rows = [
        ["recall round trip, warm (ms)", f"{c.ms(c.pct(trips, 50)):.2f}",
         f"{c.ms(c.pct(trips, 90)):.2f}", TARGET_RECALL_MS,
         c.verdict(c.ms(c.pct(trips, 50)), TARGET_RECALL_MS)],
        ["  MemoryService.search in-process (ms)", f"{c.ms(c.pct(direct, 50)):.2f}",
         f"{c.ms(c.pct(direct, 90)):.2f}", "", ""],
        ["start -> first tool answer (s)", f"{c.pct(calls_s, 50):.3f}",
         f"{c.pct(calls_s, 90):.3f}", TARGET_START_S, c.verdict(c.pct(calls_s, 50), TARGET_START_S)],
        ["  start -> initialize answer (s)", f"{c.pct(inits, 50):.3f}",
         f"{c.pct(inits, 90):.3f}", "", ""],
        ["  python -c 'import mcp.server.mcpserver' (s)", f"{c.pct(sdk, 50):.3f}",
         f"{c.pct(sdk, 90):.3f}", "", ""],
    ]
    print(f"pai mcp over stdio, {n:,} memories ({len(trips)} warm calls, {len(firsts)} starts)")
    c.table(rows, ["", "p50", "p90", "target", ""])
    top = importtime(home)
    print("\nimporttime of `pai mcp` (one session): top cumulative")
    c.table([[m.strip(), f"{ms:.0f}"] for m, ms in top], ["module", "cum ms"])
    print(f"load {c.load()}")
    c.emit("mcp_server", {
        "n": n, "home_reused": meta.get("reused", False),
        "recall_p50_ms": c.ms(c.pct(trips, 50)), "recall_p90_ms": c.ms(c.pct(trips, 90)),
        "search_in_process_p50_ms": c.ms(c.pct(direct, 50)),
        "first_call_p50_s": round(c.pct(calls_s, 50), 3),
        "first_call_p90_s": round(c.pct(calls_s, 90), 3),
        "initialize_p50_s": round(c.pct(inits, 50), 3),
        "sdk_import_p50_s": round(c.pct(sdk, 50), 3),
        "importtime_top": [[m.strip(), round(ms)] for m, ms in top],
    })


if __name__ == "__main__":
    main()
