"""In-memory fakes of every port in pai_cli/ports.py, like httpx's MockTransport: core logic
is tested in milliseconds, with no SQLite, no HTTP and no key file.

They keep each port's contract (tests/test_homes_contract.py runs them beside the real
homes), including the parts that matter to the core: one FakeDb per home, whose
transactions commit or roll back every fake sharing it together (as the local home's one
SQLite file does); expiry filtered on every read; ids scoped by user; a ciphertext that
opens only under the identity it was sealed for. FakeCipher is not encryption: it exists to
catch a record read under the wrong identity, not to hide anything."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pai_cli.errors import BackendError
from pai_cli.records import (
    ChatMessage,
    ConversationInfo,
    Job,
    ReplyEvent,
    SealedEvent,
    SealedMemory,
    SealedMessage,
    ToolCall,
    Usage,
    UsageRecord,
)


class FakeDb:
    """Every fake's state, in named tables; a transaction snapshots them all and puts the
    snapshot back if the block raises. Fakes look tables up on every call (never keep a
    reference), so a rollback is seen by all of them."""

    def __init__(self) -> None:
        self.tables: dict[str, Any] = {}
        self._depth = 0
        self.commits = 0

    def table(self, name: str) -> Any:
        return self.tables.setdefault(name, {})

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        saved = copy.deepcopy(self.tables)
        self._depth = 1
        try:
            yield
            self.commits += 1
        except BaseException:
            self.tables = saved
            raise
        finally:
            self._depth = 0

    def next_id(self, name: str) -> int:
        """A counter that a rollback does not rewind: ids are never reused."""
        counters = self.__dict__.setdefault("_counters", {})
        counters[name] = counters.get(name, 0) + 1
        return counters[name]


def _live(expires_at: float | None, now: float) -> bool:
    return expires_at is None or expires_at > now


class FakeMemoryStore:
    supports_keywords = True

    def __init__(self, db: FakeDb) -> None:
        self.db = db

    def transaction(self) -> Any:
        return self.db.transaction()

    @property
    def _rows(self) -> dict[tuple[str, str], tuple[int, SealedMemory]]:
        return self.db.table("memories")

    def insert(self, memories: Sequence[SealedMemory]) -> list[str]:
        inserted = []
        with self.db.transaction():
            for m in memories:
                key = (m.user_id, m.id)
                if key not in self._rows:
                    self._rows[key] = (self.db.next_id("memory_rowid"), m)
                    inserted.append(m.id)
        return inserted

    def update(self, memory: SealedMemory) -> bool:
        key = (memory.user_id, memory.id)
        with self.db.transaction():
            if key not in self._rows:
                return False
            rowid, old = self._rows[key]
            # Like the local store: origin, sources of the first message and creation time
            # are the row's, not the update's.
            self._rows[key] = (rowid, replace(
                memory, created_at=old.created_at, source_conversation=old.source_conversation,
                source_message=old.source_message, origin=old.origin))
        return True

    def _user_rows(self, user_id: str, now: float) -> list[tuple[int, SealedMemory]]:
        return sorted(((rowid, m) for (u, _), (rowid, m) in self._rows.items()
                       if u == user_id and _live(m.expires_at, now)), key=lambda r: r[0])

    def get(self, user_id: str, memory_id: str, now: float) -> SealedMemory | None:
        row = self._rows.get((user_id, memory_id))
        return row[1] if row and _live(row[1].expires_at, now) else None

    def get_many(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]:
        return [m for m in (self.get(user_id, i, now) for i in dict.fromkeys(ids)) if m]

    def get_states(self, user_id: str, ids: Sequence[str], now: float) -> list[SealedMemory]:
        return self.get_many(user_id, ids, now)

    def resolve_id(self, user_id: str, id_or_prefix: str, now: float) -> list[str]:
        if self.get(user_id, id_or_prefix, now) is not None:
            return [id_or_prefix]
        if not id_or_prefix:
            return []
        return sorted(m.id for _, m in self._user_rows(user_id, now)
                      if m.id.startswith(id_or_prefix))[:10]

    def list(self, user_id: str, now: float, category: str | None,
             limit: int | None, include_inactive: bool = False) -> list[SealedMemory]:
        rows = [(r, m) for r, m in self._user_rows(user_id, now)
                if (category is None or m.category == category)
                and (include_inactive or m.status == "active")]
        rows.sort(key=lambda rm: (rm[1].created_at, rm[0]), reverse=True)
        return [m for _, m in rows[:limit]] if limit is not None else [m for _, m in rows]

    def iter_all(self, user_id: str, now: float, batch: int = 1000) -> Iterator[SealedMemory]:
        yield from (m for _, m in self._user_rows(user_id, now))

    def count(self, user_id: str, now: float) -> int:
        return len(self._user_rows(user_id, now))

    def _delete(self, user_id: str, keep: Callable[[SealedMemory], bool]) -> list[str]:
        with self.db.transaction():
            doomed = [(u, i) for (u, i), (_, m) in self._rows.items()
                      if u == user_id and not keep(m)]
            for key in doomed:
                del self._rows[key]
        return [i for _, i in doomed]

    def delete(self, user_id: str, memory_id: str) -> bool:
        return bool(self._delete(user_id, lambda m: m.id != memory_id))

    def delete_all(self, user_id: str) -> list[str]:
        return self._delete(user_id, lambda m: False)

    def purge_expired(self, user_id: str, now: float) -> list[str]:
        return self._delete(user_id, lambda m: _live(m.expires_at, now))

    def sweep_orphans(self, user_id: str) -> int:
        return 0

    def term_shares(self, user_id: str, terms: Sequence[str]) -> dict[str, float]:
        docs = [m.terms.split() for _, m in self._user_rows(user_id, 0.0)]
        return {t: sum(t in d for d in docs) / len(docs) for t in dict.fromkeys(terms)
                if docs and sum(t in d for d in docs) >= 2}

    def keyword_search(self, user_id: str, terms: Sequence[str], k: int, category: str | None,
                       now: float) -> list[tuple[str, float]]:
        """Okapi BM25 (k1 1.2, b 0.75, as FTS5) over the stored blinded terms."""
        wanted = list(dict.fromkeys(terms))
        docs = [m for _, m in self._user_rows(user_id, now)]
        if not wanted or not docs:
            return []
        split = {m.id: m.terms.split() for m in docs}
        avg = sum(len(t) for t in split.values()) / len(docs) or 1.0
        df = {t: sum(1 for ts in split.values() if t in ts) for t in wanted}
        scored = []
        for m in docs:
            if category and m.category != category:
                continue
            ts = split[m.id]
            score = 0.0
            for t in wanted:
                tf = ts.count(t)
                if not tf:
                    continue
                idf = math.log((len(docs) - df[t] + 0.5) / (df[t] + 0.5) + 1)
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(ts) / avg))
            if score > 0:
                scored.append((m.id, score))
        scored.sort(key=lambda x: (-x[1], x[0]))
        return scored[:k]

    def get_meta(self, key: str) -> str | None:
        return self.db.table("meta").get(key) or None

    def set_meta(self, key: str, value: str) -> None:
        with self.db.transaction():
            self.db.table("meta")[key] = value


class FakeVectorIndex:
    """Exact cosine search over vectors kept in the same FakeDb as the store."""

    several_per_memory = False  # one vector a memory, as the AWS indexes keep

    def __init__(self, db: FakeDb) -> None:
        self.db = db

    @property
    def _vectors(self) -> dict[tuple[str, str], tuple[str, np.ndarray]]:
        return self.db.table("vectors")

    def upsert(self, user_id: str, items: Sequence[tuple[str, str, Any]]) -> None:
        with self.db.transaction():
            for memory_id, category, vec in items:
                v = np.asarray(vec, dtype=np.float32)
                self._vectors[(user_id, memory_id)] = (category, v / (np.linalg.norm(v) or 1.0))

    def delete(self, user_id: str, memory_ids: Sequence[str]) -> None:
        with self.db.transaction():
            for memory_id in memory_ids:
                self._vectors.pop((user_id, memory_id), None)

    def delete_user(self, user_id: str) -> None:
        with self.db.transaction():
            for key in [k for k in self._vectors if k[0] == user_id]:
                del self._vectors[key]

    def query(self, user_id: str, vector: Any, k: int,
              category: str | None) -> list[tuple[str, float]]:
        q = np.asarray(vector, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        scored = [(mid, float(v @ q)) for (u, mid), (cat, v) in self._vectors.items()
                  if u == user_id and (category is None or cat == category)]
        scored.sort(key=lambda x: (-x[1], x[0]))
        return scored[:k]

    def keys_of(self, user_id: str) -> Iterator[str]:
        return iter([mid for (u, mid) in self._vectors if u == user_id])

    def compact(self, user_id: str, progress: Any = None) -> None:
        """Nothing to fold: the search is exact."""

    def maintain(self, user_id: str) -> None:
        """Nothing to fold: the search is exact."""


_WORD = re.compile(r"[a-z0-9]+")


class FakeEmbedder:
    """A hashed bag of words (plural 's' folded), L2-normalised: texts that share words are
    near, others are not. Deterministic, instant, no model."""

    model_id = "fake-bag-of-words"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                word = word[:-1] if len(word) > 3 and word.endswith("s") else word
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(),
                                        "big") % self.dim
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
        return out


class FakeCipher:
    """Seals a record with its identity; opening it under another identity fails, as the
    real ciphers' associated data makes it. Not encryption: the text is stored readable."""

    PREFIX = b"fake1:"

    def seal(self, user_id: str, kind: str, record_id: str, plaintext: str) -> bytes:
        return self.PREFIX + json.dumps([user_id, kind, record_id, plaintext]).encode()

    def open(self, user_id: str, kind: str, record_id: str, blob: bytes) -> str:
        blob = bytes(blob)
        try:
            who = json.loads(blob[len(self.PREFIX):]) if blob.startswith(self.PREFIX) else None
        except ValueError:
            who = None
        if not isinstance(who, list) or who[:3] != [user_id, kind, record_id]:
            raise BackendError(f"{kind} {record_id} could not be decrypted: it was altered or "
                               "moved from another record.")
        return str(who[3])

    def blind(self, user_id: str, terms: Iterable[str]) -> list[str]:
        key = hashlib.sha256(f"fake-index-key:{user_id}".encode()).digest()
        return ["t" + hmac.new(key, t.encode(), hashlib.sha256).hexdigest()[:16] for t in terms]


