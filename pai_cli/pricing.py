"""Estimated prices, USD per million tokens (input, output), by model-id fragment.

List prices as published by the providers when this table was written; an estimate for
your own bookkeeping, not a bill. Unknown models (local servers, new ids) cost None."""

from __future__ import annotations

PRICES: list[tuple[str, float, float]] = [
    ("claude-opus-4-5", 5.0, 25.0),
    ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-3-7-sonnet", 3.0, 15.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-haiku-4-5", 1.0, 5.0),
    ("claude-3-5-haiku", 0.8, 4.0),
    ("claude-3-haiku", 0.25, 1.25),
    ("gpt-4o-mini", 0.15, 0.6),
    ("gpt-4o", 2.5, 10.0),
]


def estimate_cost(model_id: str, input_tokens: int, output_tokens: int) -> float | None:
    for fragment, price_in, price_out in PRICES:
        if fragment in model_id:
            return (input_tokens * price_in + output_tokens * price_out) / 1_000_000
    return None
