"""Fusing keyword, vector and time evidence into one relevance in 0-1.

Each candidate (from either list) gets evidence that means the same whatever the query:
the keyword score as the store gives it (BM25 divided by the query terms' summed IDF: ~1
when the memory holds every query term once, 0 when it holds none), weighed by how far the
best candidate's cosine is from 1 (the vector's doubt), the cosine similarity of its vector,
how far that cosine is below the best candidate's, and whether the memory is from a period
the question names ("in June 2024", "last summer"); and, the same for every candidate of a
query, the best candidate's cosine. A logistic model of these says how likely the memory is
to be what was asked about. Its coefficients were fitted on three evaluation sets in bench/,
as they are and with their questions' vectors weakened (bench/conversations/fit_fusion.py,
each set weighing the same; fitting without a set changes its recall by at most 0.006 as the
sets are and 0.018 weakened, see the README's design notes), then recalibrated over
what a search shows (its first ten, on four sets), so the score is that probability where a
person reads it, and a floor under it means the same for any query.
A memory with no evidence at all (no query term, a cosine no higher than unrelated texts reach
with the embedder, not from the period)
scores 0: it is still ranked, last, when the floor is off (the memory writer shows the model
its nearest memories that way), and never passes a floor above 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

FEATURES = ("keyword_by_doubt", "cosine", "cosine_gap", "in_period", "best_cosine")
"""keyword_by_doubt is the keyword score times (1 - the best candidate's cosine) squared: a
memory's words count for more the further the nearest memory in meaning is from the
question. Fitted on the sets alone, the fusion leaned on the vector even where the vector is
weak (the held-out run's regime), and ranked below its own keyword list there; weighing the
words by the vector's doubt holds up in both (README, "When the vector is weak"). Taking the
words as they are beside it would give them a negative weight when the vector is sure: left
out, so more of the query's words never lowers a score."""


@dataclass(frozen=True)
class RelevanceModel:
    coefficients: tuple[float, ...]
    """Intercept, then one coefficient per FEATURES entry (bench/conversations/fit_fusion.py)."""
    silent_cosine: float = 0.0
    """A cosine at or below this says nothing: unrelated texts reach it with this embedder
    (bench/conversations/README.md, the floor)."""
    asked_weight: float = 0.0
    """How much the question as asked counts in the vector query beside the question less
    the words most memories hold (core/recall.vector_list; README, "The question twice").
    0 for an averaged embedding (WordLlama): with the speaker's name in, every short turn
    of theirs comes near; measured there, friends lost 0.04-0.06 at 5 and 10."""


def _rescaled(fit: tuple[float, ...], a: float, b: float) -> tuple[float, ...]:
    """A ranking fit's coefficients for sigmoid(b + a * logit): the same order of any
    candidates, the scale fitted over what a search shows (fit_fusion.calibrate). The fit
    sees every candidate, most never shown, and was too sure at the top and too doubtful
    just under the floor (README, "Calibrated where it is read")."""
    return (b + a * fit[0], *(a * w for w in fit[1:]))


RELEVANCE = _rescaled((-5.609, 9.400, 8.733, 7.766, 2.886, 0.967), a=0.653, b=-0.684)
"""WordLlama's coefficients (embedder = "local"; the Titan-embedded AWS home too, which has
no fit of its own)."""
MODELS = {
    # MiniLM (the default): its similarities are spread differently, and unrelated
    # sentences reach cosines of ~0.15 ("what is the weather like on Mars?" and "My sister
    # moved to Lisbon": 0.165), where 1% of evidence turns sharing no word with their
    # question are found.
    "sentence-transformers/all-MiniLM-L6-v2": RelevanceModel(
        _rescaled((-4.837, 8.312, 11.839, 14.048, 2.763, -2.208), a=0.639, b=-0.732),
        silent_cosine=0.15, asked_weight=0.5),
}
"""Models fitted for each embedder's cosines (PAI_BENCH_EMBEDDER=... fit_fusion.py)."""
DEFAULT = RelevanceModel(RELEVANCE)
KEYWORD_CAP = 1.5
"""A memory repeating the query's words scores past 1; more of that says nothing more."""


@dataclass(frozen=True)
class Candidate:
    memory_id: str
    keyword_rank: int | None
    keyword_score: float
    vector_rank: int | None
    vector_score: float | None
    cosine: float
    """The vector similarity, or for a memory the vector list missed the lowest similarity
    in that list (it cannot be closer than that: the list holds the nearest)."""
    best_cosine: float
    best_keyword: float
    in_period: float = 0.0
    """1 when the question names a period (timeframe.period) and the memory is from it."""
    newer: float = 0.0
    """For a question about how things are now: 0 for the oldest candidate, 1 the newest
    (measured as a feature, not used: see the README)."""


@dataclass(frozen=True)
class Fused:
    memory_id: str
    score: float
    keyword_rank: int | None
    vector_rank: int | None
    vector_score: float | None


def candidates(
    keyword: Sequence[tuple[str, float]], vector: Sequence[tuple[str, float]]
) -> list[Candidate]:
    """Both lists best first; every memory in either, once."""
    kw = {mid: (i + 1, s) for i, (mid, s) in enumerate(keyword)}
    vec = {mid: (i + 1, s) for i, (mid, s) in enumerate(vector)}
    floor = min((s for _, s in vector), default=0.0)
    best_cos = max((s for _, s in vector), default=0.0)
    best_kw = max((s for _, s in keyword), default=0.0)
    out = []
    for mid in dict.fromkeys([m for m, _ in keyword] + [m for m, _ in vector]):
        k_rank, k_score = kw.get(mid, (None, 0.0))
        v_rank, v_score = vec.get(mid, (None, None))
        out.append(Candidate(mid, k_rank, k_score, v_rank, v_score,
                             v_score if v_score is not None else floor, best_cos, best_kw))
    return out


def with_time(
    cands: Sequence[Candidate], created_at: dict[str, float],
    period: tuple[float, float] | None, current: bool = False,
) -> list[Candidate]:
    """The candidates with their time evidence, from the memories' dates."""
    if not cands or (period is None and not current):
        return list(cands)
    dates = [created_at.get(c.memory_id) for c in cands]
    known = [d for d in dates if d is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
    out = []
    for c, d in zip(cands, dates, strict=True):
        if d is None:
            out.append(c)
            continue
        inside = float(period is not None and period[0] <= d < period[1])
        newer = (d - lo) / (hi - lo) if current and hi > lo else 0.0
        out.append(replace(c, in_period=inside, newer=newer))
    return out


def model_for(embedder_id: str) -> RelevanceModel:
    return MODELS.get(embedder_id, DEFAULT)


def features(c: Candidate, names: Sequence[str] = FEATURES) -> tuple[float, ...]:
    """The named features of a candidate. Beyond FEATURES, the ones measured and left out
    (bench/conversations/fit_fusion.py takes their names)."""
    kw = min(max(c.keyword_score, 0.0), KEYWORD_CAP)
    every = {
        "keyword": kw,
        "keyword_by_doubt": kw * (1.0 - c.best_cosine) ** 2,
        "keyword_by_doubt_linear": kw * (1.0 - c.best_cosine),
        "best_cosine": c.best_cosine,
        "keyword_sq": kw * kw,
        "cosine": c.cosine,
        "cosine_gap": c.cosine - c.best_cosine,
        "in_period": c.in_period,
        "both": float(c.keyword_rank is not None and c.vector_rank is not None),
        "keyword_share": kw / min(max(c.best_keyword, 1e-9), KEYWORD_CAP),
        "keyword_rr": 1.0 / (5 + c.keyword_rank) if c.keyword_rank else 0.0,
        "vector_rr": 1.0 / (5 + c.vector_rank) if c.vector_rank else 0.0,
        "newer": c.newer,
        "keyword_gap": kw - min(max(c.best_keyword, 0.0), KEYWORD_CAP),
        "keyword_x_best": kw * min(max(c.best_keyword, 0.0), KEYWORD_CAP),
        "cosine_x_nokw": c.cosine * (1.0 - min(max(c.best_keyword, 0.0), 1.0)),
        "gap_x_nokw": (c.cosine - c.best_cosine) * (1.0 - min(max(c.best_keyword, 0.0), 1.0)),
    }
    return tuple(every[n] for n in names)


def relevance(c: Candidate, model: RelevanceModel = DEFAULT) -> float:
    """The chance the memory is what was asked about; 0 without any evidence. The linear
    model cannot say that by itself: its intercept alone is 0.01-0.02, above the 0.01 floor,
    so a memory sharing nothing with the query would be recalled beside real matches."""
    return _score(c.keyword_score, c.cosine, c.in_period, _weights(model, c.best_cosine),
                  model.silent_cosine)


def _weights(model: RelevanceModel, best_cosine: float) -> tuple[float, float, float, float]:
    """The model for one query, as (constant, keyword weight, cosine weight, period
    weight): FEATURES written out, with what depends only on the best cosine (the
    keyword's weight among it) worked out once per search instead of once per candidate."""
    b0, b_kw, b_cos, b_gap, b_period, b_best = model.coefficients
    doubt = 1.0 - best_cosine
    return (b0 + (b_best - b_gap) * best_cosine, b_kw * doubt * doubt, b_cos + b_gap,
            b_period)


def _score(keyword: float, cosine: float, in_period: float,
           weights: tuple[float, float, float, float], silent_cosine: float) -> float:
    """relevance() of those numbers: the one place the model is evaluated (it runs for
    every candidate of every search, ~100 each)."""
    if not (keyword > 0.0 or cosine > silent_cosine or in_period > 0.0):
        # No evidence: no query term, a cosine no higher than unrelated texts reach, not
        # from the period the question names.
        return 0.0
    const, w_kw, w_cos, w_period = weights
    z = const + w_kw * min(max(keyword, 0.0), KEYWORD_CAP) + w_cos * cosine + w_period * in_period
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def fuse(cands: Sequence[Candidate], model: RelevanceModel = DEFAULT) -> list[Fused]:
    """Every candidate with its relevance, best first. Ties break toward the better cosine,
    then the id."""
    scored = [(relevance(c, model), c) for c in cands]
    scored.sort(key=lambda sc: (-sc[0], -sc[1].cosine, sc[1].memory_id))
    return [Fused(c.memory_id, s, c.keyword_rank, c.vector_rank, c.vector_score)
            for s, c in scored]


def rank(
    keyword: Sequence[tuple[str, float]], vector: Sequence[tuple[str, float]],
    model: RelevanceModel = DEFAULT, created_at: dict[str, float] | None = None,
    period: tuple[float, float] | None = None,
) -> list[tuple[str, float, int | None, int | None, float | None]]:
    """fuse(with_time(candidates(keyword, vector), created_at, period), model) as
    (memory id, score, keyword rank, vector rank, vector score): the same floats in the
    same order, without a Candidate and a Fused per candidate (frozen dataclasses cost
    ~2 us each to make, ~0.25 ms of a search over ~100 candidates)."""
    floor = min((s for _, s in vector), default=0.0)
    best_cos = max((s for _, s in vector), default=0.0)
    kw = {mid: (i, s) for i, (mid, s) in enumerate(keyword, 1)}
    vec = {mid: (i, s) for i, (mid, s) in enumerate(vector, 1)}
    dated = created_at if period is not None and created_at is not None else None
    weights, silent = _weights(model, best_cos), model.silent_cosine
    rows = []
    for mid in dict.fromkeys([m for m, _ in keyword] + [m for m, _ in vector]):
        k_rank, k_score = kw.get(mid, (None, 0.0))
        v_rank, v_score = vec.get(mid, (None, None))
        cosine = v_score if v_score is not None else floor
        in_period = 0.0
        if dated is not None:
            d = dated.get(mid)
            if d is not None:
                in_period = float(period[0] <= d < period[1])  # type: ignore[index]
        score = _score(k_score, cosine, in_period, weights, silent)
        rows.append((-score, -cosine, mid, score, k_rank, v_rank, v_score))
    rows.sort()  # fuse's order: ids are unique, so the tuples never compare past them
    return [(mid, score, k_rank, v_rank, v_score)
            for _, _, mid, score, k_rank, v_rank, v_score in rows]