class FakeConversationStore:
    remote = False

    def __init__(self, db: FakeDb) -> None:
        self.db = db

    def transaction(self) -> Any:
        return self.db.transaction()

    @property
    def _messages(self) -> dict[str, tuple[int, SealedMessage]]:
        return self.db.table("messages")

    def append(self, message: SealedMessage) -> None:
        with self.db.transaction():
            self._messages.setdefault(message.id, (self.db.next_id("message_rowid"), message))

    def _of(self, user_id: str, conversation_id: str | None, now: float) -> list[SealedMessage]:
        rows = sorted(((m.created_at, r, m) for r, m in self._messages.values()
                       if m.user_id == user_id and m.expires_at > now
                       and (conversation_id is None or m.conversation_id == conversation_id)),
                      key=lambda x: (x[0], x[1]))
        return [m for _, _, m in rows]

    def last_messages(self, user_id: str, conversation_id: str, n: int,
                      now: float) -> list[SealedMessage]:
        return self._of(user_id, conversation_id, now)[-n:] if n > 0 else []

    def messages(self, user_id: str, conversation_id: str, now: float) -> list[SealedMessage]:
        return self._of(user_id, conversation_id, now)

    def conversations(self, user_id: str, now: float, limit: int) -> list[ConversationInfo]:
        by_id: dict[str, list[SealedMessage]] = {}
        for m in self._of(user_id, None, now):
            by_id.setdefault(m.conversation_id, []).append(m)
        infos = [ConversationInfo(cid, ms[0].created_at, ms[-1].created_at, len(ms))
                 for cid, ms in by_id.items()]
        infos.sort(key=lambda c: -c.updated_at)
        return infos[:limit]

    def resolve_conversation(self, user_id: str, id_or_prefix: str, now: float) -> list[str]:
        if not id_or_prefix:
            return []
        ids = sorted({m.conversation_id for m in self._of(user_id, None, now)
                      if m.conversation_id.startswith(id_or_prefix)})
        return [id_or_prefix] if id_or_prefix in ids else ids[:10]

    def delete_conversation(self, user_id: str, conversation_id: str) -> bool:
        with self.db.transaction():
            doomed = [i for i, (_, m) in self._messages.items()
                      if m.user_id == user_id and m.conversation_id == conversation_id]
            for i in doomed:
                del self._messages[i]
        return bool(doomed)

    def purge_expired(self, user_id: str, now: float) -> int:
        with self.db.transaction():
            doomed = [i for i, (_, m) in self._messages.items()
                      if m.user_id == user_id and m.expires_at <= now]
            for i in doomed:
                del self._messages[i]
        return len(doomed)


