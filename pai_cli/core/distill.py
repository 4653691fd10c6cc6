"""Distilling an exchange into facts and deciding, per fact, what to do with what is known:
the prompt, the strict parser of the model's answer, and the write-time filters.

One model call does both extraction and consolidation: the exchange and the nearest known
memories go in (under short integer handles, never real ids), a JSON list of decisions
comes out. The model's answer is untrusted input: parsed strictly, recovered only where
that is unambiguous (a code fence, prose around one JSON object, "3" for 3), otherwise
refused with a reason, and the job is tried again later."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pai_cli.core import text
from pai_cli.records import Memory, Message, iso

DEFAULT_CATEGORIES = ("preference", "person", "plan", "event", "health", "work", "fact")
ACTIONS = ("add", "update", "supersede", "none")
MAX_FACT_CHARS = 600


class BadModelOutput(ValueError):
    """The answer cannot be read as decisions without guessing: the job is retried."""


@dataclass(frozen=True)
class Decision:
    action: str
    text: str
    category: str
    importance: int
    valid_from: float | None
    target: int | None
    """The handle of a known memory (update, supersede, none), as shown in the prompt."""


SYSTEM = """You maintain the long-term memory of a personal assistant. From the NEW exchange,
extract durable facts about the user and the people, places, plans and things in their life,
and decide for each how it relates to what is already KNOWN.

