"""One person, one memory: the CLI on --backend aws and the HTTP API file memories under the
same user, resolved from the caller's AWS identity (the API from the request context, the
CLI from STS GetCallerIdentity) with the same mapping, which the user can set (config.toml
[principal_users], PAI_PRINCIPAL_USERS, the compute stack's PrincipalUsers); and `pai
migrate` moves memories filed under the OS user's name before to that user. On moto, whose
STS caller is arn:aws:sts::123456789012:user/moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import pai
from fakes.aws_home import moto_aws_home
from test_api_handlers import Context, event, lambda_environment

from pai_cli.api import lambda_handlers
from pai_cli.api.identity import user_for

MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, pai_home: Path) -> Iterator[dict[str, Any]]:
    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text('embedder = "local"\n')
    monkeypatch.delenv("PAI_USER")  # no user named: the OS user's name locally
    with moto_aws_home(monkeypatch) as info:
        yield info
    lambda_handlers.services.cache_clear()


def api(monkeypatch: pytest.MonkeyPatch, info: dict[str, Any], ev: dict[str, Any]) -> Any:
    with monkeypatch.context() as m:
        lambda_environment(m, info)
        lambda_handlers.services.cache_clear()
        out = lambda_handlers.agent_handler(ev, Context())
        lambda_handlers.services.cache_clear()
    return out["statusCode"], json.loads(out["body"])


def test_the_cli_and_the_api_file_a_callers_memories_under_one_user(home, monkeypatch) -> None:
    r = pai("--backend", "aws", "--env", "test", "memory", "add", "The canoe paddles hang in "
            "the garage", "--json")
    assert r.code == 0, r.err
    added = json.loads(r.out)
    status, body = api(monkeypatch, home, event("GET", "/memories", principal=MOTO_CALLER))
    assert status == 200 and [m["id"] for m in body["memories"]] == [added["id"]]
    # ...and what the API remembers, the CLI finds, as the same person.
    status, _ = api(monkeypatch, home, event("DELETE", f"/memories/{added['id']}",
                                             principal=MOTO_CALLER))
    assert status == 200
    listed = json.loads(pai("--backend", "aws", "--env", "test", "memory", "list", "--json").out)
    assert listed == []
    # The local home is unchanged: the OS user's own, under its name.
    assert pai("memory", "list", "--json").code == 0


def test_a_mapping_the_user_sets_applies_to_both(home, monkeypatch, pai_home) -> None:
    (pai_home / "config.toml").write_text(
        f'embedder = "local"\n[principal_users]\n"{MOTO_CALLER}" = "ana"\n')
    r = pai("--backend", "aws", "--env", "test", "memory", "add", "Ana keeps bees", "--json")
    assert r.code == 0, r.err
    monkeypatch.setenv("PAI_PRINCIPAL_USERS", json.dumps({MOTO_CALLER: "ana"}))  # the stack's
    status, body = api(monkeypatch, home, event("GET", "/memories", principal=MOTO_CALLER))
    assert [m["content"] for m in body["memories"]] == ["Ana keeps bees"]
    assert user_for(MOTO_CALLER, {MOTO_CALLER: "ana"}) == "ana"


def test_a_named_user_wins_and_migrate_brings_two_names_together(home, monkeypatch) -> None:
    """Before, the CLI on AWS filed under the OS user: `pai migrate --from aws --to aws
    --user NAME` moves those memories to the identity's user."""
    old = pai("--backend", "aws", "--env", "test", "memory", "add", "--user", "alice",
              "The spare tyre is under the boot floor", "--json")
    assert old.code == 0, old.err
    assert json.loads(pai("--backend", "aws", "--env", "test", "memory", "list",
                          "--json").out) == []  # not the identity's, yet
    r = pai("migrate", "--from", "aws", "--to", "aws", "--env", "test", "--user", "alice",
            "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert (summary["user"], summary["to_user"], summary["moved"]) == (
        "alice", user_for(MOTO_CALLER), 1)
    status, body = api(monkeypatch, home, event("POST", "/search", {"query": "spare tyre"},
                                                principal=MOTO_CALLER))
    assert [h["content"] for h in body["results"]] == ["The spare tyre is under the boot floor"]
    again = pai("migrate", "--from", "aws", "--to", "aws", "--env", "test", "--user", "alice",
                "--json")
    assert json.loads(again.out)["already_there"] == 1
    same = pai("migrate", "--from", "aws", "--to", "aws", "--env", "test")
    assert same.code == 2 and "--user" in same.err
