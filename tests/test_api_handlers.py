"""The Lambda handlers with recorded-shape API Gateway HTTP API v2 events, against moto."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes.aws_home import moto_aws_home
from fakes.openai_server import Reply, openai_fake

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/PaiUsers/bob"


@dataclass
class Context:
    function_name: str = "pai-agent-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:pai-agent-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    timeout_s: float = 60.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_s - (time.monotonic() - self.started)) * 1000)


def event(method: str, path: str, body: Any = None, principal: str | None = ALICE,
          query: str = "", headers: dict[str, str] | None = None,
          raw_body: str | None = None, arrived: float | None = None) -> dict[str, Any]:
    """The shape API Gateway sends for a payload format 2.0 Lambda proxy integration;
    arrived: when API Gateway received it (epoch seconds, default now)."""
    arrived = time.time() if arrived is None else arrived
    authorizer = None
    if principal is not None:
        authorizer = {"iam": {"accessKey": "ASIAEXAMPLE", "accountId": "123456789012",
                              "callerId": "AROAEXAMPLE:bob", "principalOrgId": None,
                              "userArn": principal, "userId": "AIDAEXAMPLE"}}
    ctx: dict[str, Any] = {
        "accountId": "123456789012", "apiId": "a1b2c3", "domainName":
        "a1b2c3.execute-api.us-east-1.amazonaws.com", "domainPrefix": "a1b2c3",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                 "sourceIp": "203.0.113.7", "userAgent": "pai-test"},
        "requestId": "JKJaXmPLvHcESHA=", "routeKey": f"{method} {path}", "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(arrived)),
        "timeEpoch": int(arrived * 1000)}
    if authorizer:
        ctx["authorizer"] = authorizer
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
        "headers": {"content-type": "application/json", "host": ctx["domainName"],
                    **(headers or {})},
        "requestContext": ctx,
        "body": raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
        "isBase64Encoded": False,
    }


def lambda_environment(monkeypatch: pytest.MonkeyPatch, info: dict[str, str],
                       function: str = "pai-agent-test") -> None:
    """What the compute stack sets on a function (infra/compute.yaml), on moto's resources."""
    names = {"CONVERSATIONS_TABLE": info["conversations"], "MEMORIES_TABLE": info["memories"],
             "MEMORY_BUCKET": info["bucket"], "KMS_KEY_ID": "alias/pai-encryption-test",
             "KMS_KEY_ARN": info["key_arn"], "MEMORY_QUEUE_URL": info["queue_url"],
             "VECTOR_BUCKET": info["vector_bucket"], "VECTOR_INDEX": "memories",
             "VECTOR_STORE": "s3vectors", "PAI_EMBEDDER": "local", "PAI_PROVIDER": "none",
             "PAI_MEMORY_MODE": "verbatim", "AWS_ACCOUNT_ID": "123456789012",
             "AWS_LAMBDA_FUNCTION_NAME": function}
    for k, v in names.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, pai_home: Path) -> Iterator[Any]:
    pai_home.mkdir(parents=True, exist_ok=True)
    with moto_aws_home(monkeypatch) as info:
        lambda_environment(monkeypatch, info)
        from pai_cli.api import lambda_handlers

        lambda_handlers.services.cache_clear()

        def call(ev: dict[str, Any]) -> tuple[int, Any]:
            out = lambda_handlers.agent_handler(ev, Context())
            body = out.get("body") or "null"
            if out.get("isBase64Encoded"):
                body = base64.b64decode(body).decode()
            return out["statusCode"], json.loads(body)

        yield call
        lambda_handlers.services.cache_clear()


def test_memories_routes_round_trip(handler) -> None:
    from pai_cli.api import lambda_handlers

    w = lambda_handlers.services()
    from pai_cli.api.identity import user_for

    alice = user_for(ALICE)
    a = w.memories.add(alice, "Maya's school is Oakwood Elementary", "family")
    w.memories.add(alice, "Penicillin gives me hives", "health")
    status, body = handler(event("POST", "/search", {"query": "which school", "k": 1}))
    assert status == 200 and body["results"][0]["id"] == a.id
    status, body = handler(event("GET", "/memories", query="category=family&limit=1"))
    assert status == 200 and [m["id"] for m in body["memories"]] == [a.id]
    assert body["next_cursor"] is None
    status, body = handler(event("GET", "/memories", query="limit=1"))
    assert len(body["memories"]) == 1 and body["next_cursor"] == 1
    status, body = handler(event("GET", f"/memories/{a.id}"))
    assert status == 200 and body["content"] == "Maya's school is Oakwood Elementary"
    status, body = handler(event("DELETE", f"/memories/{a.id}"))
    assert status == 200 and body == {"forgotten": a.id}
    status, body = handler(event("GET", f"/memories/{a.id}"))
    assert status == 404 and "Traceback" not in json.dumps(body)


