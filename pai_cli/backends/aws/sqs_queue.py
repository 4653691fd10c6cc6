"""The durable queue of memory jobs on Lambda: SQS, drained by the memory-writer function.

A chat turn stores its message in DynamoDB and then sends the message's "remember this" job
here, before the reply is returned. SQS keeps the job whatever happens to the container that
sent it; the memory-writer function receives it (an event source mapping), runs the same
core code as `pai chat` on it, and reports a job that failed back alone (partial batch
responses), so SQS delivers that one again after the visibility timeout and, after the
queue's maxReceiveCount, moves it to the dead-letter queue.

When the send fails after the SDK's own retries (SQS down, throttled, a network cut), the
message is already stored: the job is then kept in the container's local queue (SQLite in
/tmp) and logged with its message id, and it is sent again, before the new one, with the
same user's next turn in that container. What no code can save is a job kept locally in a
container that Lambda retires before that user's next turn: the log line names its message
(see the README's "The queue on Lambda").

The message body is the job in JSON (version, user id, kind, created_at and the payload in
base64): the payload stays opaque here, as every queue keeps it (core/jobs.py reads it)."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import zlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from pai_cli.backends.aws.session import Aws, call
from pai_cli.errors import ConfigError, PaiError
from pai_cli.records import Job

FORMAT = 1
log = logging.getLogger("pai.memory_queue")


class LocalQueue(Protocol):
    """What the fallback needs of the local queue (backends/local/job_queue.py)."""

    def enqueue(self, user_id: str, kind: str, payload: bytes, now: float) -> int: ...
    def pending(self, user_id: str, limit: int, now: float) -> list[Job]: ...
    def jobs(self, user_id: str) -> list[Job]: ...
    def done(self, job_id: int) -> bool: ...
    def discard(self, user_id: str, prefix: bytes = b"") -> int: ...
    def retry(self, user_id: str, job_ids: Sequence[int] | None = None) -> int: ...


class UnreadableMessage(ValueError):
    """An SQS message that is not a pai job: it fails every try and ends in the DLQ."""


def encode_message(user_id: str, kind: str, payload: bytes, created_at: float) -> str:
    return json.dumps({"v": FORMAT, "user_id": user_id, "kind": kind,
                       "created_at": created_at,
                       "payload": base64.b64encode(payload).decode("ascii")},
                      separators=(",", ":"))


def decode_message(body: str, message_id: str, receive_count: int) -> Job:
    """The job an SQS record carries. Its id is a number derived from the SQS message id
    (a Job's id is an int); tries are the deliveries before this one."""
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict) or doc.get("v") != FORMAT:
            raise ValueError("not a pai job (format)")
        user_id, kind = doc["user_id"], doc["kind"]
        if not (isinstance(user_id, str) and user_id and isinstance(kind, str) and kind):
            raise ValueError("no user id or kind")
        payload = base64.b64decode(doc["payload"], validate=True)
        created_at = float(doc["created_at"])
    except (ValueError, KeyError, TypeError) as e:
        raise UnreadableMessage(f"SQS message {message_id} is not a pai job: {e}") from None
    return Job(id=zlib.crc32(message_id.encode()), user_id=user_id, kind=kind,
               payload=payload, created_at=created_at, tries=max(0, receive_count - 1))


class SqsJobQueue:
    """The WorkQueue of the Lambda functions. Sending is SQS's; receiving, deleting and
    redelivering are the event source mapping's, so `done` only says "go ahead" (the
    writer's success is what deletes the message) and `fail` records nothing (SQS counts
    the receives). SQS cannot be listed or filtered per user: `pending` is empty (jobs are
    seen by the memory writer, never drained inside a request), `jobs` and `discard` see
    only the jobs kept locally after a failed send."""

    def __init__(self, aws: Aws, queue_url: str | None, fallback: LocalQueue,
                 env: str = "dev", flush_limit: int = 20) -> None:
        self.aws = aws
        self.queue_url = queue_url or ""
        self.fallback = fallback
        self.env = env
        self.flush_limit = flush_limit
        self.sent = 0

    def transaction(self) -> AbstractContextManager[None]:
        # Nothing spans DynamoDB and SQS: the message is stored first, then its job sent,
        # and the writer's ids are derived from the job, so a redelivery writes nothing twice.
        return contextlib.nullcontext()

    def _send(self, body: str) -> None:
        if not self.queue_url:
            raise ConfigError("The function's environment names no MEMORY_QUEUE_URL: "
                              "redeploy the compute stack (`pai deploy`).")
        sqs = self.aws.client("sqs")
        call(lambda: sqs.send_message(QueueUrl=self.queue_url, MessageBody=body),
             f"SQS queue {self.queue_url}", self.env)
        self.sent += 1

    def enqueue(self, user_id: str, kind: str, payload: bytes, now: float) -> int:
        body = encode_message(user_id, kind, payload, now)
        try:
            self.flush(user_id, now)
            self._send(body)
        except ConfigError:
            raise
        except PaiError as e:
            kept = self.fallback.enqueue(user_id, kind, payload, now)
            log.error("memory job not sent to SQS (%s): kept in this container's local "
                      "queue as job %d, sent again with this user's next turn", e.message,
                      kept)
            return kept
        return 0

    def flush(self, user_id: str, now: float) -> int:
        """Send the jobs a failed send kept locally, oldest first; returns how many."""
        n = 0
        for job in self.fallback.pending(user_id, self.flush_limit, now):
            self._send(encode_message(job.user_id, job.kind, job.payload, job.created_at))
            self.fallback.done(job.id)
            n += 1
        return n

    def pending(self, user_id: str, limit: int, now: float) -> list[Job]:
        return []

    def jobs(self, user_id: str) -> list[Job]:
        return self.fallback.jobs(user_id)

    def fail(self, job_id: int, error: str, next_at: float, park: bool, now: float) -> None:
        """SQS redelivers a failed job after its visibility timeout and counts the tries."""

    def retry(self, user_id: str, job_ids: Sequence[int] | None = None) -> int:
        # Dead letters are redriven as a whole queue (SQS StartMessageMoveTask), not per user.
        return self.fallback.retry(user_id, job_ids)

    def discard(self, user_id: str, prefix: bytes = b"") -> int:
        return self.fallback.discard(user_id, prefix)

    def done(self, job_id: int) -> bool:
        return True

