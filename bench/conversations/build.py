"""Rebuild the conversational evaluation sets (seeded, deterministic).

    python bench/conversations/build.py          # writes friends/ and diary/ beside this file

Two sets, different in character, so that a method winning on both is credible:

- friends: multi-session conversations between two named people (both speakers' turns are
  memories, "Name: text"), ~25 dated sessions each over about a year. Facts come from
  templated but varied phrasings: jobs and homes that change, pets, trips, preferences,
  health; each fact is mentioned with follow-ups from the other speaker that share its words
  without answering the question, among templated small talk. Questions are third person.
- diary: one person talking to pai over about a year and a half (first person, only the
  person's own messages are memories, as in `pai chat`), built differently: the small talk is
  real human-written dialogue lines from the chatterbot-corpus package (BSD-3-Clause, see
  README.md), facts are life events told in passing, several of the same type at different
  dates (restaurants, doctors' visits, books), and questions are asked in the first person
  through a synonym table (sister -> sibling, doctor -> GP, car -> vehicle) or pinned to a
  month ("which restaurant did I try in June 2024?").

Every question records its evidence turns and a kind: fact, when, latest (a fact that changed:
the older statement is a distractor), multi (several evidence turns), preference,
paraphrase (no content word shared with its evidence apart from names, checked with
pai's own tokeniser), temporal (the answer is picked out by a date named in the question),
named (the question names the thing the evidence is about: a band, a city, a restaurant).

Needs PyYAML and `pip install chatterbot-corpus==1.3.3` (only to rebuild; the built files are
in the repository and the evaluation needs neither).
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from pai_cli.core.text import terms  # noqa: E402

SEED = 20240514

FIRST_NAMES = """Caleb Imani Rosa Dev Marisol Tobias Keiko Anders Leilani Farid Greta Hamza
Ines Joaquin Linnea Mateo Nadia Oren Priyanka Quentin Ragnhild Soren Talia Umar Vesna Wendell
Xiomara Yusuf Zelda Bastian Corinne Dashiell Esme Florian Giselle Hollis Ingrid Jasper Kalani
Lorcan Mirela Nikolai Odette Percival Rhiannon Sunniva Thaddeus Ulla Viggo Winnie""".split()
SIBLING_NAMES = """Ana Beatriz Clara Dora Elif Femi Gabe Hugo Ivo Jana Kofi Lars Mila Nils
Omar Pia Rui Sina Tao Uma Vito Wren Yara Zeno""".split()
FRIEND_NAMES = """Bram Cleo Dario Enzo Fleur Gio Hana Idris Juno Kaito Lupe Mads Noor Otis
Paz Rafe Saoirse Timo Ugo Vida""".split()
CITIES = """Lisbon Porto Valencia Seville Bologna Turin Lyon Marseille Ghent Utrecht Leipzig
Dresden Krakow Gdansk Brno Ljubljana Zagreb Tallinn Riga Vilnius Bergen Aarhus Galway Cork
Edinburgh Bristol Leeds Montreal Halifax Portland Denver Austin Savannah Tucson Oaxaca Cusco
Kyoto Osaka Busan Hanoi Chiang Mai Tbilisi Marrakesh Zanzibar""".split()
CITIES = [c for c in CITIES if c not in ("Chiang", "Mai")] + ["Chiang Mai"]
JOBS = [("nurse", "St. Brigid's Hospital"), ("paramedic", "the county ambulance service"),
        ("sous chef", "Olmo Trattoria"), ("data analyst", "Brightwater Insurance"),
        ("architect", "Halden & Voss"), ("teacher", "Maple Grove Elementary"),
        ("carpenter", "Oakline Builders"), ("pharmacist", "Greenway Pharmacy"),
        ("software developer", "Tessellate Labs"), ("librarian", "the Eastside Library"),
        ("physiotherapist", "Motion Clinic"), ("electrician", "Volt Brothers"),
        ("graphic designer", "Paper Kite Studio"), ("accountant", "Pryor Lindqvist"),
        ("veterinarian", "Pawsitive Animal Care"), ("barista", "Kettle & Crumb"),
        ("journalist", "the Harbor Gazette"), ("firefighter", "Station 12")]
PETS = [("dog", "beagle"), ("dog", "border collie"), ("dog", "dachshund"), ("dog", "greyhound"),
        ("cat", "tabby"), ("cat", "Maine Coon"), ("cat", "Siamese"), ("rabbit", "lop rabbit"),
        ("parrot", "cockatiel"), ("dog", "corgi"), ("cat", "Bengal"), ("dog", "labrador")]
PET_NAMES = """Biscuit Pepper Mochi Juniper Waffles Pickle Nutmeg Ziggy Olive Pretzel Tofu
Clementine Bean Sprocket Marble Fig Noodle Pippin""".split()
HOBBIES = """pottery rock-climbing salsa-dancing beekeeping kayaking woodturning calligraphy
fencing birdwatching sourdough-baking archery bouldering embroidery chess ukulele
watercolour-painting trail-running improv""".split()
HOBBIES = [h.replace("-", " ") for h in HOBBIES]
FOODS = """ramen tacos al pastor pho paella dumplings shakshuka pierogi bibimbap lasagna
falafel biryani katsu curry ceviche gnocchi""".split()
FOODS = ["ramen", "tacos al pastor", "pho", "paella", "dumplings", "shakshuka", "pierogi",
         "bibimbap", "lasagna", "falafel", "biryani", "katsu curry", "ceviche", "gnocchi"]
MUSIC = ["jazz", "bluegrass", "k-pop", "punk rock", "bossa nova", "techno", "opera",
         "reggae", "folk", "hip hop", "blues", "synthpop"]
AUTHORS = ["Ursula K. Le Guin", "Haruki Murakami", "Toni Morrison", "Terry Pratchett",
           "Octavia Butler", "Kazuo Ishiguro", "Zadie Smith", "Ted Chiang", "Isabel Allende",
           "Patrick O'Brian", "Elena Ferrante", "Colson Whitehead"]
DRINKS = ["oolong tea", "cold brew", "kombucha", "hot chocolate", "matcha", "ginger beer",
          "espresso", "rooibos"]
ALLERGIES = ["peanuts", "shellfish", "penicillin", "bee stings", "cats", "latex", "sesame",
             "kiwi"]
CARS = ["a used Subaru Outback", "an electric Kia Niro", "a red Fiat Panda",
        "a Toyota Prius", "a vintage Volvo 240", "a Honda Civic", "a Mini Cooper",
        "a Skoda Octavia"]
BANDS = ["the Arctic Monkeys", "Fleetwood Mac", "Khruangbin", "Vampire Weekend",
         "Bon Iver", "Rosalia", "the National", "Little Simz", "Tame Impala", "Phoebe Bridgers"]
SPORTS_EVENTS = ["a half marathon", "a 10k charity run", "a triathlon", "a cycling sportive",
                 "an open-water swim", "a climbing competition"]
INJURIES = [("wrist", "fell off my bike"), ("ankle", "slipped on the stairs"),
            ("collarbone", "crashed while skiing"), ("finger", "shut it in a car door"),
            ("toe", "dropped a cast-iron pan on it")]

DAYS_AGO = [("yesterday", 1), ("last weekend", 6), ("two days ago", 2), ("last Friday", 4),
            ("this morning", 0), ("a week ago", 7), ("last Tuesday", 5), ("on Sunday", 3)]


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def month_name(dt: datetime) -> str:
    return dt.strftime("%B %Y")


# -- shared structures ---------------------------------------------------------------------
@dataclass
class Turn:
    id: str
    speaker: str
    text: str
    at: datetime

    def content(self, with_speaker: bool) -> str:
        return f"{self.speaker}: {self.text}" if with_speaker else self.text


@dataclass
class Question:
    id: str
    conversation: str
    question: str
    evidence: list[str]
    kind: str


@dataclass
class Conversation:
    id: str
    speakers: list[str]
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


def content_terms(text: str, names: set[str]) -> set[str]:
    drop = {t for n in names for t in terms(n)}
    return set(terms(text)) - drop


def shares_nothing(question: str, evidence: list[str], names: set[str]) -> bool:
    q = content_terms(question, names)
    return all(not (q & content_terms(e, names)) for e in evidence)


# -- friends: two named people ----------------------------------------------------------------
SMALL_TALK = [
    "Ugh, this week has been so long. Work just keeps piling up.",
    "Did you catch the game on {day}? What a finish.",
    "The weather here has been all over the place, sunny one minute and pouring the next.",
    "I've been binge-watching a crime series, I can't stop.",
    "Any plans for the weekend?",
    "Not much, probably just resting and catching up on sleep.",
    "I tried that new bakery near my place, the croissants were decent.",
    "Traffic was a nightmare today, it took me an hour to get home.",
    "I really need a holiday soon.",
    "How's everything going on your end?",
    "Pretty good, just busy as always!",
    "Haha, same here. Life is hectic.",
    "I finally cleaned out the garage, it took the whole afternoon.",
    "My phone screen cracked again, I need a better case.",
    "I've been trying to drink more water and go to bed earlier.",
    "Do you want to grab coffee sometime next week?",
    "Sure, let me check my schedule and get back to you.",
    "I started a new podcast about history, it's really good.",
    "We had a power cut last night, so we played board games by candlelight.",
    "My neighbour's been renovating, the drilling starts at 7 every day.",
    "I'm so tired today, I barely slept.",
    "That sounds rough. Hope you get some rest tonight.",
    "Thanks! I'll try.",
    "I've been meaning to call you for ages.",
    "Honestly, I've just been taking it easy lately.",
    "It's been a while! How have you been?",
    "Good to hear from you! What's new?",
    "I made soup for the first time in months, it was nice and warming.",
    "The kids next door built a massive snowman, it's still standing.",
    "We're thinking about repainting the living room, maybe a soft green.",
    "I got stuck in a meeting that could have been an email, again.",
    "I keep forgetting to water my plants, they're not happy with me.",
    "I'm reading a few chapters every night before bed, it helps me switch off.",
    "Let's catch up properly soon, I miss our chats.",
    "Same! Talk soon.",
    "Take care, and say hi to everyone for me.",
    "My cousin keeps talking about visiting {city} next year.",
    "A colleague just came back from {city} and won't stop showing photos.",
    "There was a documentary about {city} on TV last night.",
    "Someone at work is obsessed with {food}, it's all they eat.",
    "My neighbour got a {pet} and it barks all night.",
    "I walked past a {music} concert in the park, it was packed.",
    "Do you know anyone who's been to {city}? I'm curious about it.",
    "My boss wants us all to do {event} for charity, no thanks.",
    "I saw an article saying {food} is the trendiest dish this year.",
    "Work is sending someone to {city} for a conference.",
]
REACTIONS = [
    "That's amazing, {a}!", "Oh wow, I had no idea.", "No way! Tell me more.",
    "I'm so happy for you!", "That sounds wonderful.", "Ha, that's so you.",
    "Oh no, I'm sorry to hear that.", "Good for you!", "That's a big change!",
]


class Friends:
    """Multi-session conversations between two named people."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def persona(self, name: str, used: dict[str, set]) -> dict:
        r = self.rng

        def pick(pool: list, key: str):  # distinct within a conversation where possible
            options = [x for x in pool if x not in used.setdefault(key, set())] or pool
            value = r.choice(options)
            used[key].add(value)
            return value

        sib_rel = r.choice(["sister", "brother"])
        jobs = [pick(JOBS, "job"), pick(JOBS, "job")]
        return {
            "name": name, "sib_rel": sib_rel, "sib": pick(SIBLING_NAMES, "sib"),
            "sib_cities": [pick(CITIES, "city"), pick(CITIES, "city")],
            "jobs": jobs, "pet": pick(PETS, "pet"), "pet_name": pick(PET_NAMES, "petname"),
            "hobby": pick(HOBBIES, "hobby"), "food": pick(FOODS, "food"),
            "music": pick(MUSIC, "music"), "author": pick(AUTHORS, "author"),
            "drink": pick(DRINKS, "drink"), "allergy": pick(ALLERGIES, "allergy"),
            "car": pick(CARS, "car"), "band": pick(BANDS, "band"),
            "trips": [pick(CITIES, "city") for _ in range(3)],
            "event": pick(SPORTS_EVENTS, "event"), "injury": r.choice(INJURIES),
            "friend": pick(FRIEND_NAMES, "friend"),
        }

    # Each fact: a list of (statement variants, follow-up lines) and its questions.
    def facts(self, p: dict) -> list[dict]:
        a, sr, sib = p["name"], p["sib_rel"], p["sib"]
        (job0, org0), (job1, org1) = p["jobs"]
        kind_pet, breed = p["pet"]
        c0, c1 = p["sib_cities"]
        t = [p["trips"][0], p["trips"][1], p["trips"][2]]
        pron = {"sister": "she", "brother": "he"}[sr]
        return [
            {"key": "sib_move0", "say": [
                f"My {sr} {sib} lives in {c0} now, {pron} loves it there.",
                f"I visited {sib} in {c0} {{when}}, {pron}'s settled in really well.",
                f"{sib}, my {sr}, finally found a flat in {c0}.",
            ], "follow": [f"{c0}! I've heard it's beautiful.", f"How is {sib} finding {c0}?"],
             "qs": []},
            {"key": "sib_move1", "say": [
                f"Big news: my {sr} {sib} just moved from {c0} to {c1}.",
                f"{sib} packed up everything and relocated to {c1} {{when}}.",
                f"My {sr} left {c0} for good, {pron}'s living in {c1} now.",
            ], "follow": [f"Wow, {c1}? That's a big move for {sib}.", "Does your family mind?"],
             "qs": [
                ("named", f"What did {a} say about {sib} and {c1}?"),
                ("latest", f"Where does {a}'s {sr} live now?"),
                ("latest", f"Which city is {sib} living in these days?"),
                ("paraphrase", f"In what town is {a}'s sibling based at present?"),
                ("when", f"When did {a}'s {sr} move to {c1}?"),
            ]},
            {"key": "job0", "say": [
                f"I've been working as a {job0} at {org0} for a few years now.",
                f"Long shift at {org0} today, being a {job0} is exhausting some days.",
                f"Work at {org0} is fine, I still like being a {job0}.",
            ], "follow": ["That sounds demanding.", f"I could never be a {job0}!"], "qs": [
                ("named", f"What was {a}'s job at {org0}?"),
                ("fact", f"What did {a} do for work at the start of the year?"),
            ]},
            {"key": "job1", "say": [
                f"I handed in my notice! Starting as a {job1} at {org1} next month.",
                f"First week as a {job1} at {org1} done, and I already love it.",
                f"I got the offer from {org1} {{when}}: I'm going to be a {job1}!",
            ], "follow": [f"Congrats on {org1}! What made you switch?",
                          "New job nerves are the worst, you'll be great."], "qs": [
                ("named", f"What role did {a} take at {org1}?"),
                ("latest", f"Where does {a} work now?"),
                ("latest", f"What is {a}'s current job?"),
                ("paraphrase", f"How does {a} earn a living these days?"),
                ("when", f"When did {a} get the offer from {org1}?"),
            ]},
            {"key": "pet", "say": [
                f"We adopted a {breed} {{when}}! We're calling {kind_pet == 'cat' and 'her' or 'him'} "
                f"{p['pet_name']}.",
                f"Meet {p['pet_name']}, our new {breed}. Adopted from the shelter {{when}}.",
                f"So I finally did it, I brought home a little {breed} named {p['pet_name']}.",
            ], "follow": [f"A {kind_pet}! Send me pictures!",
                          f"{p['pet_name']} is such a cute name."], "qs": [
                ("named", f"What kind of animal is {p['pet_name']}?"),
                ("fact", f"What is the name of {a}'s {kind_pet}?"),
                ("fact", f"What breed is {a}'s pet?"),
                ("when", f"When did {a} adopt {p['pet_name']}?"),
                ("paraphrase", f"What did {a} call the animal that joined the household?"),
            ]},
            {"key": "hobby", "say": [
                f"I signed up for a {p['hobby']} class at the community centre, first session was {{when}}.",
                f"I've picked up {p['hobby']}, it's the most relaxing thing I've tried in ages.",
                f"Guess who's doing {p['hobby']} twice a week now? Me!",
            ], "follow": [f"{p['hobby'].capitalize()}? I'd love to try that.",
                          "How did you get into that?"], "qs": [
                ("named", f"What did {a} say about {p['hobby']}?"),
                ("fact", f"What hobby did {a} take up?"),
                ("when", f"When did {a} start {p['hobby']}?"),
                ("paraphrase", f"Which pastime has {a} been enjoying lately?"),
            ]},
            {"key": "food", "say": [
                f"Honestly nothing beats {p['food']}, I could eat it every single day.",
                f"My all-time favourite dish is {p['food']}, no contest.",
                f"I had {p['food']} again tonight. I'm obsessed.",
            ], "follow": [f"{p['food'].capitalize()} is great, where do you get it?",
                          "You always order that!"], "qs": [
                ("named", f"How often does {a} eat {p['food']}?"),
                ("preference", f"What is {a}'s favourite food?"),
                ("paraphrase", f"Which meal does {a} crave more than any other?"),
            ]},
            {"key": "music", "say": [
                f"I've been listening to so much {p['music']} lately, it's my go-to.",
                f"Nothing relaxes me like {p['music']} on a Sunday afternoon.",
                f"I made a new {p['music']} playlist, it's all I play in the car.",
            ], "follow": ["Send me the playlist!", f"I never got into {p['music']}."], "qs": [
                ("named", f"When does {a} listen to {p['music']}?"),
                ("preference", f"What kind of music does {a} like?"),
                ("paraphrase", f"Which genre is on repeat for {a}?"),
            ]},
            {"key": "author", "say": [
                f"I'm rereading {p['author']}, still my favourite writer.",
                f"Anything by {p['author']} and I'm happy for a whole weekend.",
            ], "follow": [f"I've never read {p['author']}, where should I start?"], "qs": [
                ("named", f"What does {a} think of {p['author']}?"),
                ("preference", f"Who is {a}'s favourite author?"),
                ("paraphrase", f"Whose novels does {a} love most?"),
            ]},
            {"key": "drink", "say": [
                f"I've swapped my usual for {p['drink']}, I have it every morning now.",
                f"Can't start the day without a {p['drink']}.",
            ], "follow": [f"{p['drink'].capitalize()}? Interesting choice."], "qs": [
                ("named", f"How often does {a} have {p['drink']}?"),
                ("preference", f"What does {a} like to drink in the morning?"),
            ]},
            {"key": "allergy", "say": [
                f"Turns out I'm allergic to {p['allergy']}, the doctor confirmed it {{when}}.",
                f"I had a bad reaction and found out I'm allergic to {p['allergy']}.",
            ], "follow": ["That's scary, glad you found out.", "Do you carry an EpiPen now?"],
             "qs": [
                ("named", f"How did {a} learn about the {p['allergy']}?"),
                ("fact", f"What is {a} allergic to?"),
                ("when", f"When did {a} find out about the {p['allergy']} allergy?"),
                ("paraphrase", f"What gives {a} a bad physical response?"),
            ]},
            {"key": "car", "say": [
                f"I finally bought a car: {p['car']}. Picked it up {{when}}.",
                f"We traded in the old hatchback for {p['car']}.",
            ], "follow": ["Road trip soon?", "How does it drive?"], "qs": [
                ("named", f"What did {a} say about the {p['car'].split(' ', 1)[1]}?"),
                ("fact", f"What car did {a} buy?"),
                ("paraphrase", f"Which vehicle does {a} own now?"),
                ("when", f"When did {a} pick up the new car?"),
            ]},
            {"key": "concert", "say": [
                f"I saw {p['band']} live {{when}}, best concert of my life.",
                f"Got tickets to {p['band']} and the show was incredible.",
            ], "follow": [f"Jealous! I love {p['band']}.", "Was it loud?"], "qs": [
                ("named", f"What did {a} think of the {p['band']} show?"),
                ("fact", f"Which band did {a} see live?"),
                ("when", f"When did {a} see {p['band']}?"),
            ]},
            {"key": "trip0", "say": [
                f"Just got back from {t[0]}, the food there was unreal.",
                f"We spent five days in {t[0]} {{when}}, I didn't want to leave.",
            ], "follow": [f"{t[0]} is on my list!", "Did you take lots of photos?"], "qs": [
                ("named", f"What did {a} enjoy in {t[0]}?"),
                ("when", f"When did {a} go to {t[0]}?"),
            ]},
            {"key": "trip1", "say": [
                f"I'm writing to you from {t[1]}! Work trip, but I sneaked in some sightseeing.",
                f"Back from a long weekend in {t[1]}, my feet hurt from all the walking.",
            ], "follow": [f"How was {t[1]}?"], "qs": [
                ("named", f"Why was {a} in {t[1]}?"),
                ("when", f"When was {a} in {t[1]}?")]},
            {"key": "trip2", "say": [
                f"Booked a last-minute escape to {t[2]}, flew out {{when}}.",
                f"{t[2]} was gorgeous, we hiked every day.",
            ], "follow": [f"{t[2]}? Lucky you."], "qs": [
                ("named", f"What did {a} do in {t[2]}?"),
            ]},
            {"key": "event", "say": [
                f"I finished {p['event']} {{when}}! Slow, but I crossed the line.",
                f"Did {p['event']} this weekend, my legs are still sore.",
            ], "follow": ["You're an athlete now!", "How long did you train?"], "qs": [
                ("named", f"How did {a}'s {p['event'].split(' ', 1)[1]} go?"),
                ("fact", f"What endurance event did {a} complete?"),
                ("when", f"When did {a} do {p['event']}?"),
                ("paraphrase", f"Which race did {a} take part in?"),
            ]},
            {"key": "injury", "say": [
                f"I broke my {p['injury'][0]}: I {p['injury'][1]} {{when}}.",
                f"Bad news, I {p['injury'][1]} and my {p['injury'][0]} is fractured.",
            ], "follow": ["Oh no! Heal fast.", "Are you in a cast?"], "qs": [
                ("named", f"How did {a} hurt their {p['injury'][0]}?"),
                ("fact", f"What did {a} injure?"),
                ("when", f"When did {a} break their {p['injury'][0]}?"),
                ("paraphrase", f"Which bone did {a} hurt?"),
            ]},
            {"key": "friend", "say": [
                f"My friend {p['friend']} is getting married in the spring, "
                "I'm a bridesmaid-slash-best-person.",
                f"{p['friend']} asked me to give a speech at the wedding, I'm nervous.",
            ], "follow": [f"{p['friend']} getting married, how lovely!", "Write the speech early!"],
             "qs": [
                ("named", f"What is happening with {a}'s friend {p['friend']}?"),
                ("fact", f"Whose wedding is {a} giving a speech at?")]},
        ]

    def build(self, index: int) -> Conversation:
        r = self.rng
        names = r.sample(FIRST_NAMES, 2)
        conv = Conversation(f"friends-{index:02d}", names)
        used: dict[str, set] = {}
        people = [self.persona(n, used) for n in names]
        conv.names = set(names) | {p["sib"] for p in people} | {p["friend"] for p in people} \
            | {p["pet_name"] for p in people}
        start = datetime(2023, 1, 9, 18, 0, tzinfo=UTC) + timedelta(days=r.randint(0, 120))
        n_sessions = 30
        dates = []
        at = start
        for _ in range(n_sessions):
            dates.append(at.replace(hour=r.choice([8, 12, 18, 20, 21]), minute=r.randint(0, 59)))
            at += timedelta(days=r.randint(7, 20))
        # Spread each person's facts over the sessions; ordered pairs stay in order.
        plan: dict[int, list[tuple[int, dict]]] = {i: [] for i in range(n_sessions)}
        for who, p in enumerate(people):
            facts = self.facts(p)
            slots = r.sample(range(n_sessions), len(facts))
            by_key = {f["key"]: f for f in facts}
            order = dict(zip([f["key"] for f in facts], slots, strict=True))
            for first, second in (("sib_move0", "sib_move1"), ("job0", "job1")):
                if order[first] > order[second]:
                    order[first], order[second] = order[second], order[first]
            for key, slot in order.items():
                plan[slot].append((who, by_key[key]))
        evidence: dict[tuple[int, str], list[Turn]] = {}
        tid = 0
        for s, day in enumerate(dates):
            at = day
            lines: list[tuple[int, str, str | None, dict | None]] = []
            talk = iter(r.sample(SMALL_TALK, 12))
            for _ in range(r.randint(3, 6)):
                lines.append((len(lines) % 2, next(talk), None, None))
            for who, fact in plan[s]:
                when_text, _ = r.choice(DAYS_AGO)
                say = r.choice(fact["say"]).replace("{when}", when_text)
                lines.append((who, say, fact["key"], fact))
                other = 1 - who
                lines.append((other, r.choice(REACTIONS).format(a=names[who]) + " "
                              + r.choice(fact["follow"]), None, None))
                if r.random() < 0.5:
                    lines.append((who, r.choice(["Thanks! It's been a lot.", "Yeah, I'm really "
                                  "pleased.", "I'll tell you all about it next time.",
                                  "Haha, we'll see how it goes."]), None, None))
            for _ in range(r.randint(3, 6)):
                lines.append((r.randint(0, 1), next(talk), None, None))
            for who, line, key, _fact in lines:
                tid += 1
                filled = line.format(
                    day=r.choice(["Saturday", "Sunday", "Friday"]), city=r.choice(CITIES),
                    food=r.choice(FOODS), pet=r.choice(PETS)[1], music=r.choice(MUSIC),
                    event=r.choice(SPORTS_EVENTS)) if key is None else line
                turn = Turn(f"{conv.id}-t{tid:04d}", names[who], filled, at)
                conv.turns.append(turn)
                if key:
                    evidence.setdefault((who, key), []).append(turn)
                at += timedelta(minutes=r.randint(1, 6))
        qn = 0
        for who, p in enumerate(people):
            for fact in self.facts(p):
                ev = evidence.get((who, fact["key"]))
                if not ev:
                    continue
                for kind, question in fact["qs"]:
                    ev_texts = [e.text for e in ev]
                    if kind == "paraphrase" and not shares_nothing(question, ev_texts, conv.names):
                        kind = "fact"
                    qn += 1
                    conv.questions.append(Question(f"{conv.id}-q{qn:03d}", conv.id, question,
                                                   [e.id for e in ev], kind))
            # Across sessions: questions whose answer is spread over several turns.
            trips = [evidence[(who, k)][0] for k in ("trip0", "trip1", "trip2")
                     if (who, k) in evidence]
            for question in (f"Which cities has {p['name']} travelled to this year?",
                             f"Where has {p['name']} been on trips?"):
                qn += 1
                conv.questions.append(Question(f"{conv.id}-q{qn:03d}", conv.id, question,
                                               [t.id for t in trips], "multi"))
            sib = [evidence[(who, k)][0] for k in ("sib_move0", "sib_move1")]
            qn += 1
            conv.questions.append(Question(
                f"{conv.id}-q{qn:03d}", conv.id,
                f"Which cities has {p['name']}'s {p['sib_rel']} {p['sib']} lived in?",
                [t.id for t in sib], "multi"))
            jobs = [evidence[(who, k)][0] for k in ("job0", "job1")]
            qn += 1
            conv.questions.append(Question(
                f"{conv.id}-q{qn:03d}", conv.id, f"What jobs has {p['name']} had?",
                [t.id for t in jobs], "multi"))
            # Time-aware: which of the trips happened in a named month.
            for t in trips:
                month = month_name(t.at)
                if sum(month_name(x.at) == month for x in trips) == 1:
                    qn += 1
                    conv.questions.append(Question(
                        f"{conv.id}-q{qn:03d}", conv.id,
                        f"Which city did {p['name']} visit in {month}?", [t.id], "temporal"))
        return conv


