"""The chat turn: store the message, recall, reply (when a model exists), remember later."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from pai_cli.core import text
from pai_cli.core.jobs import REMEMBER, RememberJob
from pai_cli.core.memory_service import DAY, MemoryService
from pai_cli.core.model_tools import MAX_ROUNDS, ModelTools
from pai_cli.core.prompt import Prompt, build_prompt
from pai_cli.core.redact import redact
from pai_cli.core.remember import MemoryWriter, WriterSettings
from pai_cli.errors import DeadlineExceeded, InputError, ModelError, NotFound, PaiError
from pai_cli.ports import (
    ChatModel,
    Cipher,
    Clock,
    ConversationStore,
    SecretFinder,
    UsageLog,
    WorkQueue,
)
from pai_cli.pricing import estimate_cost
from pai_cli.records import (
    ChatMessage,
    ConversationInfo,
    Message,
    SealedMessage,
    ToolCall,
    TurnResult,
    Usage,
    UsageRecord,
)

MESSAGE = "message"
JOB = "job"
NO_MODEL = (
    "No chat model is configured: pai is in recall-only mode (it stores what you say and "
    "shows what it remembers)."
)


@dataclass(frozen=True)
class ChatSettings:
    conversation_ttl_days: float = 7.0
    recall_k: int = 5
    memory_category: str = "conversation"
    history_messages: int = 20
    context_tokens: int = 12000
    max_tokens: int = 2048
    model_tools: bool = True
    """Offer the model the memory tools (remember, recall, update, forget)."""
    allow_unasked: bool = False
    """Let update/forget run where no one can be asked (allow_model_forget)."""
    memory_wait_s: float = 30.0
    """How long leaving the REPL waits for the last exchange to be written to memory (what
    is not written by then stays queued for the next run)."""


@dataclass(frozen=True)
class TurnHooks:
    """What differs between the callers of the one turn driver."""

    on_text: Callable[[str], None] | None = None
    """Each piece of the reply as it arrives (a terminal printer; nothing for JSON)."""
    on_recalled: Callable[[TurnResult], None] | None = None
    """After recall and storing the message, before the model is called."""
    stop: Callable[[], bool] | None = None
    """Asked after each piece: True ends the reply there (kept, marked interrupted)."""
    deadline: float | None = None
    """A time.monotonic() value the reply must end by (the HTTP API's 30 s)."""
    deadline_message: str = "The reply did not finish in time: what arrived is stored."
    incognito: bool = False
    """Off the record: nothing of the turn is stored or remembered (recall still reads)."""
    history: Sequence[ChatMessage] | None = None
    """Off the record, the conversation so far (the caller keeps it: result.exchange)."""
    confirm: Callable[[str], bool] | None = None
    """Asks the user yes/no before a model's update or forget; None where no one can be
    asked (-m, a pipe, the HTTP API): those calls are then refused (ChatSettings)."""
    on_tool: Callable[[str], None] | None = None
    """One line per tool call the model made, as it is run."""


@dataclass
class PreparedTurn:
    """A turn whose message is stored and whose prompt is built, ready to stream."""

    user_id: str
    result: TurnResult
    prompt: Prompt | None
    started: float
    parts: list[str] = field(default_factory=list)


def new_conversation_id() -> str:
    return f"conv-{uuid.uuid4()}"


class ChatService:
    def __init__(
        self,
        memories: MemoryService,
        conversations: ConversationStore,
        queue: WorkQueue,
        cipher: Cipher,
        clock: Clock,
        model: ChatModel | None = None,
        settings: ChatSettings | None = None,
        usage: UsageLog | None = None,
        writer: WriterSettings | None = None,
        secrets: SecretFinder | None = None,
    ) -> None:
        self.memories = memories
        self.conversations = conversations
        self.queue = queue
        self.cipher = cipher
        self.clock = clock
        self.model = model
        self.settings = settings or ChatSettings()
        self.usage = usage
        self._last_stored = 0.0
        self.writer = MemoryWriter(memories, conversations, queue, cipher, clock, model, usage,
                                   writer or WriterSettings())
        self.secrets = secrets
        self.notices: list[str] = []
        """What the memory writer wants the user told (a conflict with a pinned memory)."""

    # -- conversations -------------------------------------------------------------------
    def resolve_conversation(self, user_id: str, id_or_prefix: str) -> str:
        wanted = id_or_prefix.strip()
        found = self.conversations.resolve_conversation(user_id, wanted, self.clock())
        if found and found != [wanted] and len(wanted.removeprefix("conv-")) < 4:
            raise InputError(
                f"{wanted!r} is too short to pick a conversation: give at least 4 characters "
                "of the id after conv-."
            )
        if not found:
            raise NotFound(
                f"No conversation {id_or_prefix!r} for user {user_id!r}: see `pai conversations list`."
            )
        if len(found) > 1:
            raise InputError(f"{id_or_prefix!r} matches {len(found)} conversations: give more of it.")
        return found[0]

    def latest_conversation(self, user_id: str) -> str | None:
        found = self.conversations.conversations(user_id, self.clock(), 1)
        return found[0].id if found else None

    def list_conversations(self, user_id: str, limit: int = 20) -> list[ConversationInfo]:
        if limit < 1:
            raise InputError("--limit must be at least 1.")
        return self.conversations.conversations(user_id, self.clock(), limit)

    def messages(self, user_id: str, conversation_id: str) -> list[Message]:
        cid = self.resolve_conversation(user_id, conversation_id)
        return [self._open(m) for m in self.conversations.messages(user_id, cid, self.clock())]

    def delete_conversation(self, user_id: str, conversation_id: str) -> str:
        cid = self.resolve_conversation(user_id, conversation_id)
        with self.queue.transaction():
            # A queued "remember this" would bring the deleted words back as a memory.
            self.queue.discard(user_id, RememberJob.conversation_prefix(cid))
            self.conversations.delete_conversation(user_id, cid)
        return cid

    def forget_everything_queued(self, user_id: str) -> int:
        return self.queue.discard(user_id)

    def _open(self, m: SealedMessage) -> Message:
        content = self.cipher.open(m.user_id, MESSAGE, m.id, m.content)
        return Message(m.id, m.conversation_id, m.role, content, m.created_at)

    # -- the turn ------------------------------------------------------------------------
    def _store(self, user_id: str, conversation_id: str, role: str, content: str) -> str:
        # Strictly increasing within a session, so a reply never sorts before its question
        # when the clock is coarse (or frozen in tests); stores order by (time, id).
        now = max(self.clock(), self._last_stored + 1e-6)
        self._last_stored = now
        message_id = f"msg-{uuid.uuid4()}"
        sealed = SealedMessage(
            id=message_id,
            conversation_id=conversation_id,
            user_id=user_id,
            role=role,
            content=self.cipher.seal(user_id, MESSAGE, message_id, content),
            created_at=now,
            expires_at=now + self.settings.conversation_ttl_days * DAY,
        )
        with self.conversations.transaction():
            self.conversations.append(sealed)
            if role == "user":
                # Same transaction: a stored message always has its memory job queued.
                sealed_job = self.cipher.seal(user_id, JOB, message_id, content)
                job = RememberJob(conversation_id, message_id, sealed_job)
                self.queue.enqueue(user_id, REMEMBER, job.encode(), now)
        return message_id

    def _prepare(
        self, user_id: str, message: str, conversation_id: str | None = None,
        hooks: TurnHooks | None = None,
    ) -> PreparedTurn:
        """Steps 1-3 of the turn: history and recall, store the message (with its memory
        job, so nothing is lost whatever happens next), build the prompt. Off the record
        (hooks.incognito) nothing is stored and the history is the caller's."""
        started = time.perf_counter()
        hooks = hooks or TurnHooks()
        content, redacted = redact(text.clean_text(message, "message"), self.secrets)
        now = self.clock()
        def read_history() -> list[ChatMessage]:
            if hooks.incognito:
                return list(hooks.history or [])
            if not conversation_id or self.model is None:
                return []
            return [ChatMessage(m.role, m.content)
                    for m in map(self._open, self.conversations.last_messages(
                        user_id, conversation_id, self.settings.history_messages, now))]

        recalling = time.perf_counter()
        if self.conversations.remote:
            # One round trip for history beside embed -> search, so at most two sequential
            # remote calls happen before the model call.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(read_history)
                recalled = self.memories.search(user_id, content, self.settings.recall_k)
                history = pending.result()
        else:
            history = read_history()
            recalled = self.memories.search(user_id, content, self.settings.recall_k)
        recall_ms = (time.perf_counter() - recalling) * 1000
        conversation_id = conversation_id or new_conversation_id()
        prompt = None
        if self.model is not None:
            prompt = build_prompt(content, history, recalled, self.settings.context_tokens)
        storing = time.perf_counter()
        message_id = (f"msg-{uuid.uuid4()}" if hooks.incognito
                      else self._store(user_id, conversation_id, "user", content))
        store_ms = (time.perf_counter() - storing) * 1000
        result = TurnResult(conversation_id=conversation_id, user_message_id=message_id,
                            recalled=recalled, redacted=redacted, incognito=hooks.incognito,
                            exchange=[*history, ChatMessage("user", content)])
        if self.model is None:
            result.notice = NO_MODEL
        else:
            result.model = f"{self.model.provider}:{self.model.model_id}"
        # recall (history, embedding, search) and store (the message and its memory job)
        # are parts of prepare, kept apart for the API's metrics (recall / model / write).
        result.timings_ms["recall"] = recall_ms
        result.timings_ms["store"] = store_ms
        result.timings_ms["prepare"] = (time.perf_counter() - started) * 1000
        return PreparedTurn(user_id, result, prompt, started)

    def _stream(self, turn: PreparedTurn, hooks: TurnHooks) -> Iterator[str]:
        """Step 4: the reply's text as it arrives, with the memory tools the model calls
        run between rounds (and their results fed back in the same turn). What arrived is
        kept in turn.parts, so a Ctrl-C or a broken stream still leaves a reply to store."""
        if self.model is None or turn.prompt is None:
            return
        sent = time.perf_counter()
        first = True
        tools = self._tools_for(turn, hooks)
        specs = tools.specs() if tools else []
        messages = list(turn.prompt.messages)
        used_in = used_out = 0
        try:
            for round_ in range(MAX_ROUNDS):
                calls: list[ToolCall] = []
                said: list[str] = []
                for event in self.model.stream(turn.prompt.system, messages,
                                               self.settings.max_tokens, specs):
                    if event.text:
                        if first:
                            turn.result.timings_ms["first_token"] = (
                                time.perf_counter() - sent) * 1000
                            first = False
                        turn.parts.append(event.text)
                        said.append(event.text)
                        yield event.text
                    if event.tool_call is not None:
                        calls.append(event.tool_call)
                    if event.usage is not None:
                        used_in += event.usage.input_tokens
                        used_out += event.usage.output_tokens
                        turn.result.usage = Usage(used_in, used_out, estimate_cost(
                            self.model.model_id, used_in, used_out))
                if not calls or tools is None:
                    return
                if round_ == MAX_ROUNDS - 1:
                    return  # the model keeps calling tools: what it said stands
                results = []
                for call in calls:
                    outcome = tools.run(call, hooks.confirm, self.settings.allow_unasked)
                    results.append(outcome.result)
                    turn.result.tool_calls.append({
                        "name": call.name, "arguments": call.arguments,
                        "ok": not outcome.result.is_error, "summary": outcome.line})
                    if hooks.on_tool is not None:
                        hooks.on_tool(outcome.line)
                messages += [ChatMessage("assistant", "".join(said), tool_calls=tuple(calls)),
                             ChatMessage("user", "", tool_results=tuple(results))]
        finally:
            turn.result.timings_ms["model"] = (time.perf_counter() - sent) * 1000

    def _tools_for(self, turn: PreparedTurn, hooks: TurnHooks) -> ModelTools | None:
        if not self.settings.model_tools:
            return None
        # Off the record a model may look things up, but writes nothing.
        return ModelTools(self.memories, turn.user_id,
                          [h.memory.id for h in turn.result.recalled],
                          read_only=hooks.incognito)

    def _finish(
        self, turn: PreparedTurn, interrupted: bool = False, error: PaiError | None = None
    ) -> TurnResult:
        """Step 5: store the reply (whatever arrived) and the token usage."""
        finishing = time.perf_counter()
        result = turn.result
        reply = "".join(turn.parts)
        result.interrupted = interrupted
        result.error = error.message if error else None
        result.failure = error
        with self.conversations.transaction():  # one commit (one fsync) for reply + usage
            if reply:
                result.reply = reply
                result.exchange.append(ChatMessage("assistant", reply))
                if not result.incognito:
                    result.reply_message_id = self._store(
                        turn.user_id, result.conversation_id, "assistant", reply)
            if result.usage is not None and self.usage is not None and self.model is not None:
                self.usage.record(turn.user_id, UsageRecord(
                    self.clock(), result.conversation_id, self.model.model_id,
                    result.usage.input_tokens, result.usage.output_tokens,
                    result.usage.cost_usd))
        now = time.perf_counter()
        result.timings_ms["finish"] = (now - finishing) * 1000
        result.timings_ms["total"] = (now - turn.started) * 1000
        return result

    def turn(
        self,
        user_id: str,
        message: str,
        conversation_id: str | None = None,
        hooks: TurnHooks | None = None,
    ) -> TurnResult:
        """The one chat turn, for the REPL, `-m`, the HTTP API and MCP alike.

        The message is stored (with its memory job) before the model is called; whatever
        arrives of the reply is stored however the stream ends: a model error or a passed
        deadline (in result.error and result.failure), a stop asked for or a Ctrl-C
        (result.interrupted). Any other exception is raised after that is stored."""
        hooks = hooks or TurnHooks()
        prepared = self._prepare(user_id, message, conversation_id, hooks)
        if hooks.on_recalled is not None:
            hooks.on_recalled(prepared.result)
        error: PaiError | None = None
        interrupted = False
        stream = self._stream(prepared, hooks)
        try:
            for piece in stream:
                if hooks.on_text is not None:
                    hooks.on_text(piece)
                if hooks.stop is not None and hooks.stop():
                    interrupted = True
                    break
                if hooks.deadline is not None and time.monotonic() > hooks.deadline:
                    error = DeadlineExceeded(hooks.deadline_message)
                    break
        except KeyboardInterrupt:
            interrupted = True
        except ModelError as e:
            error = e
        except BaseException:
            # Something outside the model broke (the terminal, a hook): keep what arrived,
            # but the error worth reporting is the first one, not a failed store after it.
            stream.close()
            with contextlib.suppress(Exception):
                self._finish(prepared, interrupted=True)
            raise
        finally:
            stream.close()
        return self._finish(prepared, interrupted=interrupted, error=error)

    def remember_pending(self, user_id: str, limit: int = 200) -> int:
        """Turn queued exchanges into long-term memory (see core/remember.py); returns how
        many memories were made or changed. Safe to run twice, and from two processes."""
        report = self.writer.drain(user_id, limit)
        self.notices += report.notices
        return report.written
