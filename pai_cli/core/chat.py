"""The chat turn: store the message, recall, reply (when a model exists), remember later."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pai_cli.core import text
from pai_cli.core.memory_service import DAY, MemoryService, derived_memory_id
from pai_cli.core.records import ConversationInfo, Message, SealedMessage, TurnResult
from pai_cli.errors import InputError, NotFound
from pai_cli.ports import ChatModel, Cipher, Clock, ConversationStore, WorkQueue

MESSAGE = "message"
JOB = "job"
REMEMBER = "remember"
NO_MODEL = (
    "No chat model is configured: pai is in recall-only mode (it stores what you say and "
    "shows what it remembers)."
)


@dataclass(frozen=True)
class ChatSettings:
    conversation_ttl_days: float = 7.0
    recall_k: int = 5
    memory_category: str = "conversation"


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
    ) -> None:
        self.memories = memories
        self.conversations = conversations
        self.queue = queue
        self.cipher = cipher
        self.clock = clock
        self.model = model
        self.settings = settings or ChatSettings()

    # -- conversations -------------------------------------------------------------------
    def resolve_conversation(self, user_id: str, id_or_prefix: str) -> str:
        found = self.conversations.resolve_conversation(user_id, id_or_prefix.strip(), self.clock())
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
        self.conversations.delete_conversation(user_id, cid)
        return cid

    def _open(self, m: SealedMessage) -> Message:
        content = self.cipher.open(m.user_id, MESSAGE, m.id, m.content)
        return Message(m.id, m.conversation_id, m.role, content, m.created_at)

    # -- the turn ------------------------------------------------------------------------
    def _store(self, user_id: str, conversation_id: str, role: str, content: str) -> str:
        now = self.clock()
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
                job = self.cipher.seal(user_id, JOB, message_id, content)
                payload = conversation_id.encode() + b"\n" + message_id.encode() + b"\n" + job
                self.queue.enqueue(user_id, REMEMBER, payload, now)
        return message_id

    def turn(
        self,
        user_id: str,
        message: str,
        conversation_id: str | None = None,
        on_recall: Callable[[TurnResult], None] | None = None,
    ) -> TurnResult:
        content = text.clean_text(message, "message")
        conversation_id = conversation_id or new_conversation_id()
        message_id = self._store(user_id, conversation_id, "user", content)
        result = TurnResult(conversation_id=conversation_id, user_message_id=message_id)
        result.recalled = self.memories.search(user_id, content, self.settings.recall_k) \
            if self.memories.count(user_id) else []
        if self.model is None:
            result.notice = NO_MODEL
        if on_recall:
            on_recall(result)
        return result

    def remember_pending(self, user_id: str, limit: int = 200) -> int:
        """Turn queued exchanges into long-term memories. Safe to run twice: ids derive
        from the message, so a job that ran before a crash is a no-op the second time."""
        written = 0
        for job_id, kind, payload in self.queue.pending(user_id, limit):
            if kind == REMEMBER:
                conversation_id, message_id, blob = payload.split(b"\n", 2)
                mid = message_id.decode()
                content = self.cipher.open(user_id, JOB, mid, blob)
                with self.queue.transaction():
                    # Claim, then write, in one transaction: a second process draining the
                    # same queue finds the job gone and skips it.
                    if not self.queue.done(job_id):
                        continue
                    self.memories.add(
                        user_id, content, self.settings.memory_category, pinned=False,
                        source_conversation=conversation_id.decode(), source_message=mid,
                        memory_id=derived_memory_id(user_id, "message", mid),
                    )
                written += 1
            else:
                self.queue.done(job_id)
        return written