class FakeQueue:
    def __init__(self, db: FakeDb) -> None:
        self.db = db

    def transaction(self) -> Any:
        return self.db.transaction()

    @property
    def _jobs(self) -> dict[int, Job]:
        return self.db.table("jobs")

    def enqueue(self, user_id: str, kind: str, payload: bytes, now: float) -> int:
        job_id = self.db.next_id("job")
        with self.db.transaction():
            self._jobs[job_id] = Job(job_id, user_id, kind, bytes(payload), now)
        return job_id

    def pending(self, user_id: str, limit: int, now: float) -> list[Job]:
        return [j for _, j in sorted(self._jobs.items()) if j.user_id == user_id
                and j.parked_at is None and j.next_at <= now][:limit]

    def jobs(self, user_id: str) -> list[Job]:
        return [j for _, j in sorted(self._jobs.items()) if j.user_id == user_id]

    def fail(self, job_id: int, error: str, next_at: float, park: bool, now: float) -> None:
        with self.db.transaction():
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, tries=job.tries + 1, last_error=error[:500],
                                             next_at=next_at, parked_at=now if park else None)

    def retry(self, user_id: str, job_ids: Sequence[int] | None = None) -> int:
        with self.db.transaction():
            chosen = [j for j in self._jobs.values() if j.user_id == user_id
                      and (job_ids is None or j.id in job_ids)]
            for j in chosen:
                self._jobs[j.id] = replace(j, tries=0, next_at=0.0, parked_at=None)
        return len(chosen)

    def discard(self, user_id: str, prefix: bytes = b"") -> int:
        with self.db.transaction():
            doomed = [i for i, j in self._jobs.items()
                      if j.user_id == user_id and j.payload.startswith(prefix)]
            for i in doomed:
                del self._jobs[i]
        return len(doomed)

    def done(self, job_id: int) -> bool:
        with self.db.transaction():
            return self._jobs.pop(job_id, None) is not None


