"""Taking secrets out of a text before it is stored, embedded or sent to a model."""

from __future__ import annotations

from pai_cli.ports import SecretFinder


def redact(text: str, finder: SecretFinder | None) -> tuple[str, list[str]]:
    """The text with each secret replaced by "[redacted KIND]", and what was redacted (one
    entry per secret, for telling the user)."""
    if finder is None:
        return text, []
    spans = sorted(finder.find(text))
    merged: list[list] = []
    for start, end, kind in spans:
        if merged and start < merged[-1][1]:  # overlapping finds are one secret
            merged[-1][1] = max(merged[-1][1], end)
            continue
        merged.append([start, end, kind])
    out, at = [], 0
    for start, end, kind in merged:
        out += [text[at:start], f"[redacted {kind}]"]
        at = end
    out.append(text[at:])
    return "".join(out), [kind for _, _, kind in merged]


def told(kinds: list[str]) -> str | None:
    """One line for the user: what was left out, and that it was."""
    if not kinds:
        return None
    counts: dict[str, int] = {}
    for k in kinds:
        counts[k] = counts.get(k, 0) + 1
    what = ", ".join(f"{n} {k}" + ("s" if n > 1 else "") for k, n in counts.items())
    return f"Redacted before storing: {what} (pai never keeps secrets)."