# -- diary: one person talking to pai -----------------------------------------------------------
CHATTER_FILES = ("conversations", "emotion", "food", "gossip", "greetings", "humor",
                 "literature", "money", "movies", "sports", "psychology", "health")
_NOT_PERSONAL = re.compile(r"\b(robot|robots|ai|computer|computers|chatbot|bot|program|"
                           r"programmed|machine|machines|software|human|humans|android|"
                           r"artificial|intelligence|algorithm|electricity|power supply|"
                           r"the net|chat|talk to|master|botmaster)\b|^(you|i) are |^i am ",
                           re.I)


def load_chatter() -> list[str]:
    try:
        import chatterbot_corpus
        import yaml
    except ImportError:
        raise SystemExit("Rebuilding the diary set needs `pip install PyYAML "
                         "chatterbot-corpus==1.3.3`.") from None
    base = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    lines: list[str] = []
    for name in CHATTER_FILES:
        data = yaml.safe_load((base / f"{name}.yml").read_text(encoding="utf-8"))
        for conv in data.get("conversations", []):
            for line in conv:
                if isinstance(line, str) and 12 <= len(line) <= 200 \
                        and not _NOT_PERSONAL.search(line):
                    lines.append(" ".join(line.split()))
    return sorted(set(lines))


# Things the person may call by another name when asking later.
SYNONYMS = {"sister": "sibling", "brother": "sibling", "doctor": "GP", "car": "vehicle",
            "flat": "apartment", "dentist": "tooth doctor", "restaurant": "place to eat",
            "boss": "manager", "book": "novel", "gym": "fitness club", "son": "kid",
            "daughter": "kid", "film": "movie", "holiday": "vacation"}