class FakeEventLog:
    def __init__(self, db: FakeDb) -> None:
        self.db = db

    def transaction(self) -> Any:
        return self.db.transaction()

    @property
    def _events(self) -> dict[tuple[str, str], tuple[int, SealedEvent]]:
        return self.db.table("events")

    def append(self, events: Sequence[SealedEvent]) -> None:
        with self.db.transaction():
            for e in events:
                self._events.setdefault((e.user_id, e.id), (self.db.next_id("event"), e))

    def _of(self, user_id: str, keep: Callable[[SealedEvent], bool]) -> list[SealedEvent]:
        return [e for _, e in sorted(v for (u, _), v in self._events.items()
                                     if u == user_id and keep(v[1]))]

    def of_memory(self, user_id: str, memory_id: str) -> list[SealedEvent]:
        return self._of(user_id, lambda e: e.memory_id == memory_id)

    def since(self, user_id: str, since: float, limit: int) -> list[SealedEvent]:
        found = self._of(user_id, lambda e: e.at >= since)[::-1]  # newest seq first
        found.sort(key=lambda e: -e.at)  # stable: ties keep newest seq first
        return found[:limit]

    def of_batch(self, user_id: str, batch: str) -> list[SealedEvent]:
        return self._of(user_id, lambda e: e.batch == batch)

    def resolve_event(self, user_id: str, id_or_prefix: str) -> list[str]:
        if not id_or_prefix:
            return []
        ids = sorted(i for (u, i) in self._events if u == user_id and i.startswith(id_or_prefix))
        return [id_or_prefix] if id_or_prefix in ids else ids[:10]

    def get_event(self, user_id: str, event_id: str) -> SealedEvent | None:
        found = self._events.get((user_id, event_id))
        return found[1] if found else None

    def scrub(self, user_id: str, memory_id: str) -> int:
        with self.db.transaction():
            keys = [k for k, (_, e) in self._events.items()
                    if k[0] == user_id and e.memory_id == memory_id]
            for k in keys:
                seq, e = self._events[k]
                self._events[k] = (seq, replace(e, before=None, after=None))
        return len(keys)

    def delete_user(self, user_id: str) -> int:
        with self.db.transaction():
            keys = [k for k in self._events if k[0] == user_id]
            for k in keys:
                del self._events[k]
        return len(keys)


