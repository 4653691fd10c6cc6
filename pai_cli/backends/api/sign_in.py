"""Cognito sign-in for `--backend api` on an API deployed with `--auth cognito`.

`pai login` signs in with SRP (the password never leaves this machine: pycognito's AWSSRP
does the math, the two calls are made here so every challenge the pool may send is
answered: an authenticator code, a new password for a first sign-in). The tokens are kept in
the pai data dir, one file per environment, 0600, written whole (a temporary file renamed
over the old one); the access token is refreshed with the refresh token when it is about to
expire; `pai logout` revokes the refresh token and removes the file.

The Cognito calls are the public-client ones (InitiateAuth, RespondToAuthChallenge,
RevokeToken): unsigned, so no AWS credentials are needed."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from pai_cli.errors import BackendError, ConfigError, InputError

REFRESH_AHEAD_S = 120.0
"""Refresh this long before the access token expires, so a request made at the edge of its
life (a chat turn takes up to 30 s) is not refused on arrival."""


@dataclass(frozen=True)
class Pool:
    """Where to sign in: the user pool and the CLI's app client (stack outputs)."""

    region: str
    user_pool_id: str
    client_id: str
    endpoint_url: str | None = None
    """Another Cognito endpoint (PAI_AWS_ENDPOINT: a test server)."""


@dataclass(frozen=True)
class SignIn:
    """What `pai login` keeps for an environment (the file's JSON)."""

    env: str
    region: str
    user_pool_id: str
    client_id: str
    username: str
    access_token: str
    id_token: str
    refresh_token: str
    expires_at: float
    api_url: str | None = None

    @property
    def pool(self) -> Pool:
        return Pool(self.region, self.user_pool_id, self.client_id)


Ask = Callable[[str], str]
"""Asks the person at the terminal (prompt -> answer), without echo for secrets."""


def idp_client(pool: Pool) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    return boto3.client("cognito-idp", region_name=pool.region, endpoint_url=pool.endpoint_url,
                        config=Config(signature_version=UNSIGNED,
                                      retries={"mode": "adaptive", "max_attempts": 3}))


def sign_in(pool: Pool, username: str, password: str, ask_code: Ask, ask_new_password: Ask,
            idp: Any = None) -> dict[str, Any]:
    """SRP: InitiateAuth (USER_SRP_AUTH, SRP_A), RespondToAuthChallenge (PASSWORD_VERIFIER,
    the password claim signature), then whatever the pool asks next. Returns the
    AuthenticationResult (AccessToken, IdToken, RefreshToken, ExpiresIn)."""
    try:
        from pycognito.aws_srp import AWSSRP
    except ImportError:
        raise ConfigError("pai login needs pycognito: pip install 'pai-cli[login]'.") from None

    idp = idp or idp_client(pool)
    srp = AWSSRP(username=username, password=password, pool_id=pool.user_pool_id,
                 client_id=pool.client_id, client=idp)
    params = srp.get_auth_params()
    started = _idp(lambda: idp.initiate_auth(AuthFlow="USER_SRP_AUTH", AuthParameters=params,
                                             ClientId=pool.client_id), pool)
    if started.get("ChallengeName") != "PASSWORD_VERIFIER":
        raise BackendError(f"The user pool answered {started.get('ChallengeName')!r} to an SRP "
                           "sign-in, not PASSWORD_VERIFIER: is SRP allowed for the app client?")
    claim = srp.process_challenge(started["ChallengeParameters"], params)
    answer = _idp(lambda: idp.respond_to_auth_challenge(
        ClientId=pool.client_id, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=claim), pool)
    name = claim["USERNAME"]
    for _ in range(4):  # a code, a new password, a code again: never an endless exchange
        challenge = answer.get("ChallengeName")
        if not challenge:
            break
        asked = answer.get("ChallengeParameters") or {}
        name = asked.get("USER_ID_FOR_SRP") or asked.get("USERNAME") or name
        if challenge in ("SOFTWARE_TOKEN_MFA", "SMS_MFA"):
            key = f"{challenge}_CODE"
            code = ask_code("Authenticator app code" if challenge == "SOFTWARE_TOKEN_MFA"
                            else "Code sent by SMS").strip()
            responses = {"USERNAME": name, key: code}
        elif challenge == "NEW_PASSWORD_REQUIRED":
            responses = {"USERNAME": name, "NEW_PASSWORD": ask_new_password(
                "This is your first sign-in: choose a new password")}
        else:
            raise ConfigError(f"The user pool asks for {challenge}, which pai login does not "
                              "answer: finish it in the AWS console or ask your administrator.")
        session = answer.get("Session")
        answer = _idp(lambda c=challenge, r=responses, s=session: idp.respond_to_auth_challenge(
            ClientId=pool.client_id, ChallengeName=c, ChallengeResponses=r,
            **({"Session": s} if s else {})), pool)
    result = answer.get("AuthenticationResult")
    if not result or not result.get("AccessToken"):
        raise BackendError("The user pool ended the sign-in without tokens: try again.")
    return result


