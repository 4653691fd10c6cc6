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
    # innerproduct on unit vectors: cosine's ranking, on every engine version.
    assert mapping["method"] == {"name": "hnsw", "space_type": "innerproduct", "engine": "faiss"}
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


def test_the_fake_refuses_what_opensearch_refuses() -> None:
    """faiss supports cosinesimil from 2.19 only (knn-methods-engines.md): the old mapping
    is refused by an older engine, as the service would; pai's is accepted by both."""
    from fakes.opensearch_server import MappingRefused, check_mapping

    from pai_cli.backends.aws.opensearch_index import mapping

    old = mapping(1024)
    old["mappings"]["properties"]["embedding"]["method"]["space_type"] = "cosinesimil"
    with pytest.raises(MappingRefused, match="does not support space type"):
        check_mapping(old, (2, 17))
    assert check_mapping(old, (2, 19))["space"] == "cosinesimil"
    for version in ((2, 11), (2, 19)):
        assert check_mapping(mapping(1024), version) == {
            "field": "embedding", "engine": "faiss", "space": "innerproduct"}
    no_knn = mapping(8)
    no_knn["settings"]["index"]["knn"] = False
    with pytest.raises(MappingRefused, match="index.knn"):
        check_mapping(no_knn, (2, 19))
    with pytest.raises(MappingRefused, match="Dimension"):
        check_mapping(mapping(20_000), (2, 19))


@pytest.mark.parametrize("space", ["innerproduct", "cosinesimil"])
def test_scores_read_back_as_cosine_with_the_documented_formulas(space: str) -> None:
    """The fake scores by knn-spaces.md; the adapter's inverse gives the cosine back, over
    the whole range (negative similarities included), and never divides by zero."""
    from fakes.opensearch_server import knn_score as score

    from pai_cli.backends.aws.opensearch_index import similarity

    rng = np.random.default_rng(7)
    for _ in range(200):
        x, y = rng.normal(size=8), rng.normal(size=8)
        x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
        s = score(space, "faiss", x, y)
        assert s > 0
        assert similarity(s, space) == pytest.approx(float(x @ y), abs=1e-6)
    assert similarity(score(space, "faiss", vec_np(1), vec_np(1)), space) == pytest.approx(1.0)
    assert similarity(score(space, "faiss", vec_np(1), -vec_np(1)), space) == pytest.approx(-1.0)


def vec_np(*xs: float) -> np.ndarray:
    return np.asarray(vec(*xs), dtype=np.float64)


def test_an_index_made_with_cosinesimil_is_read_with_its_own_formula() -> None:
    """An index created before this change (faiss cosinesimil, on an engine that has it):
    the adapter reads its mapping and decodes its scores by that space."""
    from pai_cli.backends.aws.opensearch_index import mapping

    with aoss_fake(engine_version=(2, 19)) as (fake, server):
        old = mapping(4)
        old["mappings"]["properties"]["embedding"]["method"]["space_type"] = "cosinesimil"
        import httpx

        assert httpx.put(f"{server.url}/{INDEX}", json=old).status_code == 200
        idx = OpenSearchIndex(Aws("us-east-1"), server.url, dim=4)
        idx.upsert("alice", [("mem-a", "pets", vec(1, 0)), ("mem-b", "pets", vec(-1, 0.2))])
        hits = dict(idx.query("alice", vec(1, 0.1), 5, None))
        assert idx.space == "cosinesimil"
        assert hits["mem-a"] == pytest.approx(float(np.dot(vec(1, 0), vec(1, 0.1))), abs=1e-5)
        assert hits["mem-b"] == pytest.approx(float(np.dot(vec(-1, 0.2), vec(1, 0.1))), abs=1e-5)


def test_long_sessions_sign_with_refreshed_credentials(monkeypatch) -> None:
    """AWSV4SignerAuth takes frozen credentials from the session's credentials object for
    each request: an assumed role's keys that rotate mid-session are picked up."""
    from datetime import UTC, datetime, timedelta

    from botocore.credentials import RefreshableCredentials

    issued = iter(range(1, 10))

    def refresh() -> dict[str, str]:
        n = next(issued)
        # Already inside botocore's refresh window: every use asks for new keys.
        return {"access_key": f"ASIAROTATING{n}", "secret_key": "s", "token": f"t{n}",
                "expiry_time": (datetime.now(UTC) + timedelta(seconds=60)).isoformat()}

    creds = RefreshableCredentials.create_from_metadata(refresh(), refresh, "assume-role")
    monkeypatch.setattr(Aws, "credentials", lambda self: creds)
    with aoss_fake() as (_, server):
        idx = OpenSearchIndex(Aws("us-east-1"), server.url, dim=4)
        idx.query("alice", vec(1, 0), 1, None)
        idx.query("alice", vec(1, 0), 1, None)
    keys = [s.headers["authorization"].split("Credential=")[1].split("/")[0]
            for s in server.seen if "authorization" in s.headers]
    assert len(set(keys)) >= 2 and all(k.startswith("ASIAROTATING") for k in keys)


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
