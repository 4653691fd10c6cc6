"""Writing long-term memory from the durable queue: distilled facts consolidated with what
is known (with a model), or the message kept verbatim (without one, or by choice).

A job is applied whole or not at all: every decision, its events and the job's removal
commit in one transaction (the local home's one SQLite file), and ids derive from the job,
so a retry after a crash writes nothing twice. A job that fails (a model error, an answer
that cannot be read) backs off and is parked after MAX_TRIES; a job that can never succeed
(unreadable) is parked at once. Nothing is dropped silently: `pai memory queue` shows both."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pai_cli.core import text
from pai_cli.core.distill import (
    DEFAULT_CATEGORIES,
    BadModelOutput,
    Decision,
    filter_decisions,
    is_chatter,
    is_instruction,
    parse_decisions,
    system_prompt,
    user_prompt,
)
from pai_cli.core.events import derived_event_id
from pai_cli.core.ids import derived_memory_id
from pai_cli.core.jobs import REMEMBER, CorruptJob, RememberJob
from pai_cli.core.memory_service import MemoryService
from pai_cli.errors import BackendError, ConfigError, NotFound, PaiError
from pai_cli.ports import ChatModel, Cipher, Clock, ConversationStore, UsageLog, WorkQueue
from pai_cli.pricing import estimate_cost
from pai_cli.records import (
    ACTIVE,
    RETIRED,
    SUPERSEDED,
    ChatMessage,
    Job,
    Memory,
    Message,
    SealedMessage,
    UsageRecord,
)

JOB = "job"
MESSAGE = "message"
MAX_TRIES = 5
EXTRACTION_TOKENS = 1024


def backoff(tries: int) -> float:
    """Seconds before try number tries+1: 30 s, 2 min, 8 min, 32 min, then parked."""
    return min(4 ** tries * 30.0, 6 * 3600.0)


@dataclass(frozen=True)
class WriterSettings:
    mode: str = "distill"
    """distill (facts, with a model) or verbatim (each message as it was said)."""
    category: str = "conversation"
    """The category of verbatim memories."""
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    known: int = 8
    """How many of the nearest memories the model sees beside the exchange."""
    context_messages: int = 4


@dataclass
class WriteReport:
    written: int = 0
    """Memories made or changed."""
    jobs_done: int = 0
    failed: int = 0
    parked: int = 0
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Exchange:
    user_id: str
    conversation_id: str | None
    new: list[Message]
    context: list[Message]
    key: str
    """What the derived ids of its facts hang on (the user message id)."""


def _user_text(messages: Sequence[Message]) -> str:
    return "\n".join(m.content for m in messages if m.role == "user")


class MemoryWriter:
    def __init__(
        self,
        memories: MemoryService,
        conversations: ConversationStore,
        queue: WorkQueue,
        cipher: Cipher,
        clock: Clock,
        model: ChatModel | None = None,
        usage: UsageLog | None = None,
        settings: WriterSettings | None = None,
    ) -> None:
        self.memories = memories
        self.conversations = conversations
        self.queue = queue
        self.cipher = cipher
        self.clock = clock
        self.model = model
        self.usage = usage
        self.settings = settings or WriterSettings()

    @property
    def distilling(self) -> bool:
        return self.settings.mode == "distill" and self.model is not None

    # -- the queue -----------------------------------------------------------------------
    def drain(self, user_id: str, limit: int = 200) -> WriteReport:
        report = WriteReport()
        for job in self.queue.pending(user_id, limit, self.clock()):
            try:
                self._run(job, report)
            except (CorruptJob, _Unreadable) as e:
                self.queue.fail(job.id, f"unreadable: {e}", 0.0, True, self.clock())
                report.parked += 1
            except (BadModelOutput, PaiError) as e:
                if isinstance(e, PaiError) and not isinstance(e, BackendError):
                    raise  # configuration: every job would fail the same way; say so now
                park = job.tries + 1 >= MAX_TRIES
                now = self.clock()
                reason = e.message if isinstance(e, PaiError) else f"bad model output: {e}"
                self.queue.fail(job.id, reason, now + backoff(job.tries), park, now)
                report.failed += 1
                report.parked += park
        return report

    def run(self, job: Job) -> WriteReport:
        """One job from a queue that redelivers on its own (SQS, drained by the Lambda
        memory writer): applied whole, or it raises (a model error, unreadable output, an
        unreadable job) and the queue delivers it again, then dead-letters it after a few
        tries. Every write is keyed by ids derived from the job: a redelivery after a
        failure midway writes what is missing and nothing twice."""
        report = WriteReport()
        self._run(job, report)
        return report

    def _run(self, job: Job, report: WriteReport) -> None:
        if job.kind != REMEMBER:
            raise _Unreadable(f"unknown job kind {job.kind!r}")
        decoded = RememberJob.decode(job.payload)
        try:
            content = self.cipher.open(job.user_id, JOB, decoded.message_id, decoded.sealed)
        except BackendError as e:
            raise _Unreadable(e.message) from None
        if not self.distilling:
            self._verbatim(job, decoded, content, report)
            return
        exchange = self._exchange(job.user_id, decoded, content)
        self._distill(exchange, report, done=job.id)

    def _verbatim(self, job: Job, decoded: RememberJob, content: str,
                  report: WriteReport) -> None:
        with self.queue.transaction():
            # Claim, then write, in one transaction: a second process draining the same
            # queue finds the job gone and skips it.
            if not self.queue.done(job.id):
                return
            if text.is_question(content):
                # A message that only asks tells nothing to remember (it stays in the
                # conversation). Kept as a memory it would be what the next such question
                # recalls, closer to it than the answer ("which city do I live in?" found
                # "where do I live now?" at 0.93, and "I moved to Porto" not at all).
                report.jobs_done += 1
                return
            self.memories.add(
                job.user_id, content, self.settings.category, pinned=False,
                source_conversation=decoded.conversation_id,
                source_message=decoded.message_id,
                memory_id=derived_memory_id(job.user_id, "message", decoded.message_id),
                origin="message", actor="extraction",
                # Kept as said because no model could distil it: `memory distill` will.
                processed=self.settings.mode == "verbatim",
                event_id=derived_event_id(job.user_id, decoded.message_id, "verbatim"),
            )
        report.written += 1
        report.jobs_done += 1

    def _open_message(self, m: SealedMessage) -> Message:
        return Message(m.id, m.conversation_id, m.role,
                       self.cipher.open(m.user_id, MESSAGE, m.id, m.content), m.created_at)

    def _exchange(self, user_id: str, job: RememberJob, content: str) -> Exchange:
        """The user message, the reply after it, and a few messages before for reference."""
        now = self.clock()
        sealed = self.conversations.messages(user_id, job.conversation_id, now)
        at = next((i for i, m in enumerate(sealed) if m.id == job.message_id), None)
        if at is None:  # the conversation expired or was deleted: the job's own copy
            new = [Message(job.message_id, job.conversation_id, "user", content, now)]
            return Exchange(user_id, job.conversation_id, new, [], job.message_id)
        new = [self._open_message(sealed[at])]
        if at + 1 < len(sealed) and sealed[at + 1].role == "assistant":
            new.append(self._open_message(sealed[at + 1]))
        start = max(0, at - self.settings.context_messages)
        context = [self._open_message(m) for m in sealed[start:at]]
        return Exchange(user_id, job.conversation_id, new, context, job.message_id)

    # -- distilling ----------------------------------------------------------------------
    def decide(self, exchange: Exchange) -> tuple[list[Decision], list[Memory], list[str]]:
        """Ask the model; returns (kept decisions, the known memories their handles name,
        why each dropped fact was dropped)."""
        user_text = _user_text(exchange.new)
        if is_chatter(user_text) or is_instruction(user_text):
            return [], [], []  # nothing to learn, and no model call spent on it
        # No relevance floor: the model, not the score, decides whether a near memory is
        # the same fact (a move shares no word with the old address).
        known = [h.memory for h in self.memories.search(
            exchange.user_id, user_text[:4096], self.settings.known, min_score=0.0)]
        system = system_prompt(self.settings.categories)
        prompt = user_prompt(exchange.context, exchange.new, known)
        assert self.model is not None
        parts: list[str] = []
        usage = None
        for event in self.model.stream(system, [ChatMessage("user", prompt)], EXTRACTION_TOKENS):
            parts.append(event.text)
            usage = event.usage or usage
        if usage is not None and self.usage is not None:
            self.usage.record(exchange.user_id, UsageRecord(
                self.clock(), exchange.conversation_id or "-", self.model.model_id,
                usage.input_tokens, usage.output_tokens,
                estimate_cost(self.model.model_id, usage.input_tokens, usage.output_tokens),
                purpose="memory"))
        decisions = parse_decisions("".join(parts), len(known), self.settings.categories)
        assistant_text = "\n".join(m.content for m in exchange.new if m.role == "assistant")
        filtered = filter_decisions(decisions, user_text, known, [system], assistant_text)
        return filtered.kept, known, [f"{d.text!r}: {why}" for d, why in filtered.dropped]

    def _distill(self, exchange: Exchange, report: WriteReport, done: int | None = None,
                 retire: Memory | None = None) -> None:
        decisions, known, _dropped = self.decide(exchange)
        with self.queue.transaction():
            if done is not None and not self.queue.done(done):
                return  # another process applied this job meanwhile
            written, notices = self.apply(exchange, decisions, known)
            if retire is not None:
                self._mark_distilled(retire, exchange.key)
        report.written += written
        report.jobs_done += 1
        report.notices += notices

    def _protected(self, m: Memory) -> bool:
        """Pinned and hand-written memories are the user's: extraction never changes them."""
        return m.pinned or m.origin == "user"

    def apply(self, exchange: Exchange, decisions: Sequence[Decision],
              known: Sequence[Memory]) -> tuple[int, list[str]]:
        """Every decision of one exchange, as one batch of events (call inside a
        transaction). Returns (memories made or changed, notices for the user)."""
        mem = self.memories
        user = exchange.user_id
        batch = derived_event_id(user, exchange.key, "batch").replace("evt-", "bat-", 1)
        sources = tuple(m.id for m in exchange.new if m.role == "user")
        model = self.model.model_id if self.model else None
        when = next((m.created_at for m in exchange.new if m.role == "user"), self.clock())
        written, notices = 0, []

        def add(i: int, d: Decision, conflicts: str | None = None) -> Memory:
            existing = mem.store.get(user, derived_memory_id(user, "fact", exchange.key, str(i)),
                                     self.clock())
            if existing is not None:  # this decision was applied by an earlier try
                return mem.sealer.open(existing)
            return mem.add(
                user, d.text, d.category, pinned=False,
                source_conversation=exchange.conversation_id, source_message=sources[0]
                if sources else None, memory_id=derived_memory_id(user, "fact", exchange.key,
                                                                  str(i)),
                origin="extraction", actor="extraction", importance=d.importance,
                valid_from=d.valid_from, sources=sources, conflicts_with=conflicts,
                batch=batch, model=model, event_id=derived_event_id(user, exchange.key, str(i)))

        for i, d in enumerate(decisions):
            if d.action == "none":
                continue
            if d.action == "add":
                add(i, d)
                written += 1
                continue
            assert d.target is not None
            old = known[d.target - 1]
            try:
                current = mem.get(user, old.id)
            except NotFound:
                current = None
            if current is None or current.status != ACTIVE:
                add(i, d)  # what it named is gone or no longer current: keep the new fact
                written += 1
                continue
            if self._protected(current):
                add(i, d, conflicts=current.id)
                written += 1
                notices.append(f"pai: a new fact conflicts with your memory {current.id[:12]} "
                               f"(\"{current.content[:60]}\"): kept both; see `pai memory show "
                               f"{current.id[:12]}`.")
                continue
            eid = derived_event_id(user, exchange.key, str(i), d.action)
            if mem.events.get_event(user, eid) is not None:
                continue  # applied by an earlier try
            if d.action == "update":
                merged = replace(
                    current, content=d.text, updated_at=self.clock(),
                    importance=max(d.importance, current.importance or 0) or None,
                    valid_from=d.valid_from or current.valid_from,
                    sources=tuple(dict.fromkeys([*current.sources, *sources])))
                mem.change(current, merged, "updated", "extraction", batch=batch,
                           sources=sources, model=model, event_id=eid)
                written += 1
            else:  # supersede
                new = add(i, d)
                ended = replace(current, status=SUPERSEDED, superseded_by=new.id,
                                valid_to=d.valid_from or when, updated_at=self.clock())
                mem.change(current, ended, "superseded", "extraction", batch=batch,
                           sources=sources, model=model, event_id=eid,
                           detail={"superseded_by": new.id})
                written += 2
        return written, notices

    # -- the backlog ---------------------------------------------------------------------
    def backlog(self, user_id: str) -> list[Memory]:
        """Messages kept verbatim while no model could distil them, oldest first."""
        found = [m for m in self.memories.export(user_id)
                 if not m.processed and m.status == ACTIVE]
        return sorted(found, key=lambda m: m.created_at)

    def exchange_of(self, m: Memory) -> Exchange:
        if m.source_conversation and m.source_message:
            sealed = self.conversations.messages(m.user_id, m.source_conversation, self.clock())
            if any(s.id == m.source_message for s in sealed):
                job = RememberJob(m.source_conversation, m.source_message, b"")
                return self._exchange(m.user_id, job, m.content)
        new = [Message(m.source_message or m.id, m.source_conversation or "-", "user",
                       m.content, m.created_at)]
        return Exchange(m.user_id, m.source_conversation, new, [], m.id)

    def distill_backlog(self, user_id: str, dry_run: bool = False,
                        progress: Callable[[int, int], None] | None = None,
                        show: Callable[[Memory, list[Decision], list[Memory]], None] | None = None,
                        ) -> WriteReport:
        """Each unprocessed message in its own transaction (so an interrupted run resumes
        where it stopped): its facts added and consolidated, the verbatim copy retired."""
        if self.model is None:
            raise ConfigError(
                "`pai memory distill` needs a chat model: set provider (bedrock or openai) in "
                "config.toml or PAI_PROVIDER, then run it again.")
        report = WriteReport()
        todo = self.backlog(user_id)
        for n, m in enumerate(todo, 1):
            exchange = self.exchange_of(m)
            if dry_run:
                decisions, known, _ = self.decide(exchange)
                if show:
                    show(m, decisions, known)
            else:
                self._distill(exchange, report, retire=m)
            if progress:
                progress(n, len(todo))
        return report

    def _mark_distilled(self, m: Memory, key: str) -> None:
        current = self.memories.get(m.user_id, m.id)
        done = replace(current, processed=True, status=RETIRED, updated_at=self.clock())
        self.memories.change(current, done, "forgotten", "extraction",
                             event_id=derived_event_id(m.user_id, key, "distilled"),
                             batch=derived_event_id(m.user_id, key, "batch").replace(
                                 "evt-", "bat-", 1),
                             detail={"distilled": True})


class _Unreadable(Exception):
    """A job no retry can fix (a payload or ciphertext that cannot be read)."""

