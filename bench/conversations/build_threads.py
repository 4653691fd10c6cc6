"""Rebuild the `threads` probe set (seeded, deterministic); not in evaluate.py's default run.

    python bench/conversations/build_threads.py      # writes threads/ beside this file
    python bench/conversations/evaluate.py --sets threads

Why it was made: in friends and diary a fact is told once among small talk, so its meaning
alone finds it, and the vector beats plain BM25 there by 0.1-0.35 R@1. The issue's held-out
figures go the other way (BM25 above MiniLM at every k). This set tried that case: one
person over about fourteen months (first person, dated), five long-running subjects each
(a garden, races, a renovation, a book club, a child's school year, cooking, a novel, the
car) told in a dozen or more messages with one specific detail each, chatter on the same
subjects, and questions about one detail ("Where did I plant the lavender?", "What was my
time in the Harbour Half?"). Why it is not in the default run: every method scores 0.94-0.96
at R@1 on it (the question names a detail only its message holds), so it tells them apart
no better than the other sets; it is kept so that figure can be checked.

The texts are written here (no corpus), and nothing is taken from a long-term conversational
memory benchmark.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20241107
PEOPLE = 9
THREADS_EACH = 5


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# Each subject: chatter (no detail), and detail makers returning (message, [(kind, question)]).
def garden(r: random.Random) -> tuple[list[str], list]:
    plants = r.sample(["hydrangeas", "lavender", "tomatoes", "dahlias", "rosemary", "sweet peas",
                       "rhubarb", "foxgloves", "peonies", "courgettes", "sunflowers", "garlic",
                       "blueberry bushes", "tulip bulbs", "chard", "runner beans", "mint",
                       "a fig tree"], 14)
    spots = r.sample(["by the back fence", "in the raised bed", "under the kitchen window",
                      "next to the old shed", "along the front path", "in the big terracotta pot",
                      "by the compost bin", "at the foot of the apple tree", "in the greenhouse",
                      "beside the pond", "in the window box", "near the gate", "on the sunny "
                      "side of the patio", "behind the bench"], 14)
    chatter = ["The garden is slowly coming together, bit by bit.",
               "Spent the whole afternoon outside in the garden again, my back is sore.",
               "The slugs have been terrible in the garden this week.",
               "Everything in the garden looks thirsty, we need rain.",
               "I keep buying more seeds than I have room for in the garden.",
               "The garden looks a bit sad after that storm."]

    makers = []
    for p, s in zip(plants, spots, strict=True):
        def make(i: int, when: str, p: str = p, s: str = s) -> tuple[str, list]:
            msg = r.choice([f"I planted the {p} {s} today, fingers crossed they take.",
                            f"Finally got the {p} in the ground, {s}.",
                            f"Put the {p} {s} this morning, the soil was perfect."])
            return msg, [("detail", f"Where did I plant the {p}?"),
                         ("when", f"When did I plant the {p}?"),
                         ("named", f"What did I plant {s}?")]
        makers.append(make)
    return chatter, makers


def running(r: random.Random) -> tuple[list[str], list]:
    races = r.sample(["Riverside 10k", "Harbour Half", "Hill Dash 5k", "Castle Trail 15k",
                      "Lakeside Marathon", "Midnight Mile", "Bridge to Bridge 10 miler",
                      "Forest Parkrun", "Coastal Ultra 50k", "Winter Cross Country"], 7)
    routes = r.sample(["along the canal towpath", "up the ridge trail", "on the beach "
                       "promenade", "round the reservoir", "through the old cemetery",
                       "on the disused railway line", "across the common",
                       "up and down the harbour steps"], 7)
    chatter = ["Legs are heavy today, I think I overdid the training.",
               "Training is going okay, slowly getting fitter.",
               "I really need new running shoes, mine are falling apart.",
               "Rest day today, just some stretching.",
               "Running in this heat is brutal."]
    makers = []
    for race in races:
        def race_msg(i: int, when: str, race: str = race) -> tuple[str, list]:
            time_ = f"{r.randint(0, 4)}:{r.randint(10, 59):02d}:{r.randint(0, 59):02d}"
            msg = r.choice([f"Ran the {race} today and finished in {time_}, really happy.",
                            f"Did the {race}: {time_}. Not my best but I'll take it."])
            return msg, [("detail", f"What was my time in the {race}?"),
                         ("when", f"When did I run the {race}?")]
        makers.append(race_msg)
    for route in routes:
        def route_msg(i: int, when: str, route: str = route) -> tuple[str, list]:
            km = r.choice([12, 14, 16, 18, 21, 24, 28])
            msg = f"Long run of {km} km {route} this morning, felt strong."
            return msg, [("detail", f"How far did I run {route}?"),
                         ("named", f"Where did I do my {km} km run?")]
        makers.append(route_msg)
    return chatter, makers


def renovation(r: random.Random) -> tuple[list[str], list]:
    rooms = r.sample(["bathroom", "hallway", "spare bedroom", "kitchen", "living room",
                      "study", "landing", "utility room"], 6)
    colours = r.sample(["sage green", "terracotta", "navy blue", "ochre", "dusty pink",
                        "off-white", "charcoal", "duck-egg blue"], 6)
    jobs = r.sample([("plumber", "the leaking boiler"), ("electrician", "the fuse box"),
                     ("roofer", "the loose slates"), ("carpenter", "the sticking back door"),
                     ("plasterer", "the cracked ceiling"), ("glazier", "the broken skylight"),
                     ("tiler", "the shower wall")], 6)
    names = r.sample(["Dmitri", "Oluwaseun", "Big Pete", "Agnieszka", "Rahul", "Siobhan",
                      "Tomasz", "Marguerite"], 6)
    chatter = ["The renovation is taking forever, dust everywhere.",
               "Living in a building site is exhausting.",
               "We went over budget on the house again this month.",
               "Spent the weekend at the DIY store, as usual.",
               "The house is starting to feel like ours."]
    makers = []
    for room, colour in zip(rooms, colours, strict=True):
        def paint(i: int, when: str, room: str = room, colour: str = colour) -> tuple[str, list]:
            msg = r.choice([f"We painted the {room} {colour} at the weekend, it looks great.",
                            f"The {room} is done: we went with {colour} paint in the end."])
            return msg, [("detail", f"What colour did we paint the {room}?"),
                         ("when", f"When did we paint the {room}?")]
        makers.append(paint)
    for (trade, thing), name in zip(jobs, names, strict=True):
        def fix(i: int, when: str, trade: str = trade, thing: str = thing,
                name: str = name) -> tuple[str, list]:
            price = r.choice([85, 120, 150, 240, 310, 450, 600, 780])
            msg = f"{name} the {trade} came round and sorted out {thing}, {price} pounds."
            return msg, [("named", f"Who fixed {thing}?"),
                         ("detail", f"How much did it cost to fix {thing}?")]
        makers.append(fix)
    return chatter, makers


def book_club(r: random.Random) -> tuple[list[str], list]:
    books = r.sample([("The Left Hand of Darkness", "Ursula K. Le Guin"),
                      ("Beloved", "Toni Morrison"), ("Kindred", "Octavia Butler"),
                      ("Never Let Me Go", "Kazuo Ishiguro"), ("White Teeth", "Zadie Smith"),
                      ("The Remains of the Day", "Kazuo Ishiguro"),
                      ("The House of the Spirits", "Isabel Allende"),
                      ("Small Gods", "Terry Pratchett"), ("Norwegian Wood", "Haruki Murakami"),
                      ("The Underground Railroad", "Colson Whitehead"),
                      ("My Brilliant Friend", "Elena Ferrante"),
                      ("Stories of Your Life", "Ted Chiang")], 10)
    chatter = ["Book club was fun tonight, lots of wine and not much reading talk.",
               "I'm behind on the book club reading again.",
               "Someone at book club brought homemade cake, amazing.",
               "Book club argued for an hour about the ending, as usual."]
    makers = []
    for title, author in books:
        def pick(i: int, when: str, title: str = title, author: str = author) -> tuple[str, list]:
            host = r.choice(["Priya", "Gareth", "Lou", "Hannah", "Mo", "Beth"])
            msg = r.choice([f"Book club picked {title} by {author} for next month, {host}'s "
                            "choice.", f"Our book club is reading {title} next, {host} "
                            "suggested it."])
            return msg, [("named", f"Who suggested {title} for book club?"),
                         ("temporal", f"Which book did the book club pick in {when}?")]
        makers.append(pick)
    return chatter, makers


def school(r: random.Random) -> tuple[list[str], list]:
    child = r.choice(["Maya", "Theo", "Ava", "Leo", "Isla", "Noah", "Zara", "Finn"])
    events = r.sample([
        ("got the part of {x} in the school play", ["the wicked witch", "a talking tree",
                                                    "the narrator", "the lion"],
         "What part did {c} get in the school play?", "When did {c} get a part in the play?"),
        ("came home with a certificate for {x}", ["best handwriting", "kindness", "reading",
                                                  "perfect attendance"],
         "What was {c}'s certificate for?", "When did {c} get a certificate?"),
        ("has a new teacher, {x}", ["Mr Okafor", "Ms Lindqvist", "Mrs Barrow", "Mr Castillo"],
         "Who is {c}'s new teacher?", "When did {c} get a new teacher?"),
        ("went on the school trip to {x}", ["the science museum", "a dairy farm",
                                            "the aquarium", "the castle ruins"],
         "Where did {c} go on the school trip?", "When was {c}'s school trip?"),
        ("joined the {x} club after school", ["chess", "robotics", "choir", "gardening"],
         "Which after-school club did {c} join?", "When did {c} join an after-school club?"),
        ("lost a tooth eating {x}", ["an apple", "a toffee", "popcorn", "a carrot"],
         "What was {c} eating when the tooth came out?", "When did {c} lose a tooth?"),
        ("made a model of {x} for homework", ["a volcano", "the solar system", "a castle",
                                              "a rainforest"],
         "What did {c} make a model of for homework?", "When did {c} make a homework model?"),
        ("picked {x} as the class pet's name", ["Nibbles", "Captain", "Biscuit", "Pebble"],
         "What is the class pet called?", "When did {c}'s class name their pet?"),
        ("scored a goal against {x} at football", ["St Mary's", "Hillcrest", "Oak Lane",
                                                   "the Rovers"],
         "Which team did {c} score against?", "When did {c} score a goal?"),
        ("is learning the {x} at school", ["recorder", "violin", "drums", "ukulele"],
         "Which instrument is {c} learning?", "When did {c} start an instrument at school?"),
    ], 9)
    chatter = [f"{child} was exhausted after school today.", f"School run chaos again, "
               f"{child} couldn't find a shoe.", f"Parents' evening for {child} is coming up.",
               f"{child} has so much homework this term."]
    makers = []
    for phrase, options, question, when_q in events:
        def ev(i: int, when: str, phrase: str = phrase, options: list = options,
               question: str = question, when_q: str = when_q) -> tuple[str, list]:
            x = r.choice(options)
            msg = f"{child} {phrase.format(x=x)}, so proud."
            return msg, [("detail", question.format(c=child)),
                         ("when", when_q.format(c=child))]
        makers.append(ev)
    return chatter, makers


def car(r: random.Random) -> tuple[list[str], list]:
    parts = r.sample(["brake pads", "clutch", "timing belt", "exhaust", "battery",
                      "windscreen wipers", "alternator", "front tyres", "radiator",
                      "headlight bulb"], 8)
    chatter = ["The car is making a funny noise again.", "I spend more on that car than on "
               "myself.", "Took the car through the car wash, first time in months.",
               "Car's fine for now, touch wood."]
    makers = []
    for part in parts:
        def fix(i: int, when: str, part: str = part) -> tuple[str, list]:
            garage = r.choice(["Kwik Fit", "the garage on Mill Road", "Dave's Motors",
                               "the dealer", "a mobile mechanic"])
            price = r.choice([40, 65, 90, 140, 220, 380, 520])
            msg = f"Had the {part} replaced at {garage}, {price} pounds."
            return msg, [("detail", f"How much did the {part} cost?"),
                         ("named", f"Where did I get the {part} done?"),
                         ("when", f"When were the car's {part} replaced?")]
        makers.append(fix)
    return chatter, makers


def cooking(r: random.Random) -> tuple[list[str], list]:
    dishes = r.sample([("a lamb tagine", "preserved lemons"), ("mushroom risotto", "porcini"),
                       ("Thai green curry", "lemongrass"), ("a plum crumble", "windfall plums"),
                       ("beef rendang", "galangal"), ("a sourdough loaf", "rye flour"),
                       ("gnocchi", "floury potatoes"), ("kimchi", "napa cabbage"),
                       ("a rhubarb fool", "forced rhubarb"), ("paella", "saffron"),
                       ("dal makhani", "black lentils")], 9)
    chatter = ["I'm trying to cook from scratch more often.", "Made a huge mess of the kitchen "
               "again, worth it.", "Cooking is my favourite way to unwind after work.",
               "I need a bigger freezer for all these leftovers."]
    makers = []
    for dish, ingredient in dishes:
        def cook(i: int, when: str, dish: str = dish, ingredient: str = ingredient
                 ) -> tuple[str, list]:
            source = r.choice(["the Saturday market", "the Turkish shop", "my neighbour",
                               "the farm shop", "the supermarket reduced aisle"])
            msg = f"Cooked {dish} tonight with {ingredient} from {source}."
            return msg, [("named", f"What did I cook with the {ingredient}?"),
                         ("detail", f"Where did I get the {ingredient}?")]
        makers.append(cook)
    return chatter, makers


def novel(r: random.Random) -> tuple[list[str], list]:
    hero = r.choice(["Inspector Vale", "Detective Moreau", "Sergeant Achterberg",
                     "DI Okonkwo"])
    beats = r.sample([("finds a bloodstained glove", "find the glove", "in the lighthouse"),
                      ("meets the informant", "meet the informant", "at the night ferry"),
                      ("discovers the forged will", "discover the will", "in the vicar's desk"),
                      ("loses the suspect", "lose the suspect", "in the fish market"),
                      ("is poisoned", "get poisoned", "at the mayor's banquet"),
                      ("uncovers the smuggling ring", "uncover the smugglers",
                       "at the old quarry"),
                      ("finds the missing diary", "find the diary", "under the chapel floor"),
                      ("confronts the twin brother", "confront the twin", "on the pier"),
                      ("decodes the letter", "decode the letter", "in the railway archive")], 8)
    chatter = ["Wrote for an hour before work, the novel is crawling along.",
               "Writer's block all week, the novel is stuck.", "I reread my first chapters "
               "and hated them, typical.", "My writing group liked the new chapter."]
    makers = []
    for chapter, (act, base, place) in enumerate(beats, 3):
        def beat(i: int, when: str, act: str = act, base: str = base, place: str = place,
                 chapter: int = chapter) -> tuple[str, list]:
            msg = f"In chapter {chapter} of my novel, {hero} {act} {place}."
            return msg, [("named", f"Where does {hero} {base} in my novel?"),
                         ("detail", f"What happens to {hero} {place}?")]
        makers.append(beat)
    return chatter, makers


SUBJECTS = [garden, running, renovation, book_club, school, car, cooking, novel]
SMALL = ["Long day at work, glad to be home.", "I slept badly again, too much coffee.",
         "It's been raining non-stop all week.", "Watched a documentary about octopuses, "
         "fascinating.", "I think I'm coming down with a cold.", "Had lunch with an old "
         "friend, we laughed a lot.", "The neighbours are having a party, it's loud.",
         "I need to sort out my email inbox, it's a disaster.", "Lovely sunny morning today.",
         "I'm trying to read less news, it helps.", "Payday finally, treated myself to a "
         "takeaway.", "Feeling a bit flat today, nothing in particular.", "Went for a walk "
         "at lunch, needed the air.", "The train was cancelled again this morning.",
         "I finally booked the dentist, been putting it off.", "Tidied the flat top to bottom."]


def build(out: Path) -> None:
    r = random.Random(SEED)
    out.mkdir(parents=True, exist_ok=True)
    questions: list[dict] = []
    for p in range(1, PEOPLE + 1):
        cid = f"threads-{p:02d}"
        subjects = r.sample(SUBJECTS, THREADS_EACH)
        pending: list[tuple[str, object]] = []  # (subject, a detail maker) or chatter
        for subject in subjects:
            chatter, makers = subject(r)
            pending += [("detail", m) for m in makers]
            pending += [("chatter", c) for c in chatter for _ in range(2)]
        pending += [("small", s) for s in SMALL for _ in range(3)]
        r.shuffle(pending)
        at = datetime(2023, 9, 1, 19, 0, tzinfo=UTC) + timedelta(days=r.randint(0, 20))
        turns, n, month_used = [], 0, {}
        per_session = 0
        for what, item in pending:
            if per_session == 0 or per_session >= r.randint(3, 7):
                at += timedelta(days=r.randint(1, 4), minutes=r.randint(0, 600))
                per_session = 0
            at += timedelta(minutes=r.randint(1, 9))
            per_session += 1
            n += 1
            tid = f"{cid}-t{n:04d}"
            if what == "detail":
                month = at.strftime("%B %Y")
                text, asks = item(n, month)  # type: ignore[operator]
                for kind, q in asks:
                    if kind == "temporal":
                        if month_used.get(q):  # two picks in one month: the month is no clue
                            continue
                        month_used[q] = tid
                    questions.append({"conversation": cid, "question": q, "evidence": [tid],
                                      "kind": kind})
            else:
                text = str(item)
            turns.append({"id": tid, "content": text, "category": "conversation",
                          "created_at": iso(at)})
        # A question asked twice in one conversation (two messages of a kind) is ambiguous.
        seen: dict[str, int] = {}
        for q in questions:
            if q["conversation"] == cid:
                seen[q["question"]] = seen.get(q["question"], 0) + 1
        questions = [q for q in questions if q["conversation"] != cid or seen[q["question"]] == 1]
        (out / f"{cid}.jsonl").write_text("".join(json.dumps(t) + "\n" for t in turns),
                                          encoding="utf-8")
    for i, q in enumerate(questions, 1):
        q["id"] = f"{q['conversation']}-q{i:04d}"
    (out / "questions.jsonl").write_text(
        "".join(json.dumps({k: q[k] for k in ("id", "conversation", "question", "evidence",
                                               "kind")}) + "\n" for q in questions),
        encoding="utf-8")
    print(f"{out}: {PEOPLE} conversations, {len(questions)} questions")


if __name__ == "__main__":
    build(HERE / "threads")
