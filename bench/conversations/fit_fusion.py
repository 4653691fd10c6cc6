"""Fit the fusion's relevance model on every set, and show it generalises (leave one set out).

    python bench/conversations/fit_fusion.py                       # pai's features
    python bench/conversations/fit_fusion.py keyword,cosine,both    # others (fusion.features)
    python bench/conversations/fit_fusion.py F1 F2 F3 ...            # fit F1; compare F2...

For each question, the candidates are what pai's search gathers (keyword and vector lists,
DEPTH each); each candidate gets the features pai computes (fusion.features) and a label
(is it an evidence turn). A logistic regression over those features is fitted on the sets
pooled (each set weighted equally), then once per set with that set left out; the table
shows recall when ranking by each fit, so a figure that holds for the held-out set is the
honest one.

Every set is gathered three times more with its questions' vectors weakened
(weaker_vector.py): at the noises of WEAK_FIT, which the fits see too (fitted only where the
vector is strong, the fusion leaned on it where it is weak, below its own keyword list:
README, "When the vector is weak"), and at HELD_OUT_LIKE, which no fit sees and where chats'
baselines match the held-out run's. Recall is shown as the sets are and at HELD_OUT_LIKE.

pai's coefficients (pai_cli/core/fusion.py, MODELS) are the pooled fit over FIT_SETS
(friends, diary and quality, as they are and weakened; chats was left out so that the ranking
never sees it), then rescaled by calibrate() over what a search shows on all four sets as
they are (the score's scale did see chats; its "calibrated without chats" row is the figure
for a scale that did not).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

from evaluate import KS, SETS, build_home, load_set  # noqa: E402
from weaker_vector import HELD_OUT_LIKE, weakened  # noqa: E402

from pai_cli.core import fusion, text, timeframe  # noqa: E402
from pai_cli.core import recall as pai_recall  # noqa: E402
from pai_cli.core.importing import _timestamp as ts  # noqa: E402

DEPTH = 50
FIT_SETS = ("friends", "diary", "quality")
WEAK_FIT = tuple(float(x) for x in os.environ.get("PAI_BENCH_WEAK_FIT", "2,5").split(","))
"""The noise of the weakened copies the fits see: either side of HELD_OUT_LIKE, which none
sees. PAI_BENCH_WEAK_FIT=3 (or 2) fits at other noises instead: see the README for what
that moves."""
SILENT = 0.0
"""The embedder's silent cosine (fusion.RelevanceModel; set in collect): at or under it,
with no other evidence, pai scores a memory 0."""


FEATURES = fusion.FEATURES
EMBEDDER = os.environ.get("PAI_BENCH_EMBEDDER") or "default"
MODEL: tuple[float, ...] = ()  # pai's RELEVANCE for the embedder the homes use (set in collect)


def collect(name: str) -> tuple[list[dict], list[dict], dict[float, list[dict]]]:
    """Per question: candidate ids, their feature rows, and which are evidence; then the
    same for the next set's questions asked of this set's first conversation, where
    nothing is evidence (questions without an answer, which a floor should turn away);
    then the set's questions again with their vectors weakened, by noise."""
    convs, questions = load_set(name)
    global MODEL, SILENT
    wiring = build_home(convs)
    svc = wiring.memories
    MODEL = fusion.model_for(svc.embedder.model_id).coefficients
    SILENT = fusion.model_for(svc.embedder.model_id).silent_cosine
    foreign_questions = load_set(SETS[(SETS.index(name) + 1) % len(SETS)])[1]
    first = next(iter(convs))
    own = _gather(svc, convs, questions)
    foreign = _gather(svc, convs, [{**q, "conversation": first, "evidence": []}
                                   for q in foreign_questions])
    clean = svc.embedder.embed
    weak = {}
    for sigma in (*WEAK_FIT, HELD_OUT_LIKE):
        svc.embedder.embed = weakened(clean, sigma)
        weak[sigma] = _gather(svc, convs, questions)
    svc.embedder.embed = clean
    return own, foreign, weak


