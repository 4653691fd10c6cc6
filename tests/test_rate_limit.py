"""Per-user request limits: the token bucket (core/rate_limit.py) on an in-memory store and
on DynamoDB (moto), under concurrent requests from threads; the handlers' 429 with
Retry-After; the stack parameters that set the limits."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from pai_cli.core.rate_limit import ATTEMPTS, Limit, RateLimiter, Verdict
from pai_cli.records import BucketState

INFRA = Path(__file__).resolve().parent.parent / "infra"
REGION = "us-east-1"


class MemoryBuckets:
    """A BucketStore with the same conditional write as DynamoDB's, under a lock."""

    def __init__(self) -> None:
        self.items: dict[str, BucketState] = {}
        self.lock = threading.Lock()
        self.expires: dict[str, float] = {}

    def read(self, user_id: str) -> BucketState | None:
        with self.lock:
            return self.items.get(user_id)

    def write(self, user_id: str, state: BucketState, expected_version: int | None,
              expires_at: float) -> bool:
        with self.lock:
            now = self.items.get(user_id)
            if (now.version if now else None) != expected_version:
                return False
            self.items[user_id] = state
            self.expires[user_id] = expires_at
            return True


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_full_bucket_admits_the_burst_then_refuses_until_a_token_is_due() -> None:
    clock, store = Clock(), MemoryBuckets()
    limiter = RateLimiter(store, Limit(per_minute=6, burst=3), clock)  # a token per 10 s
    got = [limiter.admit("alice") for _ in range(4)]
    assert [v.allowed for v in got] == [True, True, True, False]
    assert [v.remaining for v in got[:3]] == [2, 1, 0]
    assert got[3].retry_after_s == pytest.approx(10.0) and got[3].retry_after_header == "10"
    assert store.items["alice"] == BucketState(0.0, clock.t, 3)  # a refusal writes nothing
    # The bucket may be dropped once it would be full again (30 s), plus a minute.
    assert store.expires["alice"] == pytest.approx(clock.t + 30 + 60)
    clock.t += 4
    assert limiter.admit("alice").retry_after_s == pytest.approx(6.0)
    clock.t += 6
    assert limiter.admit("alice").allowed and not limiter.admit("alice").allowed
    # Another user has a bucket of their own.
    assert limiter.admit("bob") == Verdict(True, 2, 0.0)
    # Refill never goes over the burst, however long the user was away.
    clock.t += 3600
    assert [limiter.admit("alice").allowed for _ in range(4)] == [True, True, True, False]


def test_a_clock_behind_the_last_writer_refills_nothing() -> None:
    clock, store = Clock(), MemoryBuckets()
    limiter = RateLimiter(store, Limit(per_minute=60, burst=1), clock)
    assert limiter.admit("alice").allowed
    clock.t -= 30  # another container's clock, 30 s behind
    refused = limiter.admit("alice")
    assert not refused.allowed and refused.retry_after_s == pytest.approx(1.0)
    assert store.items["alice"].at == clock.t + 30


def test_a_bucket_too_contended_to_update_refuses_for_a_second() -> None:
    class AlwaysRaced(MemoryBuckets):
        def write(self, *args: Any) -> bool:
            return False

    waits: list[float] = []
    limiter = RateLimiter(AlwaysRaced(), Limit(60, 5), Clock(), attempts=8,
                          sleep=waits.append, jitter=lambda lo, hi: hi)
    v = limiter.admit("alice")
    assert not v.allowed and v.retry_after_header == "1"
    # Between tries: 4 ms doubling to 128 ms at most (full jitter draws below these).
    assert waits == [0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.128]


def test_a_limit_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError):
        RateLimiter(MemoryBuckets(), Limit(0, 5), Clock())
    with pytest.raises(ValueError):
        RateLimiter(MemoryBuckets(), Limit(10, 0), Clock())


def hammer(limiter: RateLimiter, users: list[str]) -> list[tuple[str, bool]]:
    """Every request at once: the threads start together at a barrier."""
    barrier = threading.Barrier(len(users))

    def one(user: str) -> tuple[str, bool]:
        barrier.wait()
        return user, limiter.admit(user).allowed

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        return list(pool.map(one, users))


