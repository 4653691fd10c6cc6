"""Shared helpers for the benchmarks: synthetic notes, building a PAI_HOME, timing, output.

Nothing here touches the user's real home: every home is a temp dir (or a --home given).
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

USER = "bench"
SEED = 1234

def _words(s: str) -> list[str]:
    return [" ".join(w.split()) for w in s.split("|")]


def _surnames(n: int) -> list[str]:
    """A long tail of made-up surnames, so some terms are rare (short posting lists)."""
    rng = random.Random(99)
    syl = "ka lo mi ber son ten dra vic hol mar ri sel an to ve gar ne lin os du".split()
    names = {"".join(rng.choice(syl) for _ in range(rng.randint(2, 3))).capitalize()
             for _ in range(n * 2)}
    return sorted(names)[:n]


# --- synthetic data -----------------------------------------------------------------------
# Word lists are sampled with Zipf weights (1/rank), so a few words are very common and most
# are rare: FTS5 posting lists get natural, skewed sizes rather than all-equal ones.
FIRST = """Maya Leo Sam Anna Tom Sara Ben Lucy Omar Nina Jack Emma Raj Priya Chen Mei Luca Sofia
Noah Olivia Ethan Ava Liam Mia Lucas Zoe Adam Ella Hugo Clara Felix Ruby Oscar Iris Max Lily
Jonas Hana Kenji Yuki Diego Elena Marco Julia Ali Fatima Ivan Olga Pedro Ines Tariq Amira Sven
Freya Kofi Ama Dmitri Katya Paolo Giulia Arjun Divya Tomas Marta Bruno Alma Finn Nora Theo Vera
Aaron Beth Carl Dora Eli Faye Gus Hope Ian June Kai Lena Milo Nell Otto Pia Quinn Rosa Seth Tess
Uma Vic Wade Xena Yara Zack""".split()
SURNAME = _surnames(3000)
RELATION = """daughter son wife husband sister brother mother father friend colleague boss
neighbour cousin aunt uncle grandma grandpa niece nephew partner roommate dentist doctor
teacher coach landlord plumber vet therapist mentor""".split()
PLACE = _words("""Paris|Berlin|Lisbon|the office|the gym|the park|school|the library|Tokyo|Madrid
|Rome|the beach|the lake|the cabin|London|Boston|Denver|Oslo|Prague|Vienna|Dublin|the airport
|the station|the market|the cafe|downtown|the clinic|the mall|Kyoto|Seoul|Lima|Quito|Nairobi
|Cairo|Athens|Krakow|Porto|Seville|Bergen|Utrecht|Ghent|Bruges|Lyon|Nantes|the hospital
|the museum|the zoo|the stadium|the harbour|the garden|the bakery|the pharmacy|the garage
|the bank""")
OBJECT = """keys passport laptop phone charger umbrella bike car wallet glasses jacket notebook
headphones camera backpack tent guitar piano blender kettle drill ladder printer router monitor
keyboard mouse sofa lamp rug mirror vase plant fridge oven dishwasher helmet skis kayak scooter
watch ring necklace scarf boots sneakers suitcase toolbox stroller crib microwave toaster
thermostat doorbell vacuum heater fan projector tablet""".split()
FOOD = """sushi pasta pizza ramen tacos curry salad soup burgers dumplings pho paella risotto
falafel hummus pancakes waffles oatmeal steak salmon tofu kimchi lasagna burritos noodles
croissants bagels muffins cheesecake tiramisu gelato espresso matcha chai lemonade""".split()
ACTIVITY = """running swimming yoga climbing chess painting cooking hiking cycling tennis
pottery knitting gardening baking fishing skiing surfing boxing dancing singing photography
woodworking reading writing birdwatching archery rowing sailing camping volleyball
badminton""".split()
THING = _words("""dentist appointment|job interview|team meeting|flight|train ticket|car service
|insurance renewal|tax return|rent payment|school trip|birthday party|wedding|concert|vet visit
|haircut|doctor visit|parent evening|book club|piano lesson|swim class|yoga class|project
deadline|performance review|dinner reservation|hotel booking|lease renewal""")
ADJ = """favourite old new broken blue red green cheap expensive spare tiny huge heavy light
shiny vintage borrowed second-hand""".split()
DAY = _words("""Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|tomorrow|next week
|this weekend|in March|in April|in May|in June|in July|in August|in September|in October
|in November|in December""")
ALLERGY = """peanuts shellfish gluten lactose pollen cats dust penicillin eggs soy""".split()

TEMPLATES = [
    "My {rel} {name} loves {food} and hates {food2}",
    "{name} is my {rel} and lives near {place}",
    "I left my {obj} at {place} on {day}",
    "Remember that the {thing} is on {day} at {hour} o'clock",
    "{name} recommended a place in {place} that serves great {food}",
    "My {adj} {obj} cost {num} euros and I bought it in {place}",
    "I started {act} with {name} last month and I really enjoy it",
    "The {thing} with {name} moved to {day}",
    "{name}'s birthday is {day}; maybe get a {adj} {obj}",
    "I am allergic to {allergy} so no {food} for me",
    "My {rel} {name} is allergic to {allergy}",
    "We are flying to {place} {day} for the {thing}",
    "Password hint for the {obj}: the name of my first {rel}",
    "I owe {name} {num} dollars for the {food} dinner",
    "{name} borrowed my {obj} and still has not returned it",
    "The wifi password at {place} is written under the {obj}",
    "I prefer {food} over {food2} when eating out with {name}",
    "Book a {thing} for {name} before {day}",
    "My {rel} works at {place} as a {act} instructor",
    "I want to get better at {act} this year, maybe {num} hours a week",
    "The {adj} {obj} in the hallway belongs to {name}",
    "{name} and I went {act} near {place} and it rained all day",
    "I keep the spare {obj} in the drawer next to the {obj2}",
    "My doctor said to walk {num} minutes a day and eat less {food}",
    "Call {name} about the {thing} on {day}",
    "{name} moved from {place} to {place2} in {year}",
    "I met {name} at {place} in {year} during a {act} trip",
    "Our {obj} broke again; the warranty ends {day}",
    "The code for the gate at {place} is {num}",
    "I usually have {food} for lunch on {day}",
    "{name} is vegetarian, so skip the {food} at the party",
    "My {rel} {name} plays {act} every {day}",
    "I parked the car at {place}, level {small}, spot {num}",
    "Note to self: renew the {thing} before {day}",
    "Gift idea for {name}: a {adj} {obj} or lessons in {act}",
    "The {obj} manual says to reset it by holding the button {small} seconds",
    "I sold my {adj} {obj} to {name} for {num} euros",
    "{name} told me the best {food} in {place} is near the station",
    "I have been to {place} {small} times, most recently in {year}",
    "My {rel} needs the {obj} back by {day} for the {thing}",
]
QUERY_TEMPLATES = [
    "what food does {name} like",
    "where did I leave my {obj}",
    "when is the {thing}",
    "who is allergic to {allergy}",
    "where does my {rel} live",
    "how much did the {obj} cost",
    "who borrowed my {obj}",
    "when is {name}'s birthday",
    "what does my {rel} do",
    "trip to {place}",
    "{act} with {name}",
    "gift ideas for {name}",
    "wifi password at {place}",
    "how much do I owe {name}",
    "where is the spare {obj}",
    "{food} restaurant in {place}",
    "when do I fly to {place}",
    "my {rel}'s allergies",
    "what sport does {name} play",
    "where did I park",
]


def _zipf(rng: random.Random, words: list[str]) -> str:
    weights = _WEIGHTS.get(id(words))
    if weights is None:
        weights = _WEIGHTS[id(words)] = _cum([1.0 / (r + 1) for r in range(len(words))])
    return rng.choices(words, cum_weights=weights)[0]


def _cum(ws: list[float]) -> list[float]:
    out, s = [], 0.0
    for w in ws:
        s += w
        out.append(s)
    return out


_WEIGHTS: dict[int, list[float]] = {}


def _fill(rng: random.Random, template: str) -> str:
    z = lambda words: _zipf(rng, words)  # noqa: E731
    name = z(FIRST) if rng.random() < 0.7 else f"{z(FIRST)} {z(SURNAME)}"
    return template.format(
        name=name, rel=z(RELATION), place=z(PLACE), place2=z(PLACE), obj=z(OBJECT),
        obj2=z(OBJECT), food=z(FOOD), food2=z(FOOD), act=z(ACTIVITY), thing=z(THING),
        adj=z(ADJ), day=z(DAY), allergy=z(ALLERGY), hour=rng.randint(1, 12),
        num=int(rng.paretovariate(1.2) * 10), small=rng.randint(2, 9),
        year=rng.randint(1995, 2025),
    )


THINGS = int(os.environ.get("PAI_BENCH_THINGS", "1"))
"""Notes per memory, as sentences of one text: PAI_BENCH_THINGS=2 makes every memory say two
things, so each is stored with three vectors (its own and two pieces, pai_cli/core/pieces.py),
the most a chat turn of two sentences costs; 1, the default, gives one sentence each."""


def make_texts(n: int, seed: int = SEED) -> list[str]:
    """n notes of ~8-25 words: one template, sometimes followed by a second short clause;
    with THINGS > 1, that many such notes a memory, one sentence each."""
    rng = random.Random(seed)
    out = []
    tw = _cum([1.0 / (r + 1) ** 0.5 for r in range(len(TEMPLATES))])
    for _ in range(n):
        said = []
        for _ in range(THINGS):
            t = _fill(rng, rng.choices(TEMPLATES, cum_weights=tw)[0])
            if rng.random() < 0.35:
                t += ", and " + _fill(rng, rng.choice(TEMPLATES)).lower()
            said.append(t + ".")
        out.append(" ".join(said))
    return out


def make_queries(n: int, seed: int = SEED + 1) -> list[str]:
    rng = random.Random(seed)
    return [_fill(rng, rng.choice(QUERY_TEMPLATES)) for _ in range(n)]


# --- pai in-process -----------------------------------------------------------------------
def wiring(home: str | Path):
    """A Wiring over `home` for user "bench" (PAI_HOME is set before pai reads it)."""
    os.environ["PAI_HOME"] = str(home)
    os.environ["PAI_USER"] = USER
    from pai_cli.config import load_settings
    from pai_cli.wiring import Wiring

    return Wiring(load_settings(USER))


def records(texts: list[str], offset: int = 0):
    from pai_cli.records import ImportRecord

    return [ImportRecord(line=i, content=t, category="general", created_at=None,
                         id=f"mem-b{i + offset:07d}") for i, t in enumerate(texts)]


def build_home(home: str | Path, n: int, batch: int = 2000, chunk: int = 50_000) -> dict:
    """Import n synthetic memories into `home` and compact; reuse it if already built.

    Returns timings; they are read back from bench_meta.json when the home is reused.
    """
    home = Path(home)
    meta_path = home / "bench_meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("n") == n and meta.get("things", 1) == THINGS:
            log(f"reusing {home} ({n} memories)")
            meta["reused"] = True
            return meta
        raise SystemExit(f"{home} holds {meta.get('n')} memories of {meta.get('things', 1)} "
                         f"notes, not {n} of {THINGS}: use another --home")
    home.mkdir(parents=True, exist_ok=True)
    w = wiring(home)
    svc = w.memories
    w.embedder.embed(["warm up"])
    t0 = time.perf_counter()
    added = 0
    for start in range(0, n, chunk):
        texts = make_texts(min(chunk, n - start), seed=SEED + start)
        a, _ = svc.import_records(USER, records(texts, start), batch_size=batch)
        added += a
        el = time.perf_counter() - t0
        log(f"  imported {start + len(texts):>9,}/{n:,}  {el:7.1f}s  {added / el:,.0f}/s")
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    svc.index.compact(USER)
    t_compact = time.perf_counter() - t0
    files = list((home / "index").glob("*.usearch"))
    meta = {
        "n": n, "things": THINGS, "import_s": round(t_import, 2), "import_per_s": round(n / t_import),
        "compact_s": round(t_compact, 2), "index_bytes": sum(f.stat().st_size for f in files),
        "db_bytes": (home / "pai.db").stat().st_size,
    }
    log(f"  compact {t_compact:.1f}s, index {meta['index_bytes'] / 2**20:.1f} MiB")
    w.close()
    meta_path.write_text(json.dumps(meta))
    meta["reused"] = False
    return meta


def home_for(base: str | None, n: int) -> Path:
    """DIR/n<size> under --home (shared between scripts), or a fresh temp dir."""
    if base:
        return Path(base) / f"n{n}"
    return Path(tempfile.mkdtemp(prefix=f"pai-bench-{n}-"))


# --- timing and output --------------------------------------------------------------------
def timed(fn, items, warmup: int = 20, cpu: list[float] | None = None) -> list[float]:
    """Seconds per call of fn(item), after `warmup` untimed calls. With `cpu`, the calling
    thread's CPU seconds per call are appended to it too: on a shared machine wall time
    includes waiting for a core, CPU time much less so (see the load printed beside)."""
    for it in items[:warmup]:
        fn(it)
    out = []
    for it in items:
        c0 = time.thread_time()
        t0 = time.perf_counter()
        fn(it)
        out.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.thread_time() - c0)
    return out


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[i]


def ms(x: float) -> float:
    return round(x * 1000, 3)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def table(rows: list[list], header: list[str]) -> None:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISS"


def emit(name: str, figures: dict) -> None:
    figures = {"bench": name, "load": load(), **figures}
    print(json.dumps(figures))
