"""Per-user request limits: a token bucket per user, kept in a BucketStore (ports.py).

A bucket holds up to `burst` tokens and refills at `per_minute / 60` tokens a second; each
request takes one. The bucket is read, refilled for the time since it was written, and put
back with one token less only if nobody wrote it in between (the store compares versions).
A writer that loses that race reads again, so every admitted request is one successful
conditional write from the state the previous one left: two requests can never spend the
same token, and no decrement is lost. A refused request writes nothing.

The stored state is the bucket, not a count of requests, so it holds no history; an absent
bucket is a full one (which is also what a store that expires idle buckets gives back)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from pai_cli.ports import BucketStore, Clock
from pai_cli.records import BucketState

ATTEMPTS = 10
"""Conditional writes one request tries before giving up. A write fails only when another
succeeded since its read, so a request that gives up has seen ten others admitted: with a
burst of at most ten, a race never refuses a request the bucket had a token for; above
that, requests of one user at the very same instant beyond what ten rounds settle are told
to come back in a second rather than spin (the stage's burst is 20 for everyone)."""
CONTENDED_RETRY_S = 1.0
BACKOFF_S = 0.004
"""The first wait after a lost race, doubled each time up to 32x, with full jitter: racing
requests spread out instead of colliding again (a lost race costs one round trip, ~5 ms)."""


@dataclass(frozen=True)
class Limit:
    per_minute: float
    """Average requests a minute (the refill rate); above 0."""
    burst: int
    """Requests at once from a full bucket (its size); at least 1."""

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    """Whole tokens left after this request."""
    retry_after_s: float
    """0 when allowed; otherwise when the next token is due (or, when the bucket was too
    contended to update, a second)."""

    @property
    def retry_after_header(self) -> str:
        """HTTP's Retry-After: whole seconds, at least 1 for a refusal."""
        return str(max(1, math.ceil(self.retry_after_s))) if not self.allowed else "0"


class RateLimiter:
    def __init__(self, store: BucketStore, limit: Limit, clock: Clock,
                 attempts: int = ATTEMPTS, sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[float, float], float] = random.uniform) -> None:
        if limit.per_minute <= 0 or limit.burst < 1:
            raise ValueError("a limit needs per_minute > 0 and burst >= 1")
        self.store, self.limit, self.clock, self.attempts = store, limit, clock, attempts
        self.sleep, self.jitter = sleep, jitter

    def _full_again(self, tokens: float) -> float:
        """Seconds until a bucket with this many tokens is full (then it may be dropped)."""
        return (self.limit.burst - tokens) / self.limit.per_second

    def admit(self, user_id: str) -> Verdict:
        rate, burst = self.limit.per_second, float(self.limit.burst)
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.jitter(0.0, BACKOFF_S * 2 ** min(attempt - 1, 5)))
            now = self.clock()
            current = self.store.read(user_id)
            if current is None:
                tokens, at = burst, now
            else:
                # A clock behind the one that wrote the bucket (another container) refills
                # nothing rather than going back in time.
                at = max(now, current.at)
                tokens = min(burst, current.tokens + (at - current.at) * rate)
            if tokens < 1.0:
                return Verdict(False, 0, (1.0 - tokens) / rate)
            left = tokens - 1.0
            state = BucketState(left, at, 1 if current is None else current.version + 1)
            # Kept a minute past full: a bucket read back just before it expires is still
            # right, and one that expired is full, which it would be anyway.
            if self.store.write(user_id, state, None if current is None else current.version,
                                at + self._full_again(left) + 60.0):
                return Verdict(True, math.floor(left), 0.0)
        return Verdict(False, 0, CONTENDED_RETRY_S)
