"""A memory's sentences as pieces of their own, each given a vector beside the whole text's.

One vector is the mean of a text's tokens, so a turn that says two things ("Worse. Between
the ice and the fireworks it was nonstop. But the big news is that I registered for the
Lisbon half marathon.") sits between them and is close to neither: asked about the marathon,
the greeting and the ice pull it away. The index keeps a vector per piece too and answers
with the best of a memory's vectors, so each thing it says can be found by itself (README,
"One memory, several vectors"). Short sentences ("Worse.", "Haha, yes!") say too little
alone and join their neighbour. A label the memory starts with ("Odile: ") is kept on every
piece, since who said it belongs to each thing said.
"""

from __future__ import annotations

import re

MIN_WORDS = 6
"""A sentence shorter than this joins its neighbour: measured on four sets, sentences of
every length cost friends 0.09 at R@1 (a lone "Maya: Thanks!" is close to any question
about Maya); 6 words cost nothing there and kept the gain where turns say several things."""
MAX_PIECES = 16
"""A long text is cut into at most this many pieces of consecutive sentences, so a pasted
page adds 16 vectors, not hundreds. (The embedder reads a text's first 128 tokens, so of a
very long text's pieces, too, only the start of each is seen.)"""

_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|(?<=[\u3002\uff01\uff1f])\s*")
"""After . ! ? or an ellipsis and a space, or after a full-width 。！？ (no space follows
those). A sentence must then not start in lower case ("e.g. this", "approx. ten")."""
_LABEL = re.compile(r"^(\S+(?: \S+){0,2}): (?=\S)")
"""Up to three words and a colon at the very start: a speaker, or a note's heading."""


def pieces(content: str) -> list[str]:
    """The text's pieces, in order; [] when it is one piece (its own vector is enough)."""
    label_match = _LABEL.match(content)
    label = label_match.group(1) if label_match else ""
    body = content[label_match.end():] if label_match else content
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(body.strip()):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if sentences and sentence[0].islower():
            sentences[-1] += " " + sentence
        else:
            sentences.append(sentence)
    merged: list[str] = []
    for sentence in sentences:
        # Words are counted by spaces, so text written without them (Chinese, Japanese)
        # stays one piece: its own vector, as before pieces.
        if merged and (len(merged[-1].split()) < MIN_WORDS or len(sentence.split()) < MIN_WORDS):
            merged[-1] += " " + sentence
        else:
            merged.append(sentence)
    if len(merged) <= 1:
        return []
    if len(merged) > MAX_PIECES:  # consecutive runs of near-equal length
        cuts = [round(i * len(merged) / MAX_PIECES) for i in range(MAX_PIECES + 1)]
        merged = [" ".join(merged[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    return [f"{label}: {p}" if label else p for p in merged]
