"""AWS adapter details that moto cannot show: botocore's Stubber checks each request
against the service model (S3 Vectors QueryVectors, Bedrock InvokeModel for Titan)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from fakes.aws_home import moto_aws_home

from pai_cli.backends.aws.s3vectors_index import S3VectorsIndex
from pai_cli.backends.aws.session import Aws
from pai_cli.backends.aws.titan_embedder import MODEL, TitanEmbedder
from pai_cli.config import load_settings
from pai_cli.errors import BackendError, ConfigError
from pai_cli.wiring import Wiring


@pytest.fixture(autouse=True)
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_query_vectors_request_and_filter() -> None:
    aws = Aws("us-east-1")
    index = S3VectorsIndex(aws, "pai-vectors-1-dev", "memories")
    with Stubber(aws.client("s3vectors")) as stub:
        stub.add_response("query_vectors", {
            "vectors": [{"key": "mem-a", "distance": 0.1, "metadata": {"user_id": "alice"}},
                        {"key": "mem-x", "distance": 0.2, "metadata": {"user_id": "mallory"}}],
            "distanceMetric": "cosine"},
            {"vectorBucketName": "pai-vectors-1-dev", "indexName": "memories", "topK": 5,
             "queryVector": {"float32": [0.5, 0.5]}, "returnDistance": True,
             "returnMetadata": True,
             "filter": {"$and": [{"user_id": {"$eq": "alice"}}, {"category": {"$eq": "pets"}}]}})
        hits = index.query("alice", [0.5, 0.5], 5, "pets")
    # A hit of another user is dropped even if the service returned it.
    assert hits == [("mem-a", pytest.approx(0.9))]


def test_query_vectors_errors_are_one_line() -> None:
    aws = Aws("us-east-1")
    index = S3VectorsIndex(aws, "pai-vectors-1-dev", "memories", env="dev")
    with Stubber(aws.client("s3vectors")) as stub:
        stub.add_client_error("query_vectors", "NotFoundException", "index not found", 404)
        with pytest.raises(ConfigError) as err:
            index.query("alice", [0.1], 3, None)
        stub.add_client_error("query_vectors", "AccessDeniedException", "no", 403)
        with pytest.raises(ConfigError):
            index.query("alice", [0.1], 3, None)
        stub.add_client_error("query_vectors", "ServiceUnavailableException", "down", 503)
        with pytest.raises(BackendError):
            index.query("alice", [0.1], 3, None)
    assert "pai deploy --env dev" in err.value.message


def local_embedder(pai_home: Path) -> None:
    """The AWS home on moto, embedding with WordLlama (moto's Bedrock returns no vectors)."""
    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text('embedder = "local"\n')


def body(payload: dict) -> StreamingBody:
    raw = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_titan_embeddings_request_shape_and_normalisation() -> None:
    aws = Aws("us-east-1")
    embedder = TitanEmbedder(aws)
    with Stubber(aws.client("bedrock-runtime")) as stub:
        stub.add_response("invoke_model", {"body": body({"embedding": [3.0] + [0.0] * 1023,
                                                        "inputTextTokenCount": 4}),
                                           "contentType": "application/json"},
                          {"modelId": MODEL, "body": ANY, "contentType": "application/json",
                           "accept": "application/json"})
        vec = embedder.embed(["hello there"])
    assert vec.shape == (1, 1024) and vec[0, 0] == pytest.approx(1.0)


def test_titan_access_denied_is_a_config_error() -> None:
    aws = Aws("us-east-1")
    with Stubber(aws.client("bedrock-runtime")) as stub:
        stub.add_client_error("invoke_model", "AccessDeniedException", "no model access", 403)
        with pytest.raises(ConfigError) as err:
            TitanEmbedder(aws).embed(["x"])
    assert "denied" in err.value.message


@pytest.mark.parametrize(("code", "words"), [
    ("DisabledException", "disabled"), ("KMSInvalidStateException", "pending deletion"),
    ("AccessDeniedException", "denied"),
])
def test_kms_key_states_are_config_errors(code: str, words: str) -> None:
    """moto does not enforce KMS key state: the errors KMS really returns, via Stubber."""
    from pai_cli.backends.aws.kms_cipher import KmsCipher

    aws = Aws("us-east-1")
    cipher = KmsCipher(aws, "alias/pai-encryption-dev")
    with Stubber(aws.client("kms")) as stub:
        stub.add_client_error("generate_data_key", code, "key state", 400, expected_params={
            "KeyId": "alias/pai-encryption-dev", "KeySpec": "AES_256",
            "EncryptionContext": {"pai:user": "alice", "pai:purpose": "content"}})
        with pytest.raises(ConfigError) as err:
            cipher.seal("alice", "memory", "mem-1", "text")
    assert words in err.value.message


def test_partial_write_is_rolled_back(monkeypatch: pytest.MonkeyPatch, pai_home: Path) -> None:
    """S3 written, DynamoDB failed: the body is deleted again and nothing is half there."""
    import boto3

    from pai_cli.backends.aws import memory_store

    local_embedder(pai_home)
    with moto_aws_home(monkeypatch) as info:
        w = Wiring(load_settings("alice"))
        store = w.memories.store
        real_table = type(store).table

        class Failing:
            def put_item(self, **kw):
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}},
                                  "PutItem")

            def __getattr__(self, name):
                return getattr(real_table.fget(store), name)

        monkeypatch.setattr(memory_store.DynamoMemoryStore, "table", property(lambda s: Failing()))
        with pytest.raises(BackendError):
            w.memories.add("alice", "half written?")
        s3 = boto3.client("s3", region_name="us-east-1")
        listed = s3.list_object_versions(Bucket=info["bucket"], Prefix="memories/alice/")
        assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []
        vec = boto3.client("s3vectors", region_name="us-east-1")
        assert vec.list_vectors(vectorBucketName=info["vector_bucket"],
                                indexName="memories")["vectors"] == []