RESTAURANTS = ["Casa Lumbre", "Nonna Pia", "The Salt Shed", "Pho Saigon Corner", "Kinboshi",
               "Little Lebanon", "The Copper Pot", "Taqueria Alba", "Marrow & Vine", "Golden Lotus",
               "Brasserie Hugo", "Smoke Ring BBQ", "Udon Yama", "The Olive Branch"]
DISHES = ["lamb tagine", "mushroom risotto", "duck ramen", "fish tacos", "butter chicken",
          "aubergine parmigiana", "beef pho", "mezze platter", "brisket", "tonkatsu"]
DOCTORS = ["Dr. Okafor", "Dr. Lindqvist", "Dr. Moreau", "Dr. Banerjee", "Dr. Castillo",
           "Dr. Whitlock"]
BOOKS = ["The Dispossessed", "Klara and the Sun", "Piranesi", "The Overstory",
         "A Gentleman in Moscow", "Pachinko", "The Remains of the Day", "Circe", "Stoner",
         "The Name of the Wind", "Homegoing", "Station Eleven"]
FILMS = ["Past Lives", "Paddington 2", "Arrival", "Spirited Away", "The Grand Budapest Hotel",
         "Parasite", "Amelie", "Whiplash", "Moonlight", "Knives Out"]
GYMS = ["Ironworks", "Peak Fitness", "the YMCA on Elm Street", "Pulse Studio", "FlexHub"]
STREETS = ["Alder Street", "Brook Lane", "Cedar Row", "Dunmore Road", "Elmwood Avenue",
           "Foxglove Close", "Granary Square", "Hawthorn Terrace"]


