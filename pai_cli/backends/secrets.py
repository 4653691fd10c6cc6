"""Finding secrets in what people type: detect-secrets' detectors (cloud keys, tokens,
private keys), card numbers that pass the Luhn check, and passwords said in words.

detect-secrets takes ~0.4 s to import, so a cheap first look decides whether a text could
hold a secret at all; ordinary sentences never pay for it."""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

_MAYBE = re.compile(
    r"\d[\d -]{10,}\d|-----BEGIN|[A-Za-z0-9_\-+/=.]{20,}|"
    r"\b(?:password|passwd|pwd|passphrase|passcode|secret|token|api[_ -]?key|bearer)\b",
    re.I)
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_SAID_PASSWORD = re.compile(
    r"\b(?:password|passwd|pwd|passphrase|passcode|pass code)\b"
    r"(?:\s+(?:for|to|of|on)\s+[\w.@-]+){0,2}"
    r"\s*(?:is|was|:|=|will be|'s)\s*[\"'`]?(?P<value>[^\s\"'`]{4,})", re.I)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----"
                  r"|.*\Z)", re.S)
_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]{24,}")
_SKIP = {"IPPublicDetector"}  # an address is not a secret in a conversation


def luhn(digits: str) -> bool:
    total, odd = 0, True
    for ch in reversed(digits):
        d = int(ch)
        if not odd:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        odd = not odd
    return total % 10 == 0


def _entropy(s: str) -> float:
    counts = {c: s.count(c) for c in set(s)}
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


@lru_cache(maxsize=1)
def _detectors() -> list[tuple[str, Any]]:
    import importlib
    import inspect
    import pkgutil

    import detect_secrets.plugins as plugins
    from detect_secrets.plugins.base import RegexBasedDetector

    found = []
    for info in pkgutil.iter_modules(plugins.__path__):
        module = importlib.import_module(f"detect_secrets.plugins.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, RegexBasedDetector) and cls is not RegexBasedDetector
                    and cls.__module__ == module.__name__ and name not in _SKIP):
                detector = cls()
                found += [(detector.secret_type, rx) for rx in detector.denylist]
    return found


class SecretScanner:
    """The SecretFinder of pai_cli/ports.py."""

    def find(self, text: str) -> list[tuple[int, int, str]]:
        if not _MAYBE.search(text):
            return []
        spans: list[tuple[int, int, str]] = []
        for m in _PEM.finditer(text):
            spans.append((m.start(), m.end(), "private key"))
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 13 <= len(digits) <= 19 and luhn(digits):
                spans.append((m.start(), m.end(), "card number"))
        for m in _SAID_PASSWORD.finditer(text):
            spans.append((m.start("value"), m.end("value"), "password"))
        for kind, rx in _detectors():
            for m in rx.finditer(text):
                if m.end() > m.start():
                    spans.append((m.start(), m.end(), kind.lower()))
        for m in _TOKEN.finditer(text):
            token = m.group()
            mixed = (any(c.isdigit() for c in token) and any(c.isupper() for c in token)
                     and any(c.islower() for c in token))
            if mixed and _entropy(token) >= 4.0:
                spans.append((m.start(), m.end(), "key or token"))
        return spans
