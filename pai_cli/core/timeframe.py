"""What a question says about time: a period it names, or that it asks how things are now.

Memories carry the date they were made; a question pinned to a month ("which restaurant did
I try in June 2024?", "last summer") is matched against it, and one asking how things are now
("where does my sister live now?") prefers the newer of two memories that disagree.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
_MONTH = "|".join(MONTHS) + "|" + "|".join(m[:3] for m in MONTHS if m != "may") + "|sept"
_IN_MONTH = re.compile(rf"\b(?:in|during|of|on|around|back in)\s+(?:early\s+|late\s+|mid-?\s*)?"
                       rf"({_MONTH})\.?(?:\s+(?:of\s+)?((?:19|20)\d\d))?\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?\s+((?:19|20)\d\d)\b", re.I)
_YEAR = re.compile(r"\b(?:in|during)\s+((?:19|20)\d\d)\b", re.I)
_SEASON = re.compile(r"\b(last|this)\s+(spring|summer|autumn|fall|winter)\b", re.I)
_RELATIVE = re.compile(r"\b(yesterday|last week|last month|last year|this year|this month)\b",
                       re.I)
_NOW = re.compile(r"\b(now|currently|current|these days|nowadays|at present|at the moment|"
                  r"latest|still|anymore|any more)\b", re.I)
SEASON_START = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}


def _month_index(name: str) -> int:
    key = name.lower()[:3]
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(key))


def _span(year: int, month: int, months: int = 1) -> tuple[float, float]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end_month = month - 1 + months
    end = datetime(year + end_month // 12, end_month % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), end.timestamp()


def period(question: str, now: float) -> tuple[float, float] | None:
    """The [start, end) a question names (UTC), or None. A month without a year is the most
    recent such month not in the future."""
    today = datetime.fromtimestamp(now, UTC)
    m = _MONTH_YEAR.search(question) or _IN_MONTH.search(question)
    if m:
        month = _month_index(m.group(1))
        if m.group(2):
            return _span(int(m.group(2)), month)
        year = today.year if month <= today.month else today.year - 1
        return _span(year, month)
    m = _YEAR.search(question)
    if m:
        return _span(int(m.group(1)), 1, 12)
    m = _SEASON.search(question)
    if m:
        start = SEASON_START[m.group(2).lower()]
        year = today.year
        if m.group(1).lower() == "last" or start > today.month:
            year -= 1
        return _span(year, start, 3)
    m = _RELATIVE.search(question)
    if m:
        word = m.group(1).lower()
        if word == "yesterday":
            day = (today - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            return day.timestamp(), (day + timedelta(days=1)).timestamp()
        if word == "last week":
            return (today - timedelta(days=14)).timestamp(), (today - timedelta(days=0)).timestamp()
        if word == "this month":
            return _span(today.year, today.month)
        if word == "last month":
            first = today.replace(day=1) - timedelta(days=1)
            return _span(first.year, first.month)
        if word == "this year":
            return _span(today.year, 1, 12)
        return _span(today.year - 1, 1, 12)
    return None


def asks_current(question: str) -> bool:
    """Whether the question asks how things are now (so the newest account wins)."""
    return bool(_NOW.search(question))
