"""`--backend api` and `pai smoke` against the API handlers behind a fake API Gateway that
authorizes as the real one does (tests/fakes/api_gateway.py), over real HTTP: SigV4 with
--auth iam, a signed JWT with --auth cognito. Also the authorizer path in the handlers:
the user is the verified principal, whatever the body, the headers or the query say."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import pai, pai_process
from fakes.api_gateway import FakeGateway, Iam, Jwt
from fakes.cognito_idp import CognitoIdp

from pai_cli.api.app import build_app
from pai_cli.api.identity import user_for, user_of
from pai_cli.backends.api import sign_in
from pai_cli.config import load_settings
from pai_cli.wiring import Wiring

REGION = "us-east-1"
POOL = f"{REGION}_PaiTest1"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
CLIENT = "3n4pclient0example"
CAROL = "arn:aws:iam::123456789012:user/carol"
KEYS = {"AKIATESTCAROL0000000": ("carol-secret-key", CAROL)}


# --- signed test tokens ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def access_token(key: Any, sub: str, username: str, *, exp_in: float = 3600,
                 issuer: str = ISSUER, client_id: str = CLIENT, kid: str = "k1") -> str:
    """An access token as Cognito makes them: no aud, client_id, token_use access."""
    import jwt as pyjwt

    now = int(time.time())
    claims = {"sub": sub, "iss": issuer, "client_id": client_id, "token_use": "access",
              "scope": "aws.cognito.signin.user.admin", "auth_time": now, "iat": now,
              "exp": int(now + exp_in), "jti": f"jti-{sub}", "username": username}
    return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def jwt_event(method: str, path: str, claims: dict[str, str], body: Any = None,
              headers: dict[str, str] | None = None, query: str = "") -> dict[str, Any]:
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
        "rawQueryString": query, "headers": {"content-type": "application/json",
                                             **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path},
                           "authorizer": {"jwt": {"claims": claims, "scopes": None}},
                           "requestId": "r1", "stage": "$default",
                           "timeEpoch": int(time.time() * 1000)},
        "body": None if body is None else json.dumps(body), "isBase64Encoded": False,
    }


class _Ctx:
    function_name = "pai-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pai-test"
    aws_request_id = "req"


def test_a_cognito_caller_is_their_subject_named_by_their_username(pai_home: Path) -> None:
    w = Wiring(load_settings("server"))
    app = build_app(lambda: w)
    alice = {"sub": "5f0c-alice", "iss": ISSUER, "username": "alice", "client_id": CLIENT}
    bob = {"sub": "77aa-bob", "iss": ISSUER, "username": "bob", "client_id": CLIENT}
    try:
        out = app.resolve(jwt_event("POST", "/memories", alice,
                                    {"content": "Alice keeps bees", "user": "bob"},
                                    headers={"x-pai-user": "bob"}, query="user=bob"), _Ctx())
        assert out["statusCode"] == 200, out
        alice_id = user_of(jwt_event("GET", "/", alice))
        assert alice_id.startswith("alice-") and alice_id == user_for(
            f"jwt:{ISSUER}:5f0c-alice", readable="alice")
        assert [m.content for m in w.memories.list(alice_id)] == ["Alice keeps bees"]
        # Bob sees nothing of Alice's, whatever he puts in the body, headers or query.
        for headers, query in (({}, ""), ({"x-pai-user": alice_id, "x-amzn-oidc-identity":
                                           "5f0c-alice"}, f"user={alice_id}")):
            listed = app.resolve(jwt_event("GET", "/memories", bob, headers=headers,
                                           query=query), _Ctx())
            assert json.loads(listed["body"])["memories"] == []
        searched = app.resolve(jwt_event("POST", "/search", bob,
                                         {"query": "bees", "user_id": alice_id}), _Ctx())
        assert searched["statusCode"] in (200, 400)
        if searched["statusCode"] == 200:
            assert json.loads(searched["body"])["results"] == []
        # The same subject under another username claim is still the same user (the hash is
        # of issuer and subject); another issuer's subject is not.
        assert user_of(jwt_event("GET", "/", {**alice, "username": "mallory"})).endswith(
            alice_id.rsplit("-", 1)[1])
        other = user_of(jwt_event("GET", "/", {**alice, "iss": "https://idp.example.com"}))
        assert other != alice_id and not other.startswith("alice-")  # old names kept
        # No claims at all: 401, never a default user.
        none = jwt_event("GET", "/memories", {})
        none["requestContext"]["authorizer"] = {}
        assert app.resolve(none, _Ctx())["statusCode"] == 401
    finally:
        w.close()


# --- the API behind a fake API Gateway --------------------------------------------------------

@pytest.fixture
def server_wiring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pai_home: Path) -> Iterator[Wiring]:
    """The deployed side: a local home of its own (another PAI_HOME than the client's)."""
    monkeypatch.setenv("PAI_HOME", str(tmp_path / "server-home"))
    w = Wiring(load_settings("server"))
    monkeypatch.setenv("PAI_HOME", str(pai_home))
    yield w
    w.close()


@pytest.fixture
def iam_gateway(server_wiring: Wiring, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGateway]:
    with FakeGateway(server_wiring, iam=Iam(REGION, KEYS)) as gw:
        monkeypatch.setenv("PAI_API_URL", gw.url)
        monkeypatch.setenv("PAI_API_AUTH", "iam")
        monkeypatch.setenv("AWS_REGION", REGION)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTCAROL0000000")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "carol-secret-key")
        yield gw


def test_memory_commands_through_the_api_with_sigv4(iam_gateway: FakeGateway,
                                                    server_wiring: Wiring) -> None:
    r = pai("--backend", "api", "memory", "add", "My bike is a green Brompton", "-c", "things",
            "--json")
    assert r.code == 0, r.err
    added = json.loads(r.out)
    carol = user_for(CAROL)
    assert [m.id for m in server_wiring.memories.list(carol)] == [added["id"]]
    assert iam_gateway.seen[-1]["requestContext"]["authorizer"]["iam"]["userArn"] == CAROL
    r = pai("--backend", "api", "search", "what bike do I ride", "--json")
    assert r.code == 0, r.err
    assert [h["id"] for h in json.loads(r.out)] == [added["id"]]
    r = pai("--backend", "api", "memory", "list", "--json")
    assert [m["content"] for m in json.loads(r.out)] == ["My bike is a green Brompton"]
    r = pai("--backend", "api", "memory", "show", added["id"][:10], "--json")  # a prefix
    assert r.code == 0, r.err and json.loads(r.out)["id"] == added["id"]
    r = pai("--backend", "api", "memory", "forget", added["id"], "--json")
    assert r.code == 0 and json.loads(r.out) == {"forgotten": [added["id"]]}
    assert server_wiring.memories.list(carol) == []
    r = pai("--backend", "api", "memory", "show", added["id"])
    assert r.code == 1 and "No memory" in r.err


def test_a_secret_is_taken_out_before_it_leaves_the_machine(iam_gateway: FakeGateway) -> None:
    secret = "AKIA" + "ZQ3DT5R4YXOKM2PL"
    r = pai("--backend", "api", "memory", "add", f"my key is {secret}", "--json")
    assert r.code == 0, r.err
    assert secret not in json.dumps(iam_gateway.seen[-1]["body"])
    assert "redacted" in json.loads(r.out)["content"]


def test_a_wrong_signature_is_refused_and_said_in_one_line(iam_gateway: FakeGateway,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-carols-key")
    r = pai("--backend", "api", "memory", "list")
    assert r.code == 3 and r.err.count("\n") == 1 and "403" in r.err
    assert "ApiCallerPolicy" in r.err and "Traceback" not in r.err


def test_what_the_api_does_not_serve_fails_in_one_line(iam_gateway: FakeGateway,
                                                       tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"content": "x"}\n')
    for args in (["memory", "import", str(lines)], ["memory", "reindex"],
                 ["memory", "edit", "mem-1234", "new"], ["memory", "list", "--all"],
                 ["search", "x", "--mode", "keyword"], ["chat", "-m", "hi", "--continue"],
                 ["conversations", "list"], ["memory", "pin", "mem-1234"],
                 ["memory", "export"], ["memory", "history", "mem-1234"], ["memory", "log"],
                 ["memory", "undo", "evt-1234"], ["memory", "distill"], ["memory", "queue"],
                 ["memory", "forget", "--all", "--yes"], ["chat", "-m", "hi", "--incognito"]):
        r = pai("--backend", "api", *args)
        assert r.code == 3, (args, r.err)
        assert "not served by the HTTP API" in r.err and r.err.count("\n") == 1, r.err
    assert not [e for e in iam_gateway.seen if e["routeKey"].startswith("POST /memories")]


def test_chat_through_the_api_answers_whole(iam_gateway: FakeGateway, server_wiring: Wiring,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from fakes.openai_server import Reply, openai_fake

    with openai_fake(Reply(["Hello ", "Carol."])) as (_, model):
        server_wiring.settings = replace(server_wiring.settings, provider="openai",
                                         base_url=model.url, model="tiny")
        server_wiring.__dict__.pop("model", None)
        server_wiring.__dict__.pop("chat", None)
        r = pai("--backend", "api", "chat", "-m", "hi, I'm Carol", "--json")
        assert r.code == 0, r.err
        turn = json.loads(r.out)
        assert turn["reply"] == "Hello Carol." and turn["conversation_id"].startswith("conv-")
        plain = pai("--backend", "api", "chat", "-m", "again", "--conversation",
                    turn["conversation_id"])
    assert plain.code == 0, plain.err
    missing = pai("--backend", "api", "chat", "-m", "x", "--conversation", "conv-nope")
    assert missing.code == 1 and "No conversation" in missing.err


# --- cognito: a signed token behind the JWT authorizer --------------------------------------

@pytest.fixture
def idp(rsa_key: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[CognitoIdp]:
    """The user pool's sign-in endpoint (real SRP on the server's side)."""
    with CognitoIdp(POOL, CLIENT, rsa_key) as fake:
        monkeypatch.setenv("PAI_AWS_ENDPOINT", fake.url)
        yield fake


@pytest.fixture
def jwt_gateway(server_wiring: Wiring, rsa_key: Any, idp: CognitoIdp,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGateway]:
    with FakeGateway(server_wiring, jwt=Jwt(ISSUER, (CLIENT,), {"k1": rsa_key.public_key()})) as gw:
        monkeypatch.setenv("PAI_API_URL", gw.url)
        yield gw


def signed_in(settings_home: Path, token: str, expires_in: float = 3600, **more: Any) -> Path:
    path = load_settings(None).sign_in_path("dev")
    sign_in.save(path, sign_in.SignIn(
        env="dev", region=REGION, user_pool_id=POOL, client_id=CLIENT, username="dana",
        access_token=token, id_token="", refresh_token="refresh-dana",
        expires_at=time.time() + expires_in, api_url=more.get("api_url")))
    return path


def test_a_signed_in_user_reaches_the_api_with_their_token(jwt_gateway: FakeGateway,
                                                           server_wiring: Wiring, rsa_key: Any,
                                                           pai_home: Path) -> None:
    path = signed_in(pai_home, access_token(rsa_key, "sub-dana", "dana"), api_url=jwt_gateway.url)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    r = pai("--backend", "api", "--env", "dev", "memory", "add", "Dana plays the cello", "--json")
    assert r.code == 0, r.err
    dana = user_for(f"jwt:{ISSUER}:sub-dana", readable="dana")
    assert [m.content for m in server_wiring.memories.list(dana)] == ["Dana plays the cello"]
    claims = jwt_gateway.seen[-1]["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "sub-dana" and claims["client_id"] == CLIENT
    # Another pool's token, or one for another app client, never gets through (and the
    # refresh the 401 sets off is refused too: the pool never issued that refresh token).
    for token in (access_token(rsa_key, "sub-dana", "dana", issuer=ISSUER + "x"),
                  access_token(rsa_key, "sub-dana", "dana", client_id="other")):
        signed_in(pai_home, token, api_url=jwt_gateway.url)
        r = pai("--backend", "api", "--env", "dev", "memory", "list")
        assert r.code == 3 and "pai login --env dev" in r.err, r.err


def test_not_signed_in_says_how(jwt_gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAI_API_AUTH", "cognito")
    monkeypatch.setenv("PAI_COGNITO_USER_POOL_ID", POOL)
    monkeypatch.setenv("PAI_COGNITO_CLIENT_ID", CLIENT)
    r = pai("--backend", "api", "--env", "dev", "memory", "list")
    assert r.code == 3 and "pai login --env dev" in r.err and r.err.count("\n") == 1


def test_no_address_and_no_aws_credentials_says_what_to_set() -> None:
    r = pai("--backend", "api", "--env", "dev", "search", "x")
    assert r.code == 3 and "PAI_API_URL" in r.err and "pai login" in r.err


# --- pai smoke ------------------------------------------------------------------------------

def test_smoke_passes_against_a_working_api(iam_gateway: FakeGateway, server_wiring: Wiring,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from fakes.openai_server import Reply, openai_fake

    with openai_fake(Reply(["OK"])) as (_, model):
        server_wiring.settings = replace(server_wiring.settings, provider="openai",
                                         base_url=model.url, model="tiny")
        r = pai("smoke", "--env", "dev", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["ok"] is True and report["auth"] == "iam"
    assert [s["name"] for s in report["steps"]] == ["search", "chat", "memory add",
                                                    "memory recall", "memory forget",
                                                    "memory gone"]
    routes = [e["routeKey"].split("/")[0] + "/" + e["routeKey"].split("/")[1]
              for e in iam_gateway.seen]
    assert {"POST /search", "POST /chat", "POST /memories", "DELETE /memories",
            "GET /memories"} <= set(routes)
    assert server_wiring.memories.list(user_for(CAROL), "smoke") == []  # nothing left behind


def test_smoke_fails_with_one_line_per_failed_step(iam_gateway: FakeGateway) -> None:
    # No chat model on the server: the turn comes back without a reply.
    r = pai("smoke", "--env", "dev")
    assert r.code == 4, r.err
    failed = [line for line in r.err.splitlines() if line.startswith("pai: smoke step")]
    assert len(failed) == 1 and "'chat'" in failed[0]
    assert "1 of 6 smoke steps failed" in r.err


def test_smoke_as_a_process_fails_when_the_signature_is_wrong(iam_gateway: FakeGateway) -> None:
    import os

    env = {k: v for k, v in os.environ.items()}
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    proc = pai_process("smoke", "--env", "dev", "--json", env=env)
    assert proc.returncode == 4, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False and all(not s["ok"] for s in report["steps"][:3])
    assert b"Traceback" not in proc.stderr


# --- pai login / logout against the user pool's wire protocol -------------------------------

@pytest.fixture
def pool_env(monkeypatch: pytest.MonkeyPatch, jwt_gateway: FakeGateway) -> None:
    monkeypatch.setenv("PAI_COGNITO_USER_POOL_ID", POOL)
    monkeypatch.setenv("PAI_COGNITO_CLIENT_ID", CLIENT)


def test_login_with_srp_then_use_refresh_and_logout(idp: CognitoIdp, jwt_gateway: FakeGateway,
                                                    server_wiring: Wiring, pool_env: None,
                                                    pai_home: Path) -> None:
    erin = idp.add_user("erin", "Correct-horse-1")
    r = pai("login", "--env", "dev", "--username", "erin", "--json", input="Correct-horse-1\n")
    assert r.code == 0, r.err
    assert "Correct-horse-1" not in r.out + r.err  # asked without echo
    path = load_settings(None).sign_in_path("dev")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [c[0] for c in idp.calls] == ["InitiateAuth", "RespondToAuthChallenge"]
    # SRP: the password itself is never sent.
    assert idp.calls[0][1]["AuthFlow"] == "USER_SRP_AUTH"
    assert "Correct-horse-1" not in json.dumps(idp.calls)
    saved = json.loads(path.read_text())
    assert saved["username"] == "erin" and saved["api_url"] == jwt_gateway.url
    r = pai("--backend", "api", "--env", "dev", "memory", "add", "Erin runs on Sundays")
    assert r.code == 0, r.err
    erin_user = user_for(f"jwt:{idp.issuer}:{erin.sub}", readable="erin")
    assert [m.content for m in server_wiring.memories.list(erin_user)] == ["Erin runs on Sundays"]
    # An access token about to expire is refreshed first, and the new one saved.
    saved["expires_at"] = time.time() - 1
    path.write_text(json.dumps(saved))
    r = pai("--backend", "api", "--env", "dev", "search", "when does Erin run", "--json")
    assert r.code == 0, r.err and json.loads(r.out)
    assert idp.calls[-1][1]["AuthFlow"] == "REFRESH_TOKEN_AUTH"
    after = json.loads(path.read_text())
    assert after["access_token"] != saved["access_token"] and after["expires_at"] > time.time()
    assert after["refresh_token"] == saved["refresh_token"]
    # Logout revokes the refresh token and removes the file.
    r = pai("logout", "--env", "dev", "--json")
    assert r.code == 0 and json.loads(r.out) == {"env": "dev", "signed_out": True, "revoked": True}
    assert not path.exists() and saved["refresh_token"] in idp.revoked
    r = pai("--backend", "api", "--env", "dev", "memory", "list")
    assert r.code == 3 and "pai login --env dev" in r.err
    assert pai("logout", "--env", "dev").code == 0  # nothing to do, said so


def test_a_wrong_password_is_refused_and_nothing_is_saved(idp: CognitoIdp, pool_env: None) -> None:
    idp.add_user("erin", "Correct-horse-1")
    r = pai("login", "--env", "dev", "--username", "erin", input="correct-horse-1\n")
    assert r.code == 3 and "Incorrect username or password" in r.err and r.err.count("\n") == 1
    assert not load_settings(None).sign_in_path("dev").exists()
    r = pai("login", "--env", "dev", "--username", "nobody", input="Correct-horse-1\n")
    assert r.code == 3 and "Incorrect username or password" in r.err  # no user enumeration


def test_login_answers_an_authenticator_code(idp: CognitoIdp, pool_env: None) -> None:
    idp.add_user("frank", "Frank-pass-77", mfa_code="314159")
    r = pai("login", "--env", "dev", "--username", "frank", input="Frank-pass-77\n000000\n")
    assert r.code == 1 and "code is wrong" in r.err
    r = pai("login", "--env", "dev", "--username", "frank", input="Frank-pass-77\n314159\n")
    assert r.code == 0, r.err
    assert "Authenticator app code" in r.err
    assert [c[1].get("ChallengeName") for c in idp.calls[-2:]] == ["PASSWORD_VERIFIER",
                                                                   "SOFTWARE_TOKEN_MFA"]


def test_a_first_sign_in_sets_a_new_password(idp: CognitoIdp, pool_env: None) -> None:
    idp.add_user("gina", "Temp-pass-1", temporary=True)
    r = pai("login", "--env", "dev", "--username", "gina",
            input="Temp-pass-1\nshort\nshort\n")
    assert r.code == 1 and "new password is refused" in r.err
    r = pai("login", "--env", "dev", "--username", "gina",
            input="Temp-pass-1\nNew-pass-2024!\nNew-pass-2024!\n")
    assert r.code == 0, r.err
    r = pai("login", "--env", "dev", "--username", "gina", input="New-pass-2024!\n")
    assert r.code == 0, r.err  # the new password is the one that works now


def test_login_reads_the_password_from_stdin_as_a_process(idp: CognitoIdp, pool_env: None) -> None:
    import os

    idp.add_user("hana", "Hana-pass-99")
    proc = pai_process("login", "--env", "dev", "--username", "hana", "--password-stdin",
                       input=b"Hana-pass-99\n", env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert load_settings(None).sign_in_path("dev").exists()


def test_login_on_an_iam_api_says_no_sign_in_is_needed(iam_gateway: FakeGateway) -> None:
    r = pai("login", "--env", "dev", "--username", "x", input="y\n")
    assert r.code == 3 and "no sign-in is needed" in r.err


# --- against `pai serve` as a process, and where the address comes from ---------------------

def test_the_api_backend_against_pai_serve(tmp_path: Path, pai_home: Path) -> None:
    """Two processes: `pai serve` (its own home) and the CLI on --backend api (SigV4-signed;
    pai serve serves the user it was started for and ignores the signature)."""
    import os
    import re
    import subprocess
    import sys

    from conftest import ROOT

    server_env = {**os.environ, "PAI_HOME": str(tmp_path / "served"), "PAI_USER": "ivy"}
    proc = subprocess.Popen([sys.executable, "-m", "pai_cli.cli.main", "serve", "--port", "0"],
                            cwd=ROOT, env=server_env, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = b""
        while b"serving" not in line:
            line = proc.stderr.readline()
            assert line, "pai serve exited early"
        url = re.search(rb"http://[0-9.]+:\d+", line)[0].decode()  # type: ignore[index]
        env = {**os.environ, "PAI_API_URL": url, "PAI_API_AUTH": "iam", "AWS_REGION": REGION,
               "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x"}
        added = pai_process("--backend", "api", "memory", "add", "Ivy grows tomatoes", "--json",
                            env=env)
        assert added.returncode == 0, added.stderr
        found = pai_process("--backend", "api", "search", "what does Ivy grow", "--json", env=env)
        assert json.loads(found.stdout)[0]["id"] == json.loads(added.stdout)["id"]
        gone = pai_process("--backend", "api", "memory", "forget",
                           json.loads(added.stdout)["id"], env=env)
        assert gone.returncode == 0, gone.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # The server's home has the memory's trace, the client's home has none of it.
    assert not (pai_home / "pai.db").exists()


def test_the_address_and_sign_in_come_from_settings_then_the_sign_in_then_the_stacks(
        pai_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pai_cli.wiring.api import endpoint

    outputs = {"ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com",
               "ApiAuthMode": "cognito", "UserPoolId": "eu-west-1_Pool9",
               "UserPoolClientId": "client9"}
    w = Wiring(load_settings(None, backend="api", env="dev"))
    found = endpoint(w, outputs)
    assert (found.url, found.auth, found.region, found.user_pool_id, found.client_id) == (
        outputs["ApiUrl"], "cognito", "eu-west-1", "eu-west-1_Pool9", "client9")
    assert endpoint(w, {**outputs, "ApiAuthMode": "iam"}).auth == "iam"
    with pytest.raises(Exception, match="another issuer"):
        endpoint(w, {**outputs, "ApiAuthMode": "jwt"})
    with pytest.raises(Exception, match="no API deployed"):
        endpoint(w, {})
    # A sign-in names its pool and API: no stack is read (outputs={} would fail).
    signed_in(pai_home, "token", api_url="https://signed.example")
    found = endpoint(w, {})
    assert (found.url, found.auth, found.user_pool_id) == ("https://signed.example", "cognito", POOL)
    monkeypatch.setenv("PAI_API_URL", "https://settings.example/")
    monkeypatch.setenv("PAI_API_AUTH", "iam")
    w = Wiring(load_settings(None, backend="api", env="dev"))
    assert (endpoint(w, {}).url, endpoint(w, {}).auth) == ("https://settings.example", "iam")
    monkeypatch.setenv("PAI_API_AUTH", "kerberos")
    r = pai("--backend", "api", "search", "x")
    assert r.code == 3 and "Unknown api_auth" in r.err


def test_a_conversation_the_repl_starts_continues_on_the_server(iam_gateway: FakeGateway,
                                                                server_wiring: Wiring) -> None:
    """The REPL makes up its conversation's id; the server names a new one itself: the first
    turn starts it, the next ones continue it."""
    w = Wiring(load_settings(None, backend="api"))
    try:
        first = w.chat.turn("ignored", "I have a sourdough starter called Bubbles",
                            "conv-made-up-by-the-repl")
        second = w.chat.turn("ignored", "and it lives in the fridge", "conv-made-up-by-the-repl")
        other = w.chat.turn("ignored", "something else", "conv-another-new-one")
    finally:
        w.close()
    assert first.conversation_id == second.conversation_id != other.conversation_id
    carol = user_for(CAROL)
    assert [m.content for m in server_wiring.chat.messages(carol, first.conversation_id)] == [
        "I have a sourdough starter called Bubbles", "and it lives in the fridge"]
    assert "recall-only" in " ".join(w.chat.notices)  # the server's note reaches the CLI
