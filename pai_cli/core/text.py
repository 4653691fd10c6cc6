"""Turning text into keyword terms, and checking what users type."""

from __future__ import annotations

import re
from functools import lru_cache

from pai_cli.errors import InputError

MAX_TEXT_BYTES = 64 * 1024
"""A memory or message is a note, not a document: 64 KiB keeps prompts and rows bounded."""

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)

# Dropping stopwords is what keeps an OR query over BM25 fast at 100k+ rows (DESIGN.md) and
# stops "the"/"my" from dominating short conversational texts.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
    i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my
    myself no nor not of off on once only or other ought our ours ourselves out over own same
    shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this
    those through to too under until up very was wasn't we we'd we'll we're we've were weren't
    what what's when when's where where's which while who who's whom why why's will with won't
    would wouldn't you you'd you'll you're you've your yours yourself yourselves also just
    really get got s t d ll m re ve""".split()
)


ENGLISH = "_pai_snowball"
"""snowballstemmer's folder under a private package name: see _stemmer."""


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    # `import snowballstemmer` runs its __init__, which imports all of its 34 languages
    # (10-30 ms of every `pai search`). Its English module needs only two siblings, so it is
    # loaded from the same files under a package of ours whose __init__ is not run: the
    # same code, so the same stems as snowballstemmer.stemmer("english").
    import importlib
    import importlib.util
    import sys
    import types

    if ENGLISH not in sys.modules:
        spec = importlib.util.find_spec("snowballstemmer")
        if spec is None or not spec.submodule_search_locations:
            import snowballstemmer  # not a plain folder of modules: the usual way

            return snowballstemmer.stemmer("english")
        package = types.ModuleType(ENGLISH)
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules[ENGLISH] = package
    return importlib.import_module(f"{ENGLISH}.english_stemmer").EnglishStemmer()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    # The pure-Python Snowball stemmer was ~70% of import time; words repeat a lot.
    return _stemmer().stemWord(word)


def terms(text: str) -> list[str]:
    """Lowercased, stemmed content words, in order, duplicates kept (BM25 counts them)."""
    return [_stem(w.replace("'", "")) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


_SENTENCE_END = re.compile(r"(?<=[.!?？])\s+|\n+")
_ASKS = re.compile(
    r"^(?:(?:and|but|so|also|then|ok|okay|hey|hi|oh|well|pai)[\s,]+)*"
    r"(?:what|what's|whats|where|where's|which|who|who's|whom|whose|when|why|how|how's|"
    r"do|does|did|is|isn't|are|aren't|was|were|can|can't|could|will|won't|would|should|"
    r"shall|may|might|have|has|had|am)\b", re.IGNORECASE)
_TRAILING = re.compile(r"[\s\W_]*$")


def is_question(text: str) -> bool:
    """Only asks: every sentence and line is a question, starting with a question word or
    an auxiliary ("where do I live now?", "and how is Miso?", "what?!"). Anything else is
    kept, if in doubt: "I moved to Porto, ok?", "Remember: my PIN is 4471?", a line that
    tells something above one that asks."""
    parts = [x.strip() for x in _SENTENCE_END.split(text.strip()) if x.strip()]
    if not parts:
        return False
    for part in parts:
        end = _TRAILING.search(part)  # the closing punctuation, emoji and spaces
        if end is None or not {"?", "？"} & set(end.group()) or not _ASKS.match(part):
            return False
    return True


def clean_text(text: str, what: str = "text") -> str:
    """The text a user gave, stripped; refuses what cannot be stored as a record."""
    stripped = text.strip()
    if not stripped:
        raise InputError(f"The {what} is empty: give some text.")
    if "\x00" in stripped:
        raise InputError(f"The {what} contains a NUL byte: remove it and try again.")
    size = len(stripped.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise InputError(
            f"The {what} is {size:,} bytes; the limit is {MAX_TEXT_BYTES:,}. "
            "Split it into smaller notes."
        )
    try:
        stripped.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"The {what} is not valid UTF-8: re-save it as UTF-8.") from None
    return stripped


def clean_category(category: str | None, default: str = "general") -> str:
    value = (category or default).strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,39}", value):
        raise InputError(
            f"Category {category!r} is not valid: use 1-40 letters, digits, '-', '_' or '.'."
        )
    return value
