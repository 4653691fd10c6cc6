"""The OpenSearch Serverless adapter against a local VECTORSEARCH stand-in: ids assigned by
the service, delayed visibility, filtered k-NN, SigV4 for "aoss", no refresh calls."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from fakes.opensearch_server import aoss_fake

from pai_cli.backends.aws.opensearch_index import INDEX, OpenSearchIndex
from pai_cli.backends.aws.session import Aws


@pytest.fixture(autouse=True)
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")


def vec(*xs: float) -> list[float]:
    v = np.zeros(4, dtype=np.float32)
    v[: len(xs)] = xs
    return list(v / np.linalg.norm(v))


def test_index_search_update_delete_with_service_ids(monkeypatch) -> None:
    with aoss_fake() as (fake, server):
        idx = OpenSearchIndex(Aws("us-east-1"), server.url, dim=4)
        idx.upsert("alice", [("mem-a", "pets", vec(1, 0)), ("mem-b", "work", vec(0, 1))])
        idx.upsert("bob", [("mem-c", "pets", vec(1, 0))])
        hits = idx.query("alice", vec(1, 0.1), 5, None)
        assert [h[0] for h in hits] == ["mem-a", "mem-b"]
        assert hits[0][1] == pytest.approx(float(np.dot(vec(1, 0), vec(1, 0.1))), abs=1e-5)
        assert [h[0] for h in idx.query("alice", vec(1, 0), 5, "work")] == ["mem-b"]
        idx.upsert("alice", [("mem-a", "pets", vec(0, 0, 1))])  # an edit: old doc replaced
        assert sum(d.source["memory_id"] == "mem-a" for d in fake.indexes[INDEX].values()) == 1
        idx.delete("alice", ["mem-b"])
        assert [h[0] for h in idx.query("alice", vec(0, 1), 5, None)] == ["mem-a"]
        assert list(idx.keys_of("bob")) == ["mem-c"]
        idx.delete_user("bob")
        assert list(idx.keys_of("bob")) == []
    mapping = fake.mappings[INDEX]["mappings"]["properties"]["embedding"]
    assert mapping["method"] == {"name": "hnsw", "space_type": "cosinesimil", "engine": "faiss"}
    bulk = next(s for s in server.seen if s.path.endswith("/_bulk"))
    for line in bulk.body.decode().splitlines():
        assert '"_id"' not in line or '"delete"' in line  # never a custom id on index
        assert "text" not in line and "content" not in line
    search = next(s for s in server.seen if s.path.endswith("/_search") and b"knn" in s.body)
    knn = search.json()["query"]["knn"]["embedding"]
    assert knn["filter"] == {"bool": {"filter": [{"term": {"user_id": "alice"}}]}}
    auth = search.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256") and "/us-east-1/aoss/aws4_request" in auth
    assert "x-amz-content-sha256" in search.headers
    assert not any("_refresh" in s.path for s in server.seen)


def test_new_documents_appear_after_the_delay_and_recall_copes() -> None:
    with aoss_fake(delay=0.3) as (_, server):
        idx = OpenSearchIndex(Aws("us-east-1"), server.url, dim=4)
        idx.upsert("alice", [("mem-a", "pets", vec(1, 0))])
        assert idx.query("alice", vec(1, 0), 5, None) == []  # not searchable yet
        time.sleep(0.35)
        assert [h[0] for h in idx.query("alice", vec(1, 0), 5, None)] == ["mem-a"]


def test_a_custom_id_is_refused_like_the_service_does() -> None:
    from pai_cli.errors import BackendError

    with aoss_fake() as (_, server):
        idx = OpenSearchIndex(Aws("us-east-1"), server.url, dim=4)
        with pytest.raises(BackendError) as err:
            idx._bulk([{"index": {"_index": INDEX, "_id": "mine"}}, {"memory_id": "x"}])
    assert "Document ID is not supported" in err.value.message


@pytest.mark.skipif(not os.environ.get("PAI_TEST_OPENSEARCH_URL"),
                    reason="real OpenSearch Serverless contract test: set PAI_TEST_OPENSEARCH_URL "
                           "(and AWS credentials) to run")
def test_contract_against_a_real_collection() -> None:
    url = os.environ["PAI_TEST_OPENSEARCH_URL"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    idx = OpenSearchIndex(Aws(region), url, index="pai-contract-test", dim=4)
    idx.upsert("contract", [("mem-contract", "test", vec(1, 0))])
    deadline = time.time() + 120
    while time.time() < deadline and not idx.query("contract", vec(1, 0), 1, None):
        time.sleep(5)
    assert idx.query("contract", vec(1, 0), 1, None)[0][0] == "mem-contract"
    idx.delete_user("contract")