def refreshed(current: SignIn, clock: Callable[[], float] = time.time,
              endpoint_url: str | None = None, idp: Any = None) -> SignIn:
    """New access and id tokens from the refresh token (REFRESH_TOKEN_AUTH)."""
    pool = replace(current.pool, endpoint_url=endpoint_url)
    idp = idp or idp_client(pool)
    answer = _idp(lambda: idp.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": current.refresh_token},
        ClientId=current.client_id), pool, expired_env=current.env)
    result = answer.get("AuthenticationResult") or {}
    if not result.get("AccessToken"):
        raise BackendError("The user pool refreshed the sign-in without tokens: try again.")
    return replace(current, access_token=result["AccessToken"],
                   id_token=result.get("IdToken", current.id_token),
                   refresh_token=result.get("RefreshToken") or current.refresh_token,
                   expires_at=clock() + float(result.get("ExpiresIn", 3600)))


def revoke(current: SignIn, endpoint_url: str | None = None, idp: Any = None) -> None:
    pool = replace(current.pool, endpoint_url=endpoint_url)
    idp = idp or idp_client(pool)
    _idp(lambda: idp.revoke_token(Token=current.refresh_token, ClientId=current.client_id), pool)


def from_result(env: str, pool: Pool, username: str, result: dict[str, Any],
                api_url: str | None, clock: Callable[[], float] = time.time) -> SignIn:
    return SignIn(env=env, region=pool.region, user_pool_id=pool.user_pool_id,
                  client_id=pool.client_id, username=username,
                  access_token=result["AccessToken"], id_token=result.get("IdToken", ""),
                  refresh_token=result.get("RefreshToken", ""),
                  expires_at=clock() + float(result.get("ExpiresIn", 3600)), api_url=api_url)


# --- the cache file -------------------------------------------------------------------------

def load(path: Path) -> SignIn | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"Cannot read the sign-in {path} ({e.strerror}): run `pai logout` "
                          "and `pai login` again.") from None
    try:
        data = json.loads(text)
        return SignIn(**{k: data[k] for k in SignIn.__dataclass_fields__ if k in data})
    except (ValueError, TypeError):
        raise ConfigError(f"The sign-in {path} is damaged: run `pai login` again.") from None


def save(path: Path, sign_in_: SignIn) -> None:
    """Written whole and private from its first byte: a 0600 temporary file, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(sign_in_), f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def remove(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


class Session:
    """The signed-in user's tokens for one environment, refreshed (and saved) when due."""

    def __init__(self, path: Path, env: str, endpoint_url: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.env = env
        self.endpoint_url = endpoint_url
        self.clock = clock
        self._current: SignIn | None = None

    def current(self) -> SignIn:
        if self._current is None:
            self._current = load(self.path)
        if self._current is None:
            raise ConfigError(f"Not signed in to {self.env!r}: run `pai login --env {self.env}`.")
        return self._current

    def access_token(self, force_refresh: bool = False) -> str:
        now = self.current()
        if force_refresh or self.clock() >= now.expires_at - REFRESH_AHEAD_S:
            self._current = refreshed(now, self.clock, self.endpoint_url)
            save(self.path, self._current)
        return self._current.access_token


class Bearer(httpx.Auth):
    """The access token on every request; a 401 refreshes it once and tries again (a token
    revoked or expired early)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.session.access_token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = \
                f"Bearer {self.session.access_token(force_refresh=True)}"
            yield request


def _idp(fn: Callable[[], Any], pool: Pool, expired_env: str | None = None) -> Any:
    """A Cognito call, its errors as pai's: wrong credentials are a credentials problem
    (exit 3), a wrong code bad input (1), an unreachable or throttled pool a backend (4)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn()
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        message = e.response.get("Error", {}).get("Message", "")
        if code == "NotAuthorizedException":
            if expired_env:
                raise ConfigError(f"Your sign-in to {expired_env!r} has expired or was revoked: "
                                  f"run `pai login --env {expired_env}`.") from None
            raise ConfigError(f"Sign-in refused: {message or 'wrong username or password'}.") from None
        if code in ("CodeMismatchException", "ExpiredCodeException"):
            raise InputError("That code is wrong or expired: run `pai login` again with a "
                             "fresh one.") from None
        if code == "InvalidPasswordException":
            raise InputError(f"The new password is refused: {message}") from None
        if code == "PasswordResetRequiredException":
            raise ConfigError("Your password must be reset: ask your administrator, or use the "
                              "pool's forgotten-password flow.") from None
        if code in ("UserNotFoundException", "UserNotConfirmedException"):
            raise ConfigError(f"Sign-in refused: {message}") from None
        if code in ("ResourceNotFoundException", "InvalidParameterException"):
            raise ConfigError(f"The user pool {pool.user_pool_id} or app client "
                              f"{pool.client_id} is not usable ({message}): check the "
                              "deployment's outputs (`pai status`).") from None
        raise BackendError(f"Cognito in {pool.region} failed ({code}: {message}): try again.") from None
    except BotoCoreError as e:
        raise BackendError(f"Cannot reach Cognito in {pool.region} ({e}): check your network.") from None
