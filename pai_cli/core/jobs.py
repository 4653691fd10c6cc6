"""What travels through the durable work queue: one codec for every queue adapter.

A queue stores opaque bytes (a SQLite row locally, an SQS message on Lambda); only this
module knows their layout, so a new queue cannot read a job differently from the others."""

from __future__ import annotations

from dataclasses import dataclass

REMEMBER = "remember"
"""Job kind: turn a stored user message into long-term memory."""

_SEP = b"\n"  # ids never contain a newline (they are generated: conv-uuid, msg-uuid)


class CorruptJob(ValueError):
    """A payload this codec cannot read: the job is not replayed as if it were valid."""


@dataclass(frozen=True)
class RememberJob:
    conversation_id: str
    message_id: str
    sealed: bytes
    """The message text, sealed by the cipher as record kind JOB under message_id."""

    def encode(self) -> bytes:
        return (self.conversation_id.encode() + _SEP + self.message_id.encode() + _SEP
                + self.sealed)

    @classmethod
    def decode(cls, payload: bytes) -> RememberJob:
        parts = bytes(payload).split(_SEP, 2)
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise CorruptJob("a remember job without its conversation and message ids")
        try:
            return cls(parts[0].decode("ascii"), parts[1].decode("ascii"), parts[2])
        except UnicodeDecodeError:
            raise CorruptJob("a remember job whose ids are not ASCII") from None

    @staticmethod
    def conversation_prefix(conversation_id: str) -> bytes:
        """The payload prefix shared by every job of one conversation (WorkQueue.discard)."""
        return conversation_id.encode() + _SEP