def _gather(svc, convs: dict, questions: list[dict]) -> list[dict]:  # type: ignore[no-untyped-def]
    now = time.time()
    out = []
    for q in questions:
        user = q["conversation"]
        qterms = list(dict.fromkeys(text.terms(q["question"])))
        blinded = svc.cipher.blind(user, qterms)
        kw = svc.store.keyword_search(user, blinded, DEPTH, None, now) if blinded else []
        vec = pai_recall.vector_list(svc, user, q["question"], qterms, blinded, DEPTH,
                                     None)  # as search() does
        created = {t["id"]: ts(t["created_at"]) for t in convs[user] if "created_at" in t}
        cands = fusion.with_time(fusion.candidates(kw, vec), created,
                                 timeframe.period(q["question"], now),
                                 timeframe.asks_current(q["question"]))
        ids = [c.memory_id for c in cands]
        y = np.array([m in set(q["evidence"]) for m in ids], dtype=np.float64)
        out.append({"ids": ids, "cands": cands, "y": y, "evidence": q["evidence"],
                    "kind": q["kind"]})
    return out


def with_features(data: dict[str, list[dict]], names: tuple[str, ...]) -> None:
    for group in data.values():
        for q in group:
            q["x"] = np.array([fusion.features(c, names) for c in q["cands"]],
                              dtype=np.float64).reshape(len(q["cands"]), len(names))


def fit(groups: list[list[dict]], l2: float = 1e-5, steps: int = 60) -> np.ndarray:
    """Newton's method on weighted logistic loss; every set weighs the same in total."""
    xs, ys, ws = [], [], []
    for g in groups:
        x = np.vstack([q["x"] for q in g if len(q["x"])])
        y = np.concatenate([q["y"] for q in g if len(q["y"])])
        xs.append(x)
        ys.append(y)
        ws.append(np.full(len(y), 1.0 / len(y)))
    x = np.hstack([np.ones((sum(len(a) for a in xs), 1)), np.vstack(xs)])
    y, w = np.concatenate(ys), np.concatenate(ws)
    beta = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ beta))
        grad = x.T @ (w * (p - y)) + l2 * np.r_[0, beta[1:]]
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + l2 * np.diag(np.r_[0, np.ones(len(beta) - 1)])
        beta -= np.linalg.solve(hess, grad)
    return beta


def recall(group: list[dict], beta: np.ndarray, kind: str | None = None) -> dict[str, float]:
    found = {k: 0.0 for k in KS}
    group = [q for q in group if kind is None or q["kind"] == kind]
    group = [q for q in group if q["evidence"]]
    for q in group:
        if not len(q["ids"]):
            continue
        order = [q["ids"][i] for i in np.argsort(-_scored(q, beta), kind="stable")]
        ev = set(q["evidence"])
        for k in KS:
            found[k] += len(ev & set(order[:k])) / len(ev)
    return {f"R@{k}": round(found[k] / len(group), 3) for k in KS}


