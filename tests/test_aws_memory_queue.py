"""Memory jobs on Lambda, end to end on moto: the agent function stores a turn and puts its
job on SQS before the reply returns; the memory-writer function, fed by a stand-in for
Lambda's SQS event source mapping (tests/fakes/sqs_lambda.py, ReportBatchItemFailures),
writes it with the same core code as `pai chat`. The queues carry the storage template's
attributes (maxReceiveCount 5, the dead-letter queue), except a 1 s visibility timeout so a
redelivery comes within the test. Each function gets a container of its own (its own /tmp
and services), as on Lambda."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fakes.aws_home import REGION, moto_aws_home
from fakes.openai_server import Reply, openai_fake
from fakes.sqs_lambda import EventSourceMapping
from test_api_handlers import ALICE, Context, event, lambda_environment

from pai_cli.api import lambda_handlers
from pai_cli.api.identity import user_for

UID = user_for(ALICE)


class Lambda:
    """Switches the process between the two functions' containers."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, info: dict[str, str], root: Path):
        self.monkeypatch, self.info, self.root = monkeypatch, info, root
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.env: dict[str, str] = {}
        """Set on every container after the stack's environment (the model, the mode)."""

    def container(self, function: str) -> Any:
        lambda_environment(self.monkeypatch, self.info, f"pai-{function}-test")
        for k, v in self.env.items():
            self.monkeypatch.setenv(k, v)
        self.monkeypatch.setenv("PAI_HOME", str(self.root / function))  # its own /tmp
        if function == "memory-writer":  # as infra/compute.yaml sets it
            self.monkeypatch.delenv("MEMORY_QUEUE_URL")
            self.monkeypatch.setenv("PAI_MODEL_TIMEOUT", "60")
        lambda_handlers.services.cache_clear()
        return lambda_handlers.services()

    def chat(self, message: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        self.container("agent")
        out = lambda_handlers.agent_handler(event("POST", "/chat", {"message": message}, **kw),
                                            Context())
        return out["statusCode"], json.loads(out["body"])

    def writer(self) -> EventSourceMapping:
        self.container("memory-writer")
        return EventSourceMapping(self.sqs, self.info["queue_url"], self.info["queue_arn"],
                                  lambda_handlers.memory_writer_handler,
                                  Context(function_name="pai-memory-writer-test"))

    def count(self, queue: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.info[queue], AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return sum(int(v) for v in attrs["Attributes"].values())


@pytest.fixture
def lam(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Lambda]:
    with moto_aws_home(monkeypatch, queue_visibility_s=1) as info:
        yield Lambda(monkeypatch, info, tmp_path / "containers")
    lambda_handlers.services.cache_clear()


def model(lam: Lambda, url: str) -> None:
    lam.env.update({"PAI_PROVIDER": "openai", "PAI_BASE_URL": url, "PAI_MODEL": "tiny"})


def test_the_reply_returns_with_its_job_on_sqs_and_the_writer_remembers_it(lam, monkeypatch):
    with openai_fake(Reply(["Lisbon ", "is lovely."])) as (_, server):
        model(lam, server.url)
        status, turn = lam.chat("My sister Alice moved to Lisbon in March")
    assert status == 200 and turn["reply"] == "Lisbon is lovely."
    # Before the response: the job is on the queue, nothing is remembered yet.
    assert lam.count("queue_url") == 1
    (msg,) = lam.sqs.receive_message(QueueUrl=lam.info["queue_url"],
                                     VisibilityTimeout=0)["Messages"]
    job = json.loads(msg["Body"])
    assert (job["user_id"], job["kind"]) == (UID, "remember")
    assert b"Lisbon" not in base64.b64decode(job["payload"])  # sealed, never plain text
    assert lam.container("agent").memories.list(UID) == []

    mapping = lam.writer()
    mapping.run(10)
    assert mapping.failures == [] and lam.count("queue_url") == lam.count("dlq_url") == 0
    w = lam.container("agent")
    (memory,) = w.memories.list(UID)
    assert memory.content == "My sister Alice moved to Lisbon in March"
    assert memory.source_message == turn["message_id"] and memory.origin == "message"
    out = lambda_handlers.agent_handler(event("POST", "/search", {"query": "Lisbon"}),
                                        Context())
    assert [r["id"] for r in json.loads(out["body"])["results"]] == [memory.id]


def facts(*texts: str) -> Reply:
    return Reply([json.dumps({"memories": [
        {"text": t, "action": "add", "category": "person", "importance": 3} for t in texts]})])


def test_nothing_is_lost_when_the_writer_fails_midway(lam, monkeypatch):
    """Distilled on the writer with the Lambda's model: the first delivery writes one fact and
    fails on the second; SQS delivers the job again and the retry writes the rest, once."""
    from pai_cli.backends.aws.memory_store import DynamoMemoryStore
    from pai_cli.errors import BackendError

    lam.env["PAI_MEMORY_MODE"] = "distill"
    said = "My sister Alice moved to Lisbon and my cat Miso turned four"
    two = ("The user's sister Alice moved to Lisbon.", "The user's cat Miso turned four.")
    with openai_fake(Reply(["Congratulations to Miso!"])) as (fake, server):
        fake.memory_script = [facts(*two), facts(*two)]
        model(lam, server.url)
        status, turn = lam.chat(said)
        assert status == 200
        real, calls = DynamoMemoryStore.insert, {"n": 0}

        def second_insert_fails(self: DynamoMemoryStore, memories: Any) -> list[str]:
            calls["n"] += 1
            if calls["n"] == 2:
                raise BackendError("DynamoDB table pai-memories-test failed (test): midway")
            return real(self, memories)

        monkeypatch.setattr(DynamoMemoryStore, "insert", second_insert_fails)
        mapping = lam.writer()
        mapping.run(15)
        assert len(fake.memory_calls) == 2  # the model was asked again on the redelivery
    assert len(mapping.batches) == 2 and len(mapping.failures) == 1
    assert lam.count("queue_url") == lam.count("dlq_url") == 0
    w = lam.container("agent")
    kept = w.memories.list(UID)
    assert sorted(m.content for m in kept) == sorted(two)
    for m in kept:  # one "created" event each: the retry wrote nothing twice
        assert [e.kind for e in w.history.history(UID, m.id)[1]] == ["created"]
        assert m.sources == (turn["message_id"],)


def test_a_poisoned_message_lands_in_the_dead_letter_queue(lam, monkeypatch):
    status, turn = lam.chat("The spare key is under the blue flowerpot")
    assert status == 200
    url = lam.info["queue_url"]
    lam.sqs.send_message(QueueUrl=url, MessageBody="not a pai job at all")
    lam.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({  # readable, but no job inside
        "v": 1, "user_id": UID, "kind": "remember", "created_at": 0,
        "payload": base64.b64encode(b"garbage").decode()}))
    mapping = lam.writer()
    mapping.run(20)
    assert lam.count("queue_url") == 0 and lam.count("dlq_url") == 2
    dead = lam.sqs.receive_message(QueueUrl=lam.info["dlq_url"], MaxNumberOfMessages=10,
                                   AttributeNames=["All"])["Messages"]
    assert "not a pai job at all" in {m["Body"] for m in dead}
    # Each poison was tried maxReceiveCount (5) times; the good job was written at once.
    assert sorted(mapping.failures.count(m["MessageId"]) for m in dead) == [5, 5]
    (memory,) = lam.container("agent").memories.list(UID)
    assert memory.content == "The spare key is under the blue flowerpot"


def test_a_failed_send_keeps_the_job_and_the_next_turn_sends_it(lam, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    w = lam.container("agent")
    sent: list[str] = []

    def down_once(**kw: Any) -> None:
        sent.append("try")
        if len(sent) == 1:
            raise EndpointConnectionError(endpoint_url="https://sqs.us-east-1.amazonaws.com")

    w.aws.client("sqs").meta.events.register("before-call.sqs.SendMessage", down_once)
    out = lambda_handlers.agent_handler(event("POST", "/chat", {"message": "first: the boat "
                                                                "is moored at pier 9"}), Context())
    assert out["statusCode"] == 200  # the turn is answered; its job waits locally
    assert lam.count("queue_url") == 0 and len(w.queue.jobs(UID)) == 1
    out = lambda_handlers.agent_handler(event("POST", "/chat", {"message": "second: the "
                                                                "oars are in the shed"}), Context())
    assert out["statusCode"] == 200
    assert lam.count("queue_url") == 2 and w.queue.jobs(UID) == []
    lam.writer().run(10)
    contents = sorted(m.content for m in lam.container("agent").memories.list(UID))
    assert contents == ["first: the boat is moored at pier 9", "second: the oars are in the shed"]