Rules:
- Write each fact as one short, self-contained sentence in the third person, with names,
  places and dates spelled out (for example: "The user's colleague Priya leads the Leeds
  office since May 2025.").
- Only what the user said or clearly confirmed. Never the assistant's own claims or
  suggestions, never what the KNOWN list or the assistant merely repeats back.
- Skip greetings, thanks, small talk, questions without facts, and requests addressed to the
  assistant (e.g. "answer in French") unless the user asks for them to be remembered, in
  which case store them as a preference.
- Resolve relative dates ("next Friday", "last year") against the time of the message and
  give valid_from as YYYY-MM-DD when the fact says when it became true; else null.
- action "add": a new fact. "update": the same fact as KNOWN [n], now more complete or
  corrected; give the merged sentence. "supersede": KNOWN [n] is no longer true (the user
  moved, changed jobs, ended something); give the new fact. "none": already known as [n].
- category: one of {categories}. importance: 1 (trivia) to 5 (health, safety, core identity).
- If there is nothing worth remembering, answer {{"memories": []}}.

Answer with JSON only, no prose:
{{"memories": [{{"text": "...", "category": "...", "importance": 3, "valid_from": null,
  "action": "add", "target": null}}]}}"""


def system_prompt(categories: Sequence[str]) -> str:
    return SYSTEM.format(categories=", ".join(categories))


def _line(m: Message) -> str:
    return f"[{iso(m.created_at)}] {m.role}: {m.content}"


def user_prompt(context: Sequence[Message], new: Sequence[Message],
                known: Sequence[Memory]) -> str:
    """context: earlier messages (to resolve "she", "there"); new: the exchange to learn
    from; known: the nearest memories, shown as [1]..[n]."""
    parts = []
    if context:
        parts += ["EARLIER (for reference only, already processed):",
                  *(_line(m) for m in context), ""]
    parts += ["NEW:", *(_line(m) for m in new), "", "KNOWN:"]
    if not known:
        parts.append("(nothing yet)")
    for i, m in enumerate(known, 1):
        since = f", since {iso(m.valid_from)[:10]}" if m.valid_from else ""  # type: ignore[index]
        parts.append(f"[{i}] ({m.category}{since}) {m.content}")
    return "\n".join(parts)


# -- parsing ---------------------------------------------------------------------------
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


def _json_objects(answer: str) -> list[str]:
    """Every balanced top-level {...} in the answer (strings respected)."""
    found, depth, start, in_str, esc = [], 0, -1, False, False
    for i, ch in enumerate(answer):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                found.append(answer[start:i + 1])
    return found


def _document(answer: str) -> dict:
    stripped = answer.strip()
    if not stripped:
        raise BadModelOutput("the model answered nothing")
    fenced = _FENCE.findall(stripped)
    if len(fenced) == 1:
        stripped = fenced[0].strip()
    elif len(fenced) > 1:
        raise BadModelOutput("the answer holds several code blocks")
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError:
        objects = _json_objects(stripped)
        if len(objects) != 1:
            raise BadModelOutput("no JSON object in the answer" if not objects
                                 else "several JSON objects in the answer") from None
        try:
            doc = json.loads(objects[0])
        except json.JSONDecodeError as e:
            raise BadModelOutput(f"the JSON is malformed ({e.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("memories"), list):
        raise BadModelOutput('the answer has no "memories" list')
    return doc


def _date(value: object) -> float | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadModelOutput("valid_from is not a date")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadModelOutput(f"valid_from {value!r} is not a YYYY-MM-DD date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1900 <= parsed.year <= 2200:
        raise BadModelOutput(f"valid_from {value!r} is out of range")
    return parsed.timestamp()


def _int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise BadModelOutput(f"{what} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise BadModelOutput(f"{what} is not a whole number")


def parse_decisions(answer: str, handles: int, categories: Sequence[str]) -> list[Decision]:
    """The decisions in a model's answer; raises BadModelOutput where it would have to guess.
    handles: how many known memories were shown ([1]..[handles])."""
    decisions = []
    for n, raw in enumerate(_document(answer)["memories"], 1):
        if not isinstance(raw, dict):
            raise BadModelOutput(f"memory {n} is not an object")
        action = raw.get("action", "add")
        if not isinstance(action, str) or action.strip().lower() not in ACTIONS:
            raise BadModelOutput(f"memory {n}: unknown action {action!r}")
        action = action.strip().lower()
        fact = raw.get("text")
        if not isinstance(fact, str) or not fact.strip():
            if action == "none":
                fact = ""
            else:
                raise BadModelOutput(f"memory {n} has no text")
        fact = " ".join(fact.split())
        if len(fact) > MAX_FACT_CHARS:
            raise BadModelOutput(f"memory {n} is {len(fact)} characters: not a short fact")
        category = raw.get("category") or "fact"
        if not isinstance(category, str):
            raise BadModelOutput(f"memory {n}: category is not a string")
        category = category.strip().lower()
        if category not in categories:
            category = "fact"  # a label outside the set: the fact still stands
        importance = _int(raw.get("importance", 3), f"memory {n}: importance")
        importance = min(5, max(1, importance))
        target = raw.get("target")
        if target in (None, "", 0) and action == "add":
            target = None
        elif action != "add" or target is not None:
            target = _int(target, f"memory {n}: target")
            if not 1 <= target <= handles:
                raise BadModelOutput(f"memory {n}: [{target}] is not one of the known memories")
        if action in ("update", "supersede", "none") and target is None:
            raise BadModelOutput(f"memory {n}: {action} names no known memory")
        if action == "add":
            target = None
        decisions.append(Decision(action, fact, category, importance,
                                  _date(raw.get("valid_from")), target))
    return decisions


# -- write-time filters ----------------------------------------------------------------
_CHATTER = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening|night)|thanks?|thank you"
    r"|thx|cheers|ok(?:ay)?|sure|yes|yeah|yep|no|nope|cool|great|nice|lol|haha|bye|goodbye"
    r"|see you|got it|sounds good|perfect|awesome|how are you|what'?s up)[\s,.!?:;)(-]*)+$",
    re.I)
_INSTRUCTION = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+)?(?:answer|reply|respond|write|translate|speak|"
    r"summari[sz]e|explain|rephrase|format|use|be (?:brief|short|concise|formal|casual)|"
    r"keep (?:it|answers?) )\b", re.I)
_REMEMBER = re.compile(r"\b(?:remember|from now on|always|in future|going forward|"
                       r"don'?t forget|note that|keep in mind)\b", re.I)
_NOT_CONTENT = {"user", "assist", "pai"}
"""Words every fact may use ("The user's ...") without the user having said them."""


def is_chatter(message: str) -> bool:
    return bool(_CHATTER.match(message.strip()))


def is_instruction(message: str) -> bool:
    """A request to the assistant about how to answer, not a fact about the user."""
    return bool(_INSTRUCTION.match(message.strip())) and not _REMEMBER.search(message)


def _content_terms(s: str) -> set[str]:
    return {t for t in text.terms(s) if t not in _NOT_CONTENT and not t.isdigit()}


def grounded(fact: str, user_text: str, assistant_text: str = "") -> bool:
    """The fact rests on what the user said: it shares content words with the user's
    messages, and no more of them come only from the assistant's (its own claims, or the
    recalled memories it quoted). Paraphrase is fine ("I moved to Porto" -> "lives in
    Porto"); a fact the user never touched is not."""
    wanted = _content_terms(fact)
    said = _content_terms(user_text)
    from_user = wanted & said
    from_assistant = (wanted & _content_terms(assistant_text)) - said
    return bool(from_user) and len(from_assistant) <= len(from_user)


def _normal(s: str) -> str:
    return " ".join(text.terms(s))


def restates(fact: str, known: Memory) -> bool:
    """The fact is a known memory said again (as when recalled memories are quoted back)."""
    a, b = set(text.terms(fact)), set(text.terms(known.content))
    return bool(a) and (a == b or len(a & b) / len(a | b) >= 0.9)


def quotes_prompt(fact: str, prompts: Sequence[str], words: int = 6) -> bool:
    """The fact repeats a run of `words` words of a prompt (a system prompt restated)."""
    f = _normal(fact).split()
    grams = {" ".join(f[i:i + words]) for i in range(max(0, len(f) - words + 1))}
    if not grams:
        return False
    for p in prompts:
        g = _normal(p).split()
        if grams & {" ".join(g[i:i + words]) for i in range(max(0, len(g) - words + 1))}:
            return True
    return False


@dataclass(frozen=True)
class Filtered:
    kept: list[Decision]
    dropped: list[tuple[Decision, str]]


def filter_decisions(decisions: Sequence[Decision], user_text: str, known: Sequence[Memory],
                     prompts: Sequence[str], assistant_text: str = "") -> Filtered:
    """What the code, not the model, refuses to store (each reason tested on its own)."""
    kept, dropped = [], []
    remember_asked = bool(_REMEMBER.search(user_text))
    for d in decisions:
        if d.action == "none":
            kept.append(d)
            continue
        reason = None
        if is_chatter(d.text):
            reason = "chatter"
        elif "[redacted" in d.text:
            reason = "about a secret pai does not keep"
        elif quotes_prompt(d.text, prompts):
            reason = "restates a prompt"
        elif not grounded(d.text, user_text, assistant_text):
            reason = "not said by the user"
        elif is_instruction(d.text) or (is_instruction(user_text) and not remember_asked):
            reason = "an instruction to the assistant"
        if reason is None and d.action == "add":
            same = next((i for i, m in enumerate(known, 1) if restates(d.text, m)), None)
            if same is not None:
                kept.append(Decision("none", d.text, d.category, d.importance, d.valid_from,
                                     same))
                continue
        if reason:
            dropped.append((d, reason))
        else:
            kept.append(d)
    return Filtered(kept, dropped)