def test_chat_turn_and_conversation_history(handler, monkeypatch) -> None:
    with openai_fake(Reply(["Hello ", "Alice."]), Reply(["Again."])) as (_, server):
        monkeypatch.setenv("PAI_PROVIDER", "openai")
        monkeypatch.setenv("PAI_BASE_URL", server.url)
        monkeypatch.setenv("PAI_MODEL", "tiny")
        from pai_cli.api import lambda_handlers

        lambda_handlers.services.cache_clear()
        status, turn = handler(event("POST", "/chat", {"message": "hi, I'm Alice"}))
        assert status == 200, turn
        assert turn["reply"] == "Hello Alice." and turn["conversation_id"].startswith("conv-")
        status, again = handler(event("POST", "/chat", {"message": "and again",
                                                        "conversation_id": turn["conversation_id"]}))
        assert again["conversation_id"] == turn["conversation_id"]
    status, hist = handler(event("GET", f"/memory/{turn['conversation_id']}"))
    assert status == 200
    assert [m["content"] for m in hist["messages"]] == ["hi, I'm Alice", "Hello Alice.",
                                                       "and again", "Again."]
    # Remembering is off the request: the jobs wait on SQS for the memory writer
    # (tests/test_aws_memory_queue.py runs it).
    status, found = handler(event("POST", "/search", {"query": "Alice"}))
    assert found["results"] == []


@pytest.mark.parametrize(("ev", "status"), [
    (event("POST", "/chat", {}), 400),
    (event("POST", "/chat", {"message": 42}), 400),
    (event("POST", "/search", {"query": "x", "k": 0}), 400),
    (event("POST", "/search", raw_body="{not json"), 400),
    (event("GET", "/memories", query="limit=1000"), 400),
    (event("POST", "/chat", {"message": "x" * 300_000}), 413),
    (event("GET", "/memories/mem-unknown"), 404),
    (event("GET", "/memory/conv-unknown"), 404),
    (event("POST", "/chat", {"message": "hi"}, principal=None), 401),
    (event("GET", "/memories", principal=None), 401),
])
def test_bad_requests_get_clear_errors(handler, ev, status) -> None:
    got, body = handler(ev)
    assert got == status, body
    assert isinstance(body["error"], str) and "Traceback" not in body["error"]


def test_a_principal_never_reaches_another_users_data(handler) -> None:
    from pai_cli.api import lambda_handlers
    from pai_cli.api.identity import user_for

    w = lambda_handlers.services()
    secret = w.memories.add(user_for(ALICE), "Alice's bank PIN hint: the heron")
    # By path, by a body field, by a header, by a query parameter: bob stays bob.
    attempts = [
        event("GET", f"/memories/{secret.id}", principal=BOB),
        event("DELETE", f"/memories/{secret.id}", principal=BOB),
        event("GET", f"/memories/{secret.id}", principal=BOB,
              headers={"x-pai-user": user_for(ALICE), "x-user-id": "alice"}),
        event("GET", "/memories", principal=BOB, query=f"user={user_for(ALICE)}"),
        event("POST", "/search", {"query": "bank PIN heron", "user_id": user_for(ALICE)},
              principal=BOB),
    ]
    for i, ev in enumerate(attempts):
        status, body = handler(ev)
        assert status == (404 if i < 3 else 200), body
        assert "bank PIN" not in json.dumps(body)
        if i >= 3:  # lists and searches come back empty for bob
            assert body.get("memories", body.get("results")) == []
    assert w.memories.get(user_for(ALICE), secret.id).content.startswith("Alice's bank")
    assert user_for(ALICE) != user_for("arn:aws:iam::999999999999:user/alice")
    # A role's session name is the caller's choice: it does not make a different user...
    assert user_for(BOB) == user_for("arn:aws:sts::123456789012:assumed-role/PaiUsers/alice")
    # ...except in IAM Identity Center, where AWS sets it to the signed-in person.
    sso = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_1a2b3c/{}"
    assert user_for(sso.format("alice")) != user_for(sso.format("bob"))