def test_concurrent_requests_in_memory_never_exceed_the_burst() -> None:
    store = MemoryBuckets()
    limiter = RateLimiter(store, Limit(per_minute=1, burst=10), Clock(), attempts=50)
    results = hammer(limiter, ["alice"] * 40)
    assert sum(ok for _, ok in results) == 10
    assert store.items["alice"].version == 10 and store.items["alice"].tokens == 0.0


# ------------------------------------------------------------------------ DynamoDB

@pytest.fixture
def dynamo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's DynamoDB, with the one guarantee of the service the limiter rests on: a
    conditional write is checked and applied atomically per item. moto evaluates the
    condition and then stores the item with no lock between, so a thread switch there
    would let two writes of the same version through: a race in the emulator, not in pai.
    The lock covers only that step; the reads, the HTTP round trips and the limiter's own
    logic race freely."""
    from moto import mock_aws
    from moto.dynamodb.models.table import Table

    lock = threading.Lock()
    unlocked = Table.put_item

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return unlocked(self, *args, **kwargs)

    monkeypatch.setattr(Table, "put_item", put_item)

    from pai_cli.backends.aws.rate_limits import limits_table
    from pai_cli.backends.aws.session import Aws

    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        aws = Aws(REGION)
        aws.client("dynamodb").create_table(**limits_table("pai-limits-test"))
        yield aws


def stored(aws: Any, user: str) -> dict[str, Any]:
    item = aws.client("dynamodb").get_item(TableName="pai-limits-test",
                                           Key={"user_id": {"S": user}})["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


@pytest.mark.parametrize("home", ["memory", "dynamodb"])
def test_bucket_stores_round_trip_and_refuse_a_stale_version(dynamo: Any, home: str) -> None:
    """The BucketStore contract (ports.py), on the in-memory store the core tests use and on
    the DynamoDB adapter."""
    from pai_cli.backends.aws.rate_limits import DynamoBucketStore

    store: Any = (MemoryBuckets() if home == "memory"
                  else DynamoBucketStore(dynamo, "pai-limits-test", "test"))
    assert store.read("alice") is None
    first = BucketState(4.123456789012345, 1_000_000.25, 1)
    assert store.write("alice", first, None, 1_000_100.5)
    assert store.read("alice") == first  # every bit of the float comes back
    assert not store.write("alice", BucketState(3.0, 1_000_001.0, 2), None, 0)  # not new
    assert not store.write("alice", BucketState(3.0, 1_000_001.0, 2), 7, 0)  # stale version
    assert store.read("alice") == first
    assert store.write("alice", BucketState(3.0, 1_000_001.0, 2), 1, 1_000_200.0)
    assert store.read("alice") == BucketState(3.0, 1_000_001.0, 2)
    assert store.read("bob") is None
    if home == "memory":
        return
    assert stored(dynamo, "alice") == {"user_id": "alice", "tokens": "3.0", "at": "1000001.0",
                                       "v": "2", "ttl": "1000201"}


@pytest.mark.parametrize("burst,requests", [(10, 40), (60, 30)])
def test_concurrent_requests_on_dynamodb_never_exceed_the_limit_nor_lose_a_write(
        dynamo: Any, burst: int, requests: int) -> None:
    """Threads admitting one user's requests at once through moto's DynamoDB: at most
    `burst` are admitted, and every admission is in the stored bucket (its version counts
    the writes, its tokens the spent ones), so none was lost to a race."""
    from pai_cli.backends.aws.rate_limits import DynamoBucketStore

    dynamo.client("dynamodb")  # made once, before the threads share it
    store = DynamoBucketStore(dynamo, "pai-limits-test", "test")
    limiter = RateLimiter(store, Limit(per_minute=0.001, burst=burst), __import__("time").time)
    results = hammer(limiter, ["alice"] * requests)
    admitted = sum(ok for _, ok in results)
    assert admitted <= min(burst, requests)
    # A conditional write fails only when another succeeded since its read: a request that
    # gave up after ATTEMPTS lost races saw that many admitted. So with the burst at most
    # ATTEMPTS a race never refuses a request the bucket had a token for...
    if burst <= ATTEMPTS:
        assert admitted == burst
    # ...and with more tokens than that, at least ATTEMPTS are always admitted.
    assert admitted >= min(ATTEMPTS, requests)
    bucket = store.read("alice")
    assert bucket is not None and bucket.version == admitted
    assert bucket.tokens == pytest.approx(burst - admitted, abs=0.01)


def test_many_users_at_once_each_get_their_own_burst(dynamo: Any) -> None:
    import time

    from pai_cli.backends.aws.rate_limits import DynamoBucketStore

    dynamo.client("dynamodb")
    store = DynamoBucketStore(dynamo, "pai-limits-test", "test")
    limiter = RateLimiter(store, Limit(per_minute=0.001, burst=3), time.time)
    results = hammer(limiter, [f"user{i % 4}" for i in range(24)])
    for i in range(4):
        assert sum(ok for u, ok in results if u == f"user{i}") == 3
        assert store.read(f"user{i}").version == 3  # type: ignore[union-attr]


# ------------------------------------------------------------------------ the handlers

@pytest.fixture
def limited_handler(monkeypatch: pytest.MonkeyPatch, pai_home: Path) -> Iterator[Any]:
    from fakes.aws_home import moto_aws_home
    from test_api_handlers import Context, lambda_environment

    from pai_cli.backends.aws.rate_limits import limits_table

    pai_home.mkdir(parents=True, exist_ok=True)
    with moto_aws_home(monkeypatch) as info:
        lambda_environment(monkeypatch, info)
        import boto3

        boto3.client("dynamodb", region_name=REGION).create_table(
            **limits_table("pai-limits-test"))
        monkeypatch.setenv("LIMITS_TABLE", "pai-limits-test")
        monkeypatch.setenv("PAI_RATE_PER_MINUTE", "0.01")
        monkeypatch.setenv("PAI_RATE_BURST", "3")
        from pai_cli.api import lambda_handlers

        lambda_handlers.services.cache_clear()

        def call(ev: dict[str, Any]) -> dict[str, Any]:
            return lambda_handlers.agent_handler(ev, Context())

        yield call
        lambda_handlers.services.cache_clear()


def test_the_handlers_answer_429_with_retry_after_once_the_burst_is_spent(
        limited_handler: Any) -> None:
    from test_api_handlers import ALICE, BOB, event

    got = [limited_handler(event("GET", "/memories")) for _ in range(4)]
    assert [r["statusCode"] for r in got] == [200, 200, 200, 429]
    refused = got[3]
    wait = int(refused["headers"]["Retry-After"])
    assert 5900 < wait <= 6000  # a token every 6000 s at 0.01 a minute
    body = json.loads(refused["body"])
    assert body["retry_after_s"] == wait and "Too many requests for this user" in body["error"]
    assert refused["headers"]["Content-Type"] == "application/json"
    # Every route shares the user's one bucket; another user is not held back.
    assert limited_handler(event("POST", "/search", {"query": "x"}))["statusCode"] == 429
    assert limited_handler(event("GET", "/memories", principal=BOB))["statusCode"] == 200
    # No caller identity is still a 401, not a limit on a shared "nobody" bucket.
    assert limited_handler(event("GET", "/memories", principal=None))["statusCode"] == 401
    assert ALICE  # the default principal of event()


def test_no_limit_configured_admits_everything(monkeypatch: pytest.MonkeyPatch,
                                               pai_home: Path) -> None:
    from fakes.aws_home import moto_aws_home
    from test_api_handlers import Context, event, lambda_environment

    pai_home.mkdir(parents=True, exist_ok=True)
    with moto_aws_home(monkeypatch) as info:
        lambda_environment(monkeypatch, info)
        monkeypatch.setenv("PAI_RATE_PER_MINUTE", "0")
        from pai_cli.api import lambda_handlers

        lambda_handlers.services.cache_clear()
        try:
            assert lambda_handlers.services().rate_limiter is None
            codes = {lambda_handlers.agent_handler(event("GET", "/memories"),
                                                   Context())["statusCode"] for _ in range(25)}
            assert codes == {200}
        finally:
            lambda_handlers.services.cache_clear()


def test_the_openapi_document_says_every_route_can_answer_429_with_retry_after() -> None:
    from pai_cli.api.app import build_app

    app = build_app(lambda: None)
    doc = app.get_openapi_schema(title="pai", version="1").model_dump(
        mode="json", by_alias=True, exclude_none=True)
    operations = [op for item in doc["paths"].values() for op in item.values()]
    assert len(operations) == 7  # POST /memories too
    for op in operations:
        r = op["responses"]["429"]
        assert r["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        assert r["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


# ------------------------------------------------------------------------ settings, stacks

def test_lambda_settings_read_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from pai_cli.config import lambda_settings
    from pai_cli.errors import ConfigError

    monkeypatch.setenv("LIMITS_TABLE", "pai-limits-dev")
    monkeypatch.setenv("PAI_RATE_PER_MINUTE", "30")
    monkeypatch.setenv("PAI_RATE_BURST", "5")
    s = lambda_settings()
    assert (s.limits_table, s.rate_per_minute, s.rate_burst) == ("pai-limits-dev", 30.0, 5)
    for var, bad in (("PAI_RATE_PER_MINUTE", "lots"), ("PAI_RATE_PER_MINUTE", "-1"),
                     ("PAI_RATE_BURST", "0")):
        monkeypatch.setenv(var, bad)
        with pytest.raises(ConfigError):
            lambda_settings()
        monkeypatch.setenv(var, {"PAI_RATE_PER_MINUTE": "30", "PAI_RATE_BURST": "5"}[var])


def load(stack: str) -> dict[str, Any]:
    return yaml.safe_load((INFRA / f"{stack}.yaml").read_text())


def test_the_limits_table_and_the_limits_as_parameters() -> None:
    from pai_cli.backends.aws.rate_limits import limits_table

    res = load("storage")["Resources"]["LimitsTable"]
    props = res["Properties"]
    want = limits_table("pai-limits-${Env}")
    assert props["TableName"] == {"Fn::Sub": want["TableName"]}
    assert (props["KeySchema"], props["AttributeDefinitions"], props["BillingMode"]) == (
        want["KeySchema"], want["AttributeDefinitions"], want["BillingMode"])
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert props["SSESpecification"]["KMSMasterKeyId"] == {
        "Fn::ImportValue": {"Fn::Sub": "pai-${Env}-KeyArn"}}
    assert "PointInTimeRecoverySpecification" not in props  # nothing worth restoring
    assert res["DeletionPolicy"] == "Delete"
    assert [s["id"] for s in res["Metadata"]["checkov"]["skip"]] == ["CKV_AWS_28"]
    compute = load("compute")
    params = compute["Parameters"]
    assert (params["UserRequestsPerMinute"]["Default"], params["UserBurst"]["Default"]) == (60, 20)
    assert params["UserRequestsPerMinute"]["MinValue"] == 0 and params["UserBurst"]["MinValue"] == 1
    for logical in ("AgentFunction", "MemoryFunction", "SearchFunction"):
        env = compute["Resources"][logical]["Properties"]["Environment"]["Variables"]
        assert env["PAI_RATE_PER_MINUTE"] == {"Ref": "UserRequestsPerMinute"}
        assert env["PAI_RATE_BURST"] == {"Ref": "UserBurst"}
        assert env["LIMITS_TABLE"] == {"Fn::ImportValue": {"Fn::Sub": "pai-${Env}-LimitsTableName"}}
    writer = compute["Resources"]["MemoryWriterFunction"]["Properties"]["Environment"]["Variables"]
    assert "LIMITS_TABLE" not in writer  # not behind the API
    # The stage throttle stays the outer bound.
    stage = compute["Resources"]["ApiStage"]["Properties"]["DefaultRouteSettings"]
    assert (stage["ThrottlingRateLimit"], stage["ThrottlingBurstLimit"]) == (10, 20)
    role = load("security")["Resources"]["LambdaExecutionRole"]["Properties"]
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    assert statements["RequestLimits"]["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem"]
    assert statements["RequestLimits"]["Resource"] == [{"Fn::Sub": (
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/pai-limits-${Env}")}]
