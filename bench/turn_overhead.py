"""The chat turn's overhead outside the model call, local home with 10k memories.

    python bench/turn_overhead.py [--quick] [--memories N] [--turns N]

Two figures, p50/p90 over many turns against an instant local OpenAI-compatible server:
  enter->request: from the message entering ChatService.turn to the model request reaching the
                  server (history, embed, hybrid recall, store + queue, prompt, HTTP send);
  last-token->prompt: from the last token to when the REPL could prompt again (store the
                  reply and usage, then write the long-term memory from the queue).
Target: <= 30 ms p50 each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memories", type=int, default=10_000)
    ap.add_argument("--turns", type=int, default=60)
    args = ap.parse_args()
    n_mem = 1000 if args.quick else args.memories
    turns = 15 if args.quick else args.turns

    os.environ["PAI_HOME"] = tempfile.mkdtemp(prefix="pai-bench-turn-")
    from fakes.openai_server import Reply, openai_fake

    from pai_cli.backends.llm.openai_compat import OpenAICompatModel
    from pai_cli.config import load_settings
    from pai_cli.core.chat import TurnHooks
    from pai_cli.records import ImportRecord
    from pai_cli.wiring import Wiring

    w = Wiring(load_settings("bench"))
    topics = ["garden", "dentist", "invoice", "train", "piano", "sister", "boiler", "laptop",
              "marathon", "recipe", "school", "insurance", "holiday", "tax", "birthday"]
    records = [ImportRecord(i, f"note {i}: the {topics[i % 15]} thing with {topics[(i * 7) % 15]}"
                               f" on day {i % 28} number {i}", "general", None, None)
               for i in range(n_mem)]
    w.memories.import_records("bench", records, batch_size=2000)
    w.memories.index.compact("bench")

    arrivals: list[float] = []
    with openai_fake(*[Reply(["ok ", "done"], usage=(50, 2)) for _ in range(turns + 5)]) as (
            fake, server):
        original = fake.handle

        def timed(seen, h):  # the moment the request reaches the "model"
            arrivals.append(time.perf_counter())
            original(seen, h)

        server.handler = timed
        chat = w.chat
        chat.model = OpenAICompatModel(server.url, "bench-model")
        conv = None
        enter_to_request, last_to_prompt = [], []
        last: list[float] = []  # when each piece of the reply reached the "terminal"
        hooks = TurnHooks(on_text=lambda _piece: last.append(time.perf_counter()))
        for i in range(turns + 3):
            last.clear()
            t0 = time.perf_counter()
            result = chat.turn("bench", f"what about the {topics[i % 15]} on day {i}?", conv,
                               hooks)
            t_last = last[-1]
            chat.remember_pending("bench")
            t_end = time.perf_counter()
            conv = result.conversation_id
            if i >= 3:  # warm-up: imports, first HTTP connection, first index load
                enter_to_request.append((arrivals[-1] - t0) * 1000)
                last_to_prompt.append((t_end - t_last) * 1000)
    figures = {
        "memories": n_mem,
        "turns": turns,
        "enter_to_request_ms_p50": round(statistics.median(enter_to_request), 2),
        "enter_to_request_ms_p90": round(pct(enter_to_request, 0.9), 2),
        "last_token_to_prompt_ms_p50": round(statistics.median(last_to_prompt), 2),
        "last_token_to_prompt_ms_p90": round(pct(last_to_prompt, 0.9), 2),
        "target_ms_p50": 30,
        "loadavg": os.getloadavg(),
    }
    print(f"turn overhead, {n_mem} memories, {turns} turns (target <= 30 ms p50)")
    print(f"  enter -> request:        p50 {figures['enter_to_request_ms_p50']:7.2f} ms"
          f"   p90 {figures['enter_to_request_ms_p90']:7.2f} ms")
    print(f"  last token -> prompt:    p50 {figures['last_token_to_prompt_ms_p50']:7.2f} ms"
          f"   p90 {figures['last_token_to_prompt_ms_p90']:7.2f} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
