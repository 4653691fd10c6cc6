"""An AWS home on moto: KMS, DynamoDB, S3, S3 Vectors and the SQS queues of memory jobs as
the stacks make them (the queues' attributes read from infra/storage.yaml).

moto stores S3 vectors but has no QueryVectors (a call would go to the real endpoint), so
QueryVectors is answered here from moto's own stored vectors: exact cosine distance and the
metadata filter operators pai sends ($eq, $and), with the service's validation of topK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

ACCOUNT = "123456789012"
REGION = "us-east-1"
ENV = "test"


def _match(metadata: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, cond in flt.items():
        if key == "$and":
            if not all(_match(metadata, c) for c in cond):
                return False
        elif isinstance(cond, dict):
            (op, value), = cond.items()
            if op != "$eq":
                raise ValueError(f"filter operator {op} not emulated")
            if metadata.get(key) != value:
                return False
        elif metadata.get(key) != cond:
            return False
    return True


class _Http:
    status_code = 200
    headers: dict[str, str] = {}


def answer_query_vectors(client: Any) -> None:
    def handler(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        if not 1 <= params["topK"] <= 100:
            raise ValueError("topK must be between 1 and 100")
        stored, token = [], None
        while True:
            kw = {"vectorBucketName": params["vectorBucketName"],
                  "indexName": params["indexName"], "returnData": True, "returnMetadata": True}
            if token:
                kw["nextToken"] = token
            page = client.list_vectors(**kw)
            stored += page["vectors"]
            token = page.get("nextToken")
            if not token:
                break
        q = np.asarray(params["queryVector"]["float32"], dtype=np.float32)
        hits = []
        for v in stored:
            if params.get("filter") and not _match(v.get("metadata") or {}, params["filter"]):
                continue
            d = np.asarray(v["data"]["float32"], dtype=np.float32)
            cos = float(d @ q / ((np.linalg.norm(d) * np.linalg.norm(q)) or 1.0))
            hit: dict[str, Any] = {"key": v["key"], "distance": 1.0 - cos}
            if params.get("returnMetadata"):
                hit["metadata"] = v.get("metadata") or {}
            hits.append(hit)
        hits.sort(key=lambda h: h["distance"])
        return _Http(), {"vectors": hits[: params["topK"]], "distanceMetric": "cosine"}

    def on_call(params: dict[str, Any], **kw: Any) -> tuple[Any, dict[str, Any]]:
        # before-call sees the serialised request: rest-json puts the arguments in the body.
        body = params["body"]
        return handler(json.loads(body) if isinstance(body, bytes | str) else body, **kw)

    client.meta.events.register("before-call.s3vectors.QueryVectors", on_call)


def memory_queues(sqs: Any, env: str = ENV, visibility_timeout: int | None = None,
                  ) -> dict[str, str]:
    """The queue of memory jobs and its dead-letter queue with the storage template's
    attributes. visibility_timeout: the one override a test may make (the template's 720 s
    is what a real writer needs; a test cannot wait that long for a redelivery)."""
    from pathlib import Path

    import yaml

    template = yaml.safe_load((Path(__file__).resolve().parents[2] / "infra" /
                               "storage.yaml").read_text())["Resources"]
    dlq_props = template["MemoryJobsDeadLetterQueue"]["Properties"]
    props = template["MemoryJobsQueue"]["Properties"]
    dlq = sqs.create_queue(QueueName=f"pai-memory-jobs-dlq-{env}", Attributes={
        "MessageRetentionPeriod": str(dlq_props["MessageRetentionPeriod"]),
        "SqsManagedSseEnabled": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=f"pai-memory-jobs-{env}", Attributes={
        "VisibilityTimeout": str(visibility_timeout or props["VisibilityTimeout"]),
        "MessageRetentionPeriod": str(props["MessageRetentionPeriod"]),
        "SqsManagedSseEnabled": "true",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount":
                                     props["RedrivePolicy"]["maxReceiveCount"]})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return {"queue_url": url, "queue_arn": arn, "dlq_url": dlq, "dlq_arn": dlq_arn}


@contextmanager
def moto_aws_home(monkeypatch: Any, dim: int = 256,
                  queue_visibility_s: int | None = None) -> Iterator[dict[str, str]]:
    import boto3
    from moto import mock_aws

    from pai_cli.backends.aws import schema
    from pai_cli.backends.aws.names import reference_names
    from pai_cli.backends.aws.session import Aws

    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_REGION": REGION, "PAI_BACKEND": "aws", "PAI_ENV": ENV}.items():
        monkeypatch.setenv(var, value)
    original = Aws.client

    def client(self: Aws, service: str) -> Any:
        made = service not in self._clients
        c = original(self, service)
        if made and service == "s3vectors":
            answer_query_vectors(c)
        return c

    monkeypatch.setattr(Aws, "client", client)
    with mock_aws():
        names = reference_names(ENV, ACCOUNT)
        kms = boto3.client("kms", region_name=REGION)
        key_id = kms.create_key(Description="pai test")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=names.key_alias, TargetKeyId=key_id)
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(**schema.conversations_table(names.conversations_table))
        ddb.create_table(**schema.memories_table(names.memories_table))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=names.memory_bucket)
        s3.put_bucket_versioning(Bucket=names.memory_bucket,
                                 VersioningConfiguration={"Status": "Enabled"})
        vec = boto3.client("s3vectors", region_name=REGION)
        vec.create_vector_bucket(vectorBucketName=names.vector_bucket)
        vec.create_index(vectorBucketName=names.vector_bucket, indexName=names.vector_index,
                         dimension=dim, **schema.VECTOR_INDEX)
        queues = memory_queues(boto3.client("sqs", region_name=REGION),
                               visibility_timeout=queue_visibility_s)
        key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        yield {"key_id": key_id, "key_arn": key_arn, "memories": names.memories_table,
               "bucket": names.memory_bucket, "conversations": names.conversations_table,
               "vector_bucket": names.vector_bucket, **queues}
