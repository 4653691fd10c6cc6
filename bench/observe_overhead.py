"""What the Lambda handlers' observability adds to a request (pai_cli/api/observe.py).

    python bench/observe_overhead.py [--n 5000]

Times, per call, p50/p90: one /chat turn's record (the "turn" JSON log line and 7 metrics
with their metadata), one "request" log line, and the flush of the metrics as one EMF
line; and, for comparison, importing the X-Ray SDK after boto3 (what `--tracing` adds to a
cold start; without it the SDK is never imported). Log and metric lines go to /dev/null.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    n = parser.parse_args().n

    from pai_cli.api import observe
    from pai_cli.records import TurnResult, Usage

    sink = open(os.devnull, "w")  # noqa: SIM115 - kept for the whole run
    observe.logger.registered_handler.setStream(sink)
    result = TurnResult("conv-1", "msg-1", usage=Usage(3000, 300, None), model="bedrock:x",
                        timings_ms={"recall": 120.0, "store": 30.0, "model": 2400.0,
                                    "first_token": 600.0, "finish": 25.0, "total": 2600.0})
    event = {"requestContext": {"routeKey": "POST /chat"}}
    observe.logger.append_keys(user_id="alice-1234567890")
    turn, request, flush = [], [], []
    with contextlib.redirect_stdout(sink):
        for _ in range(n):
            t0 = time.perf_counter()
            observe.record_turn(result)
            t1 = time.perf_counter()
            observe.log_request(event, {"statusCode": 200}, t0)
            t2 = time.perf_counter()
            observe.flush()
            t3 = time.perf_counter()
            turn.append((t1 - t0) * 1e6)
            request.append((t2 - t1) * 1e6)
            flush.append((t3 - t2) * 1e6)
    imports = []
    for _ in range(3):
        # boto3 first: the handler imports it anyway, so only the SDK's own part is counted.
        code = ("import boto3, time; t=time.perf_counter(); import aws_xray_sdk.core; "
                "print((time.perf_counter()-t)*1000)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        imports.append(float(out.stdout.strip()))
    figures = {
        "record_turn_us_p50": round(pct(turn, 0.5), 1), "record_turn_us_p90": round(pct(turn, 0.9), 1),
        "log_request_us_p50": round(pct(request, 0.5), 1),
        "flush_us_p50": round(pct(flush, 0.5), 1), "flush_us_p90": round(pct(flush, 0.9), 1),
        "per_chat_request_us_p50": round(statistics.median(
            a + b + c for a, b, c in zip(turn, request, flush, strict=True)), 1),
        "xray_sdk_import_ms_median": round(statistics.median(imports), 1),
        "loadavg": os.getloadavg(), "n": n,
    }
    print(f"observability per /chat request, {n} calls (load {os.getloadavg()[0]:.1f}):")
    print(f"  turn log line + 7 metrics: p50 {figures['record_turn_us_p50']} us, "
          f"p90 {figures['record_turn_us_p90']} us")
    print(f"  request log line:          p50 {figures['log_request_us_p50']} us")
    print(f"  EMF flush:                 p50 {figures['flush_us_p50']} us, "
          f"p90 {figures['flush_us_p90']} us")
    print(f"  X-Ray SDK import (--tracing cold start): {figures['xray_sdk_import_ms_median']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
