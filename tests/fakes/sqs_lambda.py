"""Lambda's SQS event source mapping, as AWS documents it, driving a handler against moto.

https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html: Lambda polls the queue, hands
the function a batch of up to BatchSize records (the event shape below), and when the
function returns, deletes the batch's messages; with ReportBatchItemFailures only those not
named in the response's batchItemFailures. A function that raises (or answers with an
itemIdentifier it was not given, or with something that is not a response) fails the whole
batch: nothing is deleted. Messages not deleted become visible again after the queue's
visibility timeout; SQS itself moves a message to the dead-letter queue once it has been
received maxReceiveCount times (moto does this on receive, as SQS does)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {k: m.get("Attributes", {}).get(k, "") for k in (
            "ApproximateReceiveCount", "SentTimestamp", "SenderId",
            "ApproximateFirstReceiveTimestamp")},
        "messageAttributes": {}, "md5OfBody": hashlib.md5(m["Body"].encode(),  # noqa: S324
                                                          usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region,
    } for m in messages]}


@dataclass
class EventSourceMapping:
    sqs: Any
    queue_url: str
    queue_arn: str
    handler: Callable[[dict[str, Any], Any], Any]
    context: Any
    batch_size: int = 5
    region: str = "us-east-1"
    batches: list[list[str]] = field(default_factory=list)
    """The message ids of each batch handed to the function."""
    failures: list[str] = field(default_factory=list)

    def poll_once(self) -> int:
        got = self.sqs.receive_message(QueueUrl=self.queue_url,
                                       MaxNumberOfMessages=self.batch_size,
                                       AttributeNames=["All"], WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return 0
        self.batches.append([m["MessageId"] for m in messages])
        try:
            response = self.handler(sqs_event(messages, self.queue_arn, self.region),
                                    self.context)
        except Exception:  # noqa: BLE001 - the whole batch failed
            self.failures += [m["MessageId"] for m in messages]
            return len(messages)
        ids = {m["MessageId"] for m in messages}
        failed = {f.get("itemIdentifier") for f in (response or {}).get("batchItemFailures", [])}
        if not isinstance(response, dict) or not failed <= ids:
            failed = ids  # an invalid response fails the batch
        self.failures += sorted(failed)
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url,
                                        ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def run(self, seconds: float, idle_stop: bool = True, pause: float = 0.2) -> None:
        """Poll for up to `seconds`; with idle_stop, stop at the first empty receive once
        nothing is in flight (every message deleted or dead-lettered)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.poll_once() == 0:
                attrs = self.sqs.get_queue_attributes(
                    QueueUrl=self.queue_url, AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
                if idle_stop and not any(int(v) for v in attrs.values()):
                    return
                time.sleep(pause)