def shown(q: dict, beta: np.ndarray, depth: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(logit, label) of the candidates a search shows (the first `depth`; a memory with
    no evidence scores 0 in pai, so it is never shown above the floor and is left out)."""
    z = q["x"] @ beta[1:] + beta[0]
    none = _silent(q)
    order = [i for i in np.argsort(-z, kind="stable") if not none[i]][:depth]
    return z[order], q["y"][order]


def calibrate(groups: list[list[dict]], beta: np.ndarray,
              depth: int = 10) -> tuple[float, float]:
    """(a, b) for which sigmoid(b + a * logit) is the probability that a shown memory is
    evidence (logistic fit over the first `depth` of every question, each set weighing the
    same; 10, the k the sets are searched with). The ranking fit sees every candidate,
    most of them never shown, so its probabilities were off where a person reads them:
    too sure at the top, and too doubtful just under the floor on the conversational
    sets. (1, 0) when calibrated."""
    # fit() on one feature, the logit: each shown memory is a row, each set weighs the same.
    rows = [[dict(zip(("x", "y"), (z[:, None], y), strict=True))
             for z, y in (shown(q, beta, depth) for q in g if len(q["ids"]))] for g in groups]
    b, a = fit(rows, l2=0.0)
    return float(a), float(b)


def calibration(groups: list[list[dict]], beta: np.ndarray) -> list[tuple[str, int, float]]:
    """Predicted probability vs the share of candidates that are evidence, by bin, over
    what a search shows (shown())."""
    edges = [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.01]
    bins: list[list[float]] = [[] for _ in edges[:-1]]
    for g in groups:
        for q in g:
            if not len(q["ids"]):
                continue
            z, y = shown(q, beta)
            for p, label in zip(1 / (1 + np.exp(-z)), y, strict=True):
                b = next(j for j in range(len(edges) - 1) if p < edges[j + 1])
                bins[b].append(label)
    return [(f"{edges[j]:.2f}-{min(edges[j + 1], 1):.2f}", len(v), round(float(np.mean(v)), 3)
             if v else 0.0) for j, v in enumerate(bins)]


def calibration_error(group: list[dict], beta: np.ndarray) -> float:
    """Mean |predicted - observed| over what a search shows, weighted by bin size (bins
    0, .01, .02, .05, .1, .2, .3, .5, .7, 1)."""
    z, y = (np.concatenate(v) for v in zip(*(shown(q, beta) for q in group if len(q["ids"])),
                                            strict=True))
    p = 1 / (1 + np.exp(-z))
    edges = [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.01]
    err = sum(abs(p[m].mean() - y[m].mean()) * m.sum()
              for lo, hi in zip(edges, edges[1:], strict=False)
              if (m := (p >= lo) & (p < hi)).any())
    return float(err / len(p))


def floored_r10(group: list[dict], beta: np.ndarray, floor: float = 0.01) -> float:
    """R@10 of a search with the floor: the first ten scored at or above it."""
    total = 0.0
    for q in group:
        if not len(q["ids"]):
            continue
        p = _scored(q, beta)
        top = [q["ids"][i] for i in np.argsort(-p, kind="stable")[:10] if p[i] >= floor]
        total += len(set(q["evidence"]) & set(top)) / len(q["evidence"])
    return total / len(group)


def rescaled(beta: np.ndarray, a: float, b: float) -> np.ndarray:
    """The coefficients of sigmoid(b + a * logit): the same order, another scale."""
    return np.r_[b + a * beta[0], a * beta[1:]]


def _silent(q: dict) -> np.ndarray:
    """The candidates pai scores 0: no query term, a cosine at or under the silent one,
    not from the period asked about."""
    return np.array([not (c.keyword_score > 0 or c.cosine > SILENT or c.in_period > 0)
                     for c in q["cands"]], dtype=bool)


def _scored(q: dict, beta: np.ndarray) -> np.ndarray:
    """The relevance pai gives each candidate (0 for the silent ones)."""
    p = 1 / (1 + np.exp(-(q["x"] @ beta[1:] + beta[0])))
    p[_silent(q)] = 0.0
    return p


def floors(own: list[dict], foreign: list[dict], beta: np.ndarray) -> str:
    """R@10 with the floor applied, and the share of unanswerable questions that still show
    a memory, at each floor."""
    out = []
    for floor in FLOORS:
        shown = sum(bool(len(q["ids"])) and float(np.max(_scored(q, beta))) >= floor
                    for q in foreign)
        out.append(f"{floor:.2f}: {floored_r10(own, beta, floor):.3f}/"
                   f"{shown / len(foreign):.2f}")
    return "  ".join(out)


FLOORS = (0.01, 0.02, 0.03, 0.05, 0.08, 0.1)


def main() -> None:
    global FEATURES
    both = {name: collect(name) for name in SETS}
    data = {name: own for name, (own, _, _) in both.items()}
    unanswerable = {name: foreign for name, (_, foreign, _) in both.items()}
    weak = {(name, sigma): g for name, (_, _, w) in both.items() for sigma, g in w.items()}

    def training(names: list[str] | tuple[str, ...]) -> list[list[dict]]:
        """The named sets as they are and weakened (WEAK_FIT), each weighing the same."""
        return [data[n] for n in names] + [weak[(n, s)] for n in names for s in WEAK_FIT]

    def both_ways(group: str, beta: np.ndarray) -> str:
        """R@1/5/10 as the set is, and at HELD_OUT_LIKE."""
        return "   ".join(" ".join(f"{r[f'R@{k}']:6.3f}" for k in KS)
                          for r in (recall(data[group], beta),
                                    recall(weak[(group, HELD_OUT_LIKE)], beta)))

    def every() -> None:
        for group in (data, unanswerable, weak):
            with_features(group, FEATURES)

    head = (f"{'R@1':>6} {'R@5':>6} {'R@10':>6}   {'R@1':>6} {'R@5':>6} {'R@10':>6}"
            f"   (as it is; query vectors weakened, noise {HELD_OUT_LIKE:g})")
    # Other features to try, one comma-separated set per argument (see fusion.features).
    for names in sys.argv[2:]:
        FEATURES = tuple(names.split(","))
        every()
        print(f"\n{names}\n  {'':30} {head}")
        for name in SETS:
            held = fit(training([n for n in SETS if n != name]))
            print(f"  {name:10} without {name:19} {both_ways(name, held)}")
    FEATURES = tuple(sys.argv[1].split(",")) if len(sys.argv) > 1 else fusion.FEATURES
    every()
    pooled = fit(training(FIT_SETS))
    # Fitted with the unanswerable questions too (each set's weighing as much as its own
    # questions): a relevance that also says "nothing here is what was asked about".
    open_world = fit(training(FIT_SETS) + [unanswerable[n] for n in FIT_SETS])
    print("fitted with unanswerable questions: intercept "
          f"{open_world[0]:+.3f}, " + ", ".join(
              f"{n} {b:+.3f}" for n, b in zip(FEATURES, open_world[1:], strict=True)))
    print("\nfloor: R@10 with the floor / share of unanswerable questions showing a memory")
    for name in SETS:
        for label, beta in (("pai's RELEVANCE", np.array(MODEL) if len(MODEL) == len(pooled)
                             else pooled), ("fit with unanswerable", open_world)):
            print(f"{name:8} {label:22} {floors(data[name], unanswerable[name], beta)}")
    print()
    print(f"features: {', '.join(FEATURES)}")
    print(f"pooled fit ({', '.join(FIT_SETS)}; as they are and weakened by "
          f"{', '.join(f'{s:g}' for s in WEAK_FIT)}): intercept {pooled[0]:+.3f}, "
          + ", ".join(f"{n} {b:+.3f}" for n, b in zip(FEATURES, pooled[1:], strict=True)))
    print(f"pai's RELEVANCE for {EMBEDDER}: {MODEL}")
    print(f"\n{'set':10} {'fit':26} {head}")
    report = {}
    for name in SETS:
        others = [n for n in SETS if n != name]
        held = fit(training(others))
        held_open = fit(training(others) + [unanswerable[n] for n in others])
        fits = [("pooled (FIT_SETS)", pooled), (f"without {name}", held),
                ("unanswerable too", open_world), (f"unanswerable, w/o {name}", held_open)]
        if len(MODEL) == len(pooled):
            fits.append(("pai's RELEVANCE", np.array(MODEL)))
        for label, beta in fits:
            report[f"{name}/{label}"] = recall(data[name], beta)
            report[f"{name}/{label}/weakened"] = recall(weak[(name, HELD_OUT_LIKE)], beta)
            print(f"{name:10} {label:26} {both_ways(name, beta)}  "
                  + " ".join(f"{k} {recall(data[name], beta, k)['R@10']:.2f}"
                             for k in sorted({q['kind'] for q in data[name]})))
    ranked = np.array(MODEL) if len(MODEL) == len(pooled) else pooled
    a, b = calibrate(list(data.values()), ranked)
    print(f"\ncalibration over what a search shows: sigmoid({b:+.3f} + {a:.3f} * logit) "
          "((1, 0) when calibrated); calibrated coefficients "
          f"{tuple(round(float(v), 3) for v in rescaled(ranked, a, b))}")
    if ranked is not pooled:  # a refit's own scale, for fusion._rescaled(pooled, a, b)
        a_p, b_p = calibrate(list(data.values()), pooled)
        print(f"  the pooled fit above calibrated the same way: a {a_p:.3f} b {b_p:+.3f}")
    a5, b5 = calibrate(list(data.values()), ranked, depth=5)
    print(f"  over the first 5 instead of 10 (pai search's -n and recall_k): a {a5:.3f} "
          f"b {b5:+.3f}")
    print(f"  {'set':8} {'scale':28} {'R@10 floor':>10} {'calib. error':>12}")
    for name in SETS:
        a_, b_ = calibrate([g for n, g in data.items() if n != name], ranked)
        for label, beta in (("as fitted on every candidate", pooled), ("pai's", ranked),
                            (f"calibrated without {name}", rescaled(ranked, a_, b_))):
            print(f"  {name:8} {label:28} {floored_r10(data[name], beta):10.3f} "
                  f"{calibration_error(data[name], beta):12.4f}")
    print("\ncalibration of pai's RELEVANCE over the top 10 of every question "
          "(predicted range, candidates, share relevant):")
    for row in calibration(list(data.values()), ranked):
        print(f"  {row[0]:>10} {row[1]:7d} {row[2]:6.3f}")
    print(json.dumps({"pooled": [round(float(b), 3) for b in pooled], "recall": report}))


if __name__ == "__main__":
    main()