class FakeUsageLog:
    def __init__(self, db: FakeDb) -> None:
        self.db = db

    def record(self, user_id: str, record: UsageRecord) -> None:
        with self.db.transaction():
            self.db.table("usage")[self.db.next_id("usage")] = (user_id, record)

    def records(self, user_id: str, since: float) -> list[UsageRecord]:
        rows = [r for u, r in self.db.table("usage").values()
                if u == user_id and r.created_at >= since]
        return sorted(rows, key=lambda r: r.created_at)


@dataclass
class Say:
    """One scripted reply: these pieces, then the tool calls (stop reason "tool_use"), then
    the usage; or, after the pieces, this error."""

    pieces: list[str]
    usage: tuple[int, int] = (10, 5)
    error: Exception | None = None
    calls: list[ToolCall] = field(default_factory=list)


Step = Say | Exception | Callable[[str, Sequence[ChatMessage]], "Say | str"]


@dataclass
class ScriptedModel:
    """A ChatModel that answers from a script: a Say, an exception to raise before any text,
    or a function of (system, messages) for answers that depend on the prompt. Every call is
    recorded. Running out of script fails the test, never passes it quietly."""

    script: list[Step] = field(default_factory=list)
    provider: str = "scripted"
    model_id: str = "scripted-model"
    calls: list[tuple[str, list[ChatMessage], int]] = field(default_factory=list)
    tools_seen: list[list[str]] = field(default_factory=list)

    def stream(self, system: str, messages: Sequence[ChatMessage],
               max_tokens: int, tools: Sequence[Any] = ()) -> Iterator[ReplyEvent]:
        self.calls.append((system, list(messages), max_tokens))
        self.tools_seen.append([t.name for t in tools])
        if not self.script:
            raise AssertionError(f"the scripted model was called once more than scripted "
                                 f"(call {len(self.calls)})")
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, Say):
            answer = step(system, messages)
            step = answer if isinstance(answer, Say) else Say([answer])
        for piece in step.pieces:
            yield ReplyEvent(text=piece)
        if step.error is not None:
            raise step.error
        for call in step.calls:
            yield ReplyEvent(tool_call=call)
        yield ReplyEvent(usage=Usage(*step.usage),
                         stop_reason="tool_use" if step.calls else "end_turn")
