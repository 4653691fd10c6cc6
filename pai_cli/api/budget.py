"""How long a /chat turn may stream: the whole invocation is budgeted, cold start included.

API Gateway's HTTP API cuts an integration 30 s after the request reached it, and that
clock runs through a cold start (the container's init happens after the request arrived).
So the deadline is counted from the time API Gateway stamped on the request
(requestContext.timeEpoch), not from when the handler started, and a reserve is kept at the
end for what follows the reply: storing it (DynamoDB + KMS) and returning the response. The
function's own remaining time (its timeout) caps it too, which is all that limits a call
through the function URL."""

from __future__ import annotations

import time
from typing import Any

API_GATEWAY_S = 30.0
"""An HTTP API integration's timeout, which cannot be raised."""
FINISH_RESERVE_S = 2.5
"""Storing the reply and usage (two DynamoDB transactions, a KMS call on a cold key cache)
and returning the response: measured well under a second on warm containers; the rest is
room for a slow call."""


def is_function_url(event: dict[str, Any]) -> bool:
    domain = str((event.get("requestContext") or {}).get("domainName") or "")
    return ".lambda-url." in domain


def chat_deadline(event: dict[str, Any], context: Any, budget_s: float = API_GATEWAY_S,
                  reserve_s: float = FINISH_RESERVE_S, *, wall: float | None = None,
                  mono: float | None = None) -> float:
    """The time.monotonic() value the reply must end by."""
    wall = time.time() if wall is None else wall
    mono = time.monotonic() if mono is None else mono
    ends: list[float] = []
    if not is_function_url(event):
        stamped = (event.get("requestContext") or {}).get("timeEpoch")
        arrived = float(stamped) / 1000.0 if isinstance(stamped, int | float) else wall
        # A clock a little ahead of API Gateway's must not give more time than there is.
        ends.append(min(arrived, wall) + budget_s)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        ends.append(wall + float(remaining()) / 1000.0)
    if not ends:
        ends.append(wall + budget_s)
    return mono + (min(ends) - reserve_s - wall)
