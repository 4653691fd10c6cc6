"""The HTTP API's per-user limit: a middleware that admits each request through the
wiring's RateLimiter (core/rate_limit.py) before its route runs, and the 429 it answers.

The caller is resolved the way the routes resolve it (the `user` the app passes), so the
bucket is the pai user's, never a raw principal: two IAM roles mapped to one user share one
limit. Without a limiter (`pai serve`, a stack deployed with UserRequestsPerMinute 0) every
request goes through; the stage's throttle (10 req/s, burst 20) bounds all users together."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response

from pai_cli.core.rate_limit import Verdict


class RateLimited(Exception):
    def __init__(self, verdict: Verdict, per_minute: float, burst: int) -> None:
        super().__init__("rate limited")
        self.verdict, self.per_minute, self.burst = verdict, per_minute, burst


def too_many(e: RateLimited) -> Response[dict]:
    wait = e.verdict.retry_after_header
    body = {"error": f"Too many requests for this user (at most {e.per_minute:g} a minute, "
                     f"{e.burst} at once): try again in {wait} s.",
            "retry_after_s": int(wait)}
    return Response(status_code=429, content_type="application/json", body=json.dumps(body),
                    headers={"Retry-After": wait})


def install(app: Any, services: Callable[[], Any], user: Callable[[], str]) -> None:
    """Every route's requests pass the caller's bucket first; a refused one never reaches
    the route (nothing is read, written or billed for it)."""

    def admit(app_: Any, next_middleware: Callable[[Any], Any]) -> Any:
        limiter = services().rate_limiter
        if limiter is not None:
            verdict = limiter.admit(user())
            if not verdict.allowed:
                raise RateLimited(verdict, limiter.limit.per_minute, limiter.limit.burst)
        return next_middleware(app_)

    app.use(middlewares=[admit])
    app.exception_handler(RateLimited)(too_many)
