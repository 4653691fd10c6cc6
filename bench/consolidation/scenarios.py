"""The consolidation set: a person's statements over weeks, each scenario with the final
memory state pai should hold and a question asked at the end.

    python bench/consolidation/scenarios.py     # rewrites scenarios.jsonl (seeded)

Twelve kinds of life event (moves, job changes, new and ended relationships, repeated facts,
corrections, preferences that change, plans with relative dates, chatter and instructions
that must not be remembered, secrets, the assistant's own claims, a hand-pinned memory
contradicted in chat), six people each: 72 scenarios. Each turn carries what a perfect
model would decide ("oracle": the facts, and for update/supersede/none the text of the known
memory it names); for the junk turns the oracle deliberately proposes the junk, so that the
code's own filters are what keeps it out. The expected state is checked by terms, so a
real model's wording can pass too."""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("scenarios.jsonl")
PEOPLE = [("Ana", "Lisbon", "Porto", "Arup", "Siemens", "Sam", "nurse"),
          ("Kofi", "Accra", "Kumasi", "MTN", "Vodafone", "Efua", "teacher"),
          ("Mei", "Shanghai", "Hangzhou", "Alibaba", "Tencent", "Jun", "architect"),
          ("Lars", "Oslo", "Bergen", "Equinor", "DNB", "Ingrid", "pilot"),
          ("Priya", "Pune", "Bangalore", "Infosys", "Wipro", "Arjun", "chef"),
          ("Diego", "Valencia", "Seville", "Iberdrola", "Repsol", "Lucia", "dentist")]
DAY0 = "2026-03-02T09:00:00Z"


def add(text: str, category: str = "fact", importance: int = 3,
        valid_from: str | None = None) -> dict:
    return {"action": "add", "text": text, "category": category, "importance": importance,
            "valid_from": valid_from}


def change(action: str, target: str, text: str, category: str = "fact",
           valid_from: str | None = None) -> dict:
    return {"action": action, "target_text": target, "text": text, "category": category,
            "importance": 3, "valid_from": valid_from}


def turn(day: int, user: str, oracle: list[dict], reply: str = "Noted.") -> dict:
    return {"day": day, "user": user, "reply": reply, "oracle": oracle}