def test_openapi_document_lists_the_routes(handler) -> None:
    status, doc = handler(event("GET", "/openapi.json"))
    assert status == 200
    assert {"/chat", "/search", "/memories", "/memories/{memory_id}",
            "/memory/{conversation_id}"} <= set(doc["paths"])


def test_chat_that_outruns_the_budget_is_a_504(handler, monkeypatch) -> None:
    from pai_cli.api import lambda_handlers
    from pai_cli.api.app import build_app

    with openai_fake(Reply(["one ", "two ", "three"], delay=0.2)) as (_, server):
        monkeypatch.setenv("PAI_PROVIDER", "openai")
        monkeypatch.setenv("PAI_BASE_URL", server.url)
        monkeypatch.setenv("PAI_MODEL", "slow")
        lambda_handlers.services.cache_clear()
        app = build_app(lambda_handlers.services, budget_s=0.5)
        out = app.resolve(event("POST", "/chat", {"message": "tell me a long story"}), Context())
    body = json.loads(out["body"])
    assert out["statusCode"] == 504 and "30 s" in body["error"]
    assert body["reply"].startswith("one")  # what arrived before the cut is kept


def test_the_budget_counts_from_api_gateways_receipt_cold_start_included() -> None:
    """requestContext.timeEpoch is when API Gateway received the request; its 30 s run from
    there, through any cold start, and a reserve is kept for storing the reply."""
    from pai_cli.api.budget import API_GATEWAY_S, FINISH_RESERVE_S, chat_deadline

    now = 1_800_000_000.0
    warm = {"requestContext": {"timeEpoch": int(now * 1000), "domainName": "a.execute-api"}}
    cold = {"requestContext": {"timeEpoch": int((now - 9.0) * 1000)}}  # 9 s of init first
    ctx = Context(timeout_s=60.0)
    assert chat_deadline(warm, ctx, wall=now, mono=100.0) == pytest.approx(
        100.0 + API_GATEWAY_S - FINISH_RESERVE_S)
    assert chat_deadline(cold, ctx, wall=now, mono=100.0) == pytest.approx(
        100.0 + API_GATEWAY_S - 9.0 - FINISH_RESERVE_S)
    # The function's own timeout caps it (a 20 s function has less than API Gateway allows).
    short = Context(timeout_s=20.0)
    assert chat_deadline(warm, short, wall=now, mono=100.0) == pytest.approx(
        100.0 + 20.0 - FINISH_RESERVE_S, abs=0.05)
    # Through the function URL there is no 30 s cut: only the function's timeout.
    url = {"requestContext": {"timeEpoch": int((now - 9.0) * 1000),
                              "domainName": "abc.lambda-url.us-east-1.on.aws"}}
    assert chat_deadline(url, ctx, wall=now, mono=100.0) == pytest.approx(
        100.0 + 60.0 - FINISH_RESERVE_S, abs=0.05)
    # A Lambda clock a little behind API Gateway's never gives more than 30 s.
    ahead = {"requestContext": {"timeEpoch": int((now + 2.0) * 1000)}}
    assert chat_deadline(ahead, ctx, wall=now, mono=100.0) == pytest.approx(
        100.0 + API_GATEWAY_S - FINISH_RESERVE_S)


def test_a_request_that_waited_out_a_cold_start_ends_sooner(handler, monkeypatch) -> None:
    """The same slow reply: 200 when API Gateway received the request just now, 504 with what
    arrived stored when 26 s of its 30 went to a cold start (26 + 2.5 s reserve leaves 1.5 s)."""
    from pai_cli.api import lambda_handlers

    with openai_fake(Reply(["one ", "two ", "three"], delay=0.6),
                     Reply(["one ", "two ", "three"], delay=0.6)) as (_, server):
        monkeypatch.setenv("PAI_PROVIDER", "openai")
        monkeypatch.setenv("PAI_BASE_URL", server.url)
        monkeypatch.setenv("PAI_MODEL", "slow")
        lambda_handlers.services.cache_clear()
        status, fresh = handler(event("POST", "/chat", {"message": "count to three"}))
        status_cold, cold = handler(event("POST", "/chat", {"message": "count to three"},
                                          arrived=time.time() - 26.0))
    assert status == 200 and fresh["reply"] == "one two three"
    assert status_cold == 504 and "30 s" in cold["error"]
    assert cold["reply"] and "three" not in cold["reply"]
    status, hist = handler(event("GET", f"/memory/{cold['conversation_id']}"))
    assert [m["role"] for m in hist["messages"]] == ["user", "assistant"]  # both stored