def test_reindex_sweeps_bodies_without_items(monkeypatch: pytest.MonkeyPatch,
                                             pai_home: Path) -> None:
    """A crash between the S3 write and the DynamoDB write leaves a body nobody can read:
    `pai memory reindex` (the disaster-recovery path) removes it and rebuilds the vectors."""
    import boto3

    local_embedder(pai_home)
    with moto_aws_home(monkeypatch) as info:
        w = Wiring(load_settings("alice"))
        kept = w.memories.add("alice", "a memory that is really there")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.put_object(Bucket=info["bucket"], Key="memories/alice/mem-orphan.json", Body=b"{}")
        vec = boto3.client("s3vectors", region_name="us-east-1")
        vec.delete_vectors(vectorBucketName=info["vector_bucket"], indexName="memories",
                           keys=[kept.id])
        assert w.memories.reindex("alice") == 1
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=info["bucket"])["Contents"]]
        assert keys == [f"memories/alice/{kept.id}.json"]
        assert [h.memory.id for h in w.memories.search("alice", "really there", 3)] == [kept.id]


def test_a_failed_vector_write_is_repaired_by_the_retry(monkeypatch: pytest.MonkeyPatch,
                                                       pai_home: Path) -> None:
    """The item commits before the vector: a retry of the same id must still index it."""
    from pai_cli.backends.aws.s3vectors_index import S3VectorsIndex

    local_embedder(pai_home)
    with moto_aws_home(monkeypatch):
        w = Wiring(load_settings("alice"))
        real = S3VectorsIndex.upsert
        calls = {"n": 0}

        def flaky(self, user_id, items):
            calls["n"] += 1
            if calls["n"] == 1:
                raise BackendError("S3 Vectors is throttling (test)")
            return real(self, user_id, items)

        monkeypatch.setattr(S3VectorsIndex, "upsert", flaky)
        with pytest.raises(BackendError):
            w.memories.add("alice", "the spare tyre is under the boot floor", memory_id="mem-t1")
        w.memories.add("alice", "the spare tyre is under the boot floor", memory_id="mem-t1")
        hits = w.memories.search("alice", "where is the spare tyre", 3)
        assert [h.memory.id for h in hits] == ["mem-t1"]


def test_an_edit_racing_a_forget_does_not_resurrect(monkeypatch: pytest.MonkeyPatch,
                                                    pai_home: Path) -> None:
    from pai_cli.errors import NotFound

    local_embedder(pai_home)
    with moto_aws_home(monkeypatch):
        w = Wiring(load_settings("alice"))
        m = w.memories.add("alice", "soon forgotten")
        stale = w.memories.get("alice", m.id)
        w.memories.forget("alice", m.id)
        from dataclasses import replace

        with pytest.raises(NotFound):
            w.memories.change(stale, replace(stale, content="edited after the forget"),
                              "updated", "user")
        assert w.memories.list("alice") == []