class Diary:
    """One person's messages to pai over many months: life told in passing."""

    def __init__(self, rng: random.Random, chatter: list[str]) -> None:
        self.rng = rng
        self.chatter = chatter

    def build(self, index: int) -> Conversation:
        r = self.rng
        me = r.choice(FIRST_NAMES)
        conv = Conversation(f"diary-{index:02d}", [me])
        sib_rel = r.choice(["sister", "brother"])
        sib = r.choice(SIBLING_NAMES)
        kid_rel = r.choice(["son", "daughter"])
        kid = r.choice([n for n in SIBLING_NAMES if n != sib])
        boss = r.choice(FRIEND_NAMES)
        friend = r.choice([n for n in FRIEND_NAMES if n != boss])
        conv.names = {me, sib, kid, boss, friend}
        start = datetime(2023, 9, 4, 19, 0, tzinfo=UTC) + timedelta(days=r.randint(0, 60))
        # Events, each (kind, key, text, questions): questions use synonyms and first person.
        restaurants = r.sample(RESTAURANTS, 5)
        doctors = r.sample(DOCTORS, 2)
        books = r.sample(BOOKS, 4)
        films = r.sample(FILMS, 3)
        homes = r.sample(CITIES, 3)
        streets = r.sample(STREETS, 2)
        car = r.choice(CARS)
        gym = r.choice(GYMS)
        allergy = r.choice(ALLERGIES)
        hobby = r.choice(HOBBIES)
        events: list[tuple[str, str, list[tuple[str, str]]]] = []

        def ev(key: str, texts: list[str], qs: list[tuple[str, str]]) -> None:
            events.append((key, r.choice(texts), qs))

        ev("sib0", [f"My {sib_rel} {sib} called, {sib} is loving life in {homes[0]}.",
                    f"Video call with {sib} tonight, {homes[0]} looks sunny as ever."], [])
        ev("sib1", [f"{sib} told me {('she', 'he')[sib_rel == 'brother']}'s leaving {homes[0]} "
                    f"and moving to {homes[1]} for good.",
                    f"Helped my {sib_rel} pack boxes all weekend, {sib}'s off to {homes[1]}."],
           [("latest", f"where does my {SYNONYMS[sib_rel]} live now?"),
            ("latest", f"which city did {sib} move to?"),
            ("when", f"when did my {sib_rel} move away from {homes[0]}?")])
        ev("home", [f"Signed the lease on the new flat on {streets[0]}, moving in next month.",
                    f"We got the keys to the place on {streets[0]} today!"],
           [("fact", "what street is my new flat on?"),
            ("paraphrase", f"where is the {SYNONYMS['flat']} I rented?"),
            ("when", "when did I sign the lease?")])
        for i, rest in enumerate(restaurants):
            dish = DISHES[(index + i) % len(DISHES)]
            ev(f"rest{i}", [f"Dinner at {rest} with {friend}, the {dish} was fantastic.",
                            f"Tried {rest} finally. Get the {dish}, trust me.",
                            f"{friend} took me to {rest} for my birthday, we shared the {dish}."],
               [("fact", f"what did I eat at {rest}?"),
                ("named", f"who did I go to {rest} with?")])
        ev("boss", [f"New manager at work, {boss}, seems strict but fair.",
                    f"My boss {boss} gave me the Lisbon account, big responsibility."],
           [("fact", "what is my boss called?"),
            ("paraphrase", "who do I report to in the office?")])
        for i, doc in enumerate(doctors):
            ev(f"doc{i}", [f"Saw {doc} about my back, booked physio for next month.",
                           f"Check-up with {doc} today, blood pressure is fine.",
                           f"Had my annual physical with {doc}, need to cut down on salt."],
               [("fact", f"what did {doc} tell me?")])
        ev("allergy", [f"Allergy test came back: {allergy}. Explains a lot.",
                       f"Reacted badly to {allergy} again, the nurse said to carry antihistamines."],
           [("fact", "what am I allergic to?"),
            ("paraphrase", "what triggers my reactions?")])
        for i, book in enumerate(books):
            ev(f"book{i}", [f"Finished {book} last night, could not put it down.",
                            f"Started reading {book} on the train, slow start but lovely.",
                            f"Book club pick this month is {book}."],
               [("named", f"what did I say about {book}?")])
        for i, film in enumerate(films):
            ev(f"film{i}", [f"Watched {film} with {kid}, we both cried a little.",
                            f"Movie night: {film}. Still thinking about the ending."],
               [("named", f"how did I find {film}?")])
        ev("car", [f"Bought {car} from a dealer out by the ring road.",
                   f"We finally replaced the old car with {car}."],
           [("fact", "what car did we buy?"),
            ("paraphrase", f"which {SYNONYMS['car']} do we drive these days?"),
            ("when", "when did we replace the old car?")])
        ev("gym", [f"Joined {gym}, the membership is cheaper than I expected.",
                   f"First spin class at {gym}, I could barely walk afterwards."],
           [("fact", "which gym did I join?"),
            ("named", f"what did I think of {gym}?"),
            ("paraphrase", f"what {SYNONYMS['gym']} am I a member of?")])
        ev("kid", [f"My {kid_rel} {kid} got into the school orchestra, plays the cello!",
                   f"{kid} had a cello recital today, so proud."],
           [("fact", f"what instrument does my {kid_rel} play?"),
            ("paraphrase", f"what does my {SYNONYMS[kid_rel]} perform on?")])
        ev("hobby", [f"Booked a beginners' {hobby} course for the autumn.",
                     f"Spent the whole Saturday at {hobby}, happiest I've been in weeks."],
           [("fact", "what hobby did I take up?"),
            ("paraphrase", "what do I do for fun at weekends?")])
        ev("pref_tea", ["I've gone off coffee completely, it's green tea for me now.",
                        "Switched to green tea, coffee was making me jittery."],
           [("preference", "what do I drink instead of coffee?"),
            ("paraphrase", "which hot beverage do I prefer?")])
        ev("pref_seat", ["Note to self: always book the aisle seat, I hate being boxed in.",
                         "Aisle seats only from now on, the window seat was torture."],
           [("preference", "which seat do I like on flights?"),
            ("paraphrase", "where do I want to sit on the plane?")])
        ev("pref_music", ["Discovered I really like sea shanties, of all things.",
                          "I can't stop playing sea shanties while I cook."],
           [("preference", "what music have I been into?")])
        ev("holiday", [f"Booked our summer holiday: two weeks in {homes[2]}!",
                       f"Flights to {homes[2]} are booked for August."],
           [("fact", "where are we going for the summer holiday?"),
            ("paraphrase", f"which place is our {SYNONYMS['holiday']} destination?"),
            ("when", f"when did I book the trip to {homes[2]}?")])
        r.shuffle(events)
        # The sibling's moves and the restaurant visits stay in order.
        order = {k: i for i, (k, _, _) in enumerate(events)}
        if order["sib0"] > order["sib1"]:
            i, j = order["sib0"], order["sib1"]
            events[i], events[j] = events[j], events[i]
        # Sessions: each day has 3-8 messages, about one in three of them an event.
        at = start
        tid = qn = 0
        evidence: dict[str, Turn] = {}
        queue = list(events)
        while queue:
            day = at.replace(hour=r.choice([7, 12, 19, 21, 22]), minute=r.randint(0, 59))
            n = r.randint(3, 8)
            for _ in range(n):
                tid += 1
                if queue and r.random() < 0.18:
                    key, text_, _ = queue.pop(0)
                    turn = Turn(f"{conv.id}-t{tid:04d}", me, text_, day)
                    evidence[key] = turn
                else:
                    turn = Turn(f"{conv.id}-t{tid:04d}", me, r.choice(self.chatter), day)
                conv.turns.append(turn)
                day += timedelta(minutes=r.randint(1, 9))
            at += timedelta(days=r.randint(3, 12))
        for key, _, qs in events:
            for kind, question in qs:
                e = evidence[key]
                if kind == "paraphrase" and not shares_nothing(question, [e.text], conv.names):
                    kind = "fact"
                qn += 1
                conv.questions.append(Question(f"{conv.id}-q{qn:03d}", conv.id, question,
                                               [e.id], kind))

        def add(kind: str, question: str, keys: list[str]) -> None:
            nonlocal qn
            qn += 1
            conv.questions.append(Question(f"{conv.id}-q{qn:03d}", conv.id, question,
                                           [evidence[k].id for k in keys], kind))

        add("multi", "which restaurants have I been to?", [f"rest{i}" for i in range(5)])
        add("multi", f"what places to eat did {friend} and I try?", [f"rest{i}" for i in range(5)])
        add("multi", "what books have I read or started?", [f"book{i}" for i in range(4)])
        add("multi", f"what films did I watch with {kid}?", [f"film{i}" for i in range(3)])
        add("multi", "which doctors have I seen?", ["doc0", "doc1"])
        add("multi", f"where has my {sib_rel} {sib} lived?", ["sib0", "sib1"])
        # Time-aware: one of several alike events, picked out by its month.
        for group, noun in (("rest", "restaurant"), ("book", "book"), ("film", "film"),
                            ("doc", "doctor")):
            keys = [k for k in evidence if k.startswith(group)]
            for k in keys:
                month = month_name(evidence[k].at)
                if sum(month_name(evidence[x].at) == month for x in keys) == 1:
                    verb = {"rest": "did I try", "book": "was I reading", "film": "did I watch",
                            "doc": "did I see"}[group]
                    add("temporal", f"which {SYNONYMS.get(noun, noun)} {verb} in {month}?", [k])
        return conv