def scenarios() -> list[dict]:
    out: list[dict] = []
    for who, city1, city2, job1, job2, partner, work in PEOPLE:
        def s(kind: str, turns: list[dict], expect: list[dict], question: str,
              answer: list[str], pins: list[str] | None = None, absent: list[str] | None = None,
              who: str = who) -> None:
            out.append({"id": f"{kind}-{who.lower()}", "kind": kind, "person": who,
                        "pins": pins or [], "turns": turns, "expect": expect,
                        "absent": absent or [], "question": question, "answer": answer})

        lives1 = f"The user lives in {city1}."
        lives2 = f"The user lives in {city2}."
        s("move", [
            turn(0, f"I live in {city1}, near the old market.", [add(lives1)]),
            turn(40, f"Big news: we moved to {city2} last week!",
                 [change("supersede", lives1, lives2, valid_from="2026-04-04")]),
        ], [{"terms": [city2], "status": "active"}, {"terms": [city1], "status": "superseded"}],
            "where do I live now?", [city2])
        works1 = f"The user works at {job1}."
        works2 = f"The user works at {job2}."
        s("job", [
            turn(0, f"I work at {job1} as an engineer.", [add(works1, "work")]),
            turn(25, f"Today was my last day at {job1}; I start at {job2} on Monday.",
                 [change("supersede", works1, works2, "work", valid_from="2026-03-30")]),
        ], [{"terms": [job2], "status": "active"}, {"terms": [job1], "status": "superseded"}],
            "where do I work?", [job2])
        dating = f"The user is dating {partner}."
        s("relationship", [
            turn(0, f"I started seeing someone, {partner}!", [add(dating, "person")]),
            turn(10, f"{partner} works as a {work}, by the way.",
                 [change("update", dating, f"The user is dating {partner}, who works as a "
                                           f"{work}.", "person")]),
        ], [{"terms": [partner, work], "status": "active"}],
            f"what does {partner} do for a living?", [work])
        s("breakup", [
            turn(0, f"My girlfriend {partner} and I are moving in together.",
                 [add(f"The user is in a relationship with {partner}.", "person")]),
            turn(60, f"{partner} and I broke up last month. It's for the best.",
                 [change("supersede", f"The user is in a relationship with {partner}.",
                         f"The user and {partner} broke up in April 2026.", "person",
                         valid_from="2026-04-01")]),
        ], [{"terms": ["broke up"], "status": "active"},
            {"terms": ["relationship"], "status": "superseded"}],
            f"am I still with {partner}?", ["broke up"])
        dog = f"The user has a dog called {partner[:2]}bo."
        s("repeat", [
            turn(0, f"My dog {partner[:2]}bo is a beagle.", [add(dog.replace(".", ", a beagle."))]),
            turn(5, f"{partner[:2]}bo the beagle ate my shoe again.",
                 [change("none", dog.replace(".", ", a beagle."), "")]),
            turn(9, f"Did I mention my beagle {partner[:2]}bo?",
                 [change("none", dog.replace(".", ", a beagle."), "")]),
        ], [{"terms": [f"{partner[:2]}bo", "beagle"], "status": "active"}],
            "what kind of dog do I have?", ["beagle"])
        sister = f"The user's sister is called {who}na."
        s("correction", [
            turn(0, f"My sister {who}na is visiting in May.",
                 [add(sister.replace(".", " and is visiting in May 2026."), "person")]),
            turn(2, f"Sorry, typo: my sister's name is {who}nna, with two n's.",
                 [change("update", sister.replace(".", " and is visiting in May 2026."),
                         f"The user's sister is called {who}nna and is visiting in May 2026.",
                         "person")]),
        ], [{"terms": [f"{who}nna"], "status": "active"}],
            "what is my sister's name?", [f"{who}nna"], absent=[f"{who}na "])
        s("preference", [
            turn(0, "I only drink green tea in the morning.",
                 [add("The user drinks green tea in the morning.", "preference")]),
            turn(30, "These days I've switched to black coffee in the mornings.",
                 [change("supersede", "The user drinks green tea in the morning.",
                         "The user drinks black coffee in the morning.", "preference")]),
        ], [{"terms": ["coffee"], "status": "active"}, {"terms": ["tea"], "status": "superseded"}],
            "what do I drink in the morning?", ["coffee"])
        s("plan", [
            turn(3, "My dentist appointment is next Friday at 10.",  # day 3 = Thursday 5 March
                 [add("The user has a dentist appointment on Friday 13 March 2026 at 10:00.",
                      "plan", 3, "2026-03-13")]),
        ], [{"terms": ["dentist", "13 March"], "status": "active"}],
            "when is my dentist appointment?", ["13 March"])
        s("chatter", [
            turn(0, "hi!", [add("The user said hi.")]),
            turn(0, "answer in French please", [add("Answer in French.", "preference")]),
            turn(1, "thanks, great", [add("The user is grateful.")]),
            turn(2, f"I'm learning the cello with a teacher in {city1}.",
                 [add(f"The user is learning the cello with a teacher in {city1}.")]),
        ], [{"terms": ["cello"], "status": "active"}],
            "what instrument am I learning?", ["cello"], absent=["French", "grateful", "hi"])
        s("secret", [
            turn(0, "my gmail password is Tr0ub4dor&3xyz, don't tell anyone",
                 [add("The user's Gmail password is [redacted password].")]),
            turn(1, f"my card 4111 1111 1111 1111 expires soon; I bank with {job1} Bank",
                 [add(f"The user banks with {job1} Bank.")]),
        ], [{"terms": [f"{job1} Bank"], "status": "active"}],
            "which bank do I use?", [f"{job1} Bank"], absent=["Tr0ub4dor", "4111"])
        s("assistant-claim", [
            turn(0, "What should I cook tonight?",
                 [add("The user is a vegetarian marathon runner.")],
                 reply="As a vegetarian marathon runner you could try a lentil curry."),
            turn(1, f"I am allergic to peanuts, so no satay from {city1} street stalls.",
                 [add("The user is allergic to peanuts.", "health", 5)]),
        ], [{"terms": ["peanuts"], "status": "active"}],
            "what am I allergic to?", ["peanuts"], absent=["vegetarian", "marathon"])
        pinned = "I am allergic to penicillin."
        s("pinned", [
            turn(5, "My new doctor says I'm not allergic to penicillin after all.",
                 [change("supersede", pinned,
                         "The user's doctor says the user is not allergic to penicillin.",
                         "health")]),
        ], [{"terms": ["allergic to penicillin"], "status": "active", "pinned": True},
            {"terms": ["doctor", "not allergic"], "status": "active", "conflicts": True}],
            "am I allergic to penicillin?", ["penicillin"], pins=[pinned])
    random.Random(7).shuffle(out)
    return out


def main() -> None:
    rows = scenarios()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    kinds = sorted({r["kind"] for r in rows})
    print(f"{len(rows)} scenarios in {len(kinds)} kinds -> {OUT}")


if __name__ == "__main__":
    main()