def write(convs: list[Conversation], folder: Path, with_speaker: bool) -> tuple[int, int]:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jsonl"):
        old.unlink()
    n_turns = n_q = 0
    with (folder / "questions.jsonl").open("w", encoding="utf-8") as qf:
        for conv in convs:
            with (folder / f"{conv.id}.jsonl").open("w", encoding="utf-8") as f:
                for t in conv.turns:
                    f.write(json.dumps({"id": t.id, "content": t.content(with_speaker),
                                        "category": "conversation", "created_at": iso(t.at)},
                                       ensure_ascii=False) + "\n")
                    n_turns += 1
            for q in conv.questions:
                qf.write(json.dumps({"id": q.id, "conversation": q.conversation,
                                     "question": q.question, "evidence": q.evidence,
                                     "kind": q.kind}, ensure_ascii=False) + "\n")
                n_q += 1
    return n_turns, n_q


def main() -> None:
    rng = random.Random(SEED)
    friends = [Friends(rng).build(i) for i in range(1, 13)]
    print("friends: {} turns, {} questions".format(*write(friends, HERE / "friends", True)))
    chatter = load_chatter()
    rng = random.Random(SEED + 1)
    diary = [Diary(rng, chatter).build(i) for i in range(1, 21)]
    print("diary: {} turns, {} questions".format(*write(diary, HERE / "diary", False)))


if __name__ == "__main__":
    main()
