"""`--backend api`: the deployed API's address, how to sign its requests, and the adapters
over it (pai_cli/backends/api) that stand in for the memory and chat services.

Where the API is and how it authorizes, first found wins: the settings (PAI_API_URL,
PAI_API_AUTH, PAI_COGNITO_*, config.toml), the `pai login` cache of the environment, the
stacks' outputs (ApiUrl, ApiAuthMode, UserPoolId, UserPoolClientId: needs AWS credentials
that may describe the stacks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pai_cli.config import Settings, aws_credentials_visible
from pai_cli.errors import ConfigError

if TYPE_CHECKING:
    from pai_cli.wiring import Wiring


@dataclass(frozen=True)
class Endpoint:
    env: str
    url: str
    auth: str
    """iam (SigV4) or cognito (the `pai login` token)."""
    region: str | None = None
    user_pool_id: str | None = None
    client_id: str | None = None


@dataclass
class ApiHome:
    endpoint: Endpoint
    client: Any
    memories: Any
    chat: Any

    def close(self) -> None:
        self.client.close()


def stack_outputs(w: Wiring) -> dict[str, str]:
    """Every stack's outputs of the environment, or a one-line way to do without them."""
    s = w.settings
    profile = w.choice.profile or s.aws_profile
    if not aws_credentials_visible(profile):
        raise ConfigError(f"No address for the API of {s.env!r}: sign in with `pai login --env "
                          f"{s.env}`, set PAI_API_URL (the ApiUrl output of `pai status --env "
                          f"{s.env}`), or configure AWS credentials that may read the stacks.")
    from pai_cli.deploy.stacks import Deployer

    return Deployer(w.aws, s.env).outputs()


def endpoint(w: Wiring, outputs: dict[str, str] | None = None) -> Endpoint:
    from pai_cli.backends.api import sign_in

    s = w.settings
    saved = sign_in.load(s.sign_in_path())
    url = s.api_url or (saved.api_url if saved else None)
    auth = s.api_auth or ("cognito" if saved else None)
    pool = s.cognito_user_pool_id or (saved.user_pool_id if saved else None)
    client = s.cognito_client_id or (saved.client_id if saved else None)
    if not url or not auth or (auth == "cognito" and not (pool and client)):
        outputs = outputs if outputs is not None else stack_outputs(w)
        if not outputs.get("ApiUrl"):
            raise ConfigError(f"The environment {s.env!r} has no API deployed: run `pai deploy "
                              f"--env {s.env}`.")
        url = url or outputs["ApiUrl"]
        deployed = outputs.get("ApiAuthMode", "iam")
        if deployed == "jwt" and not auth:
            raise ConfigError(f"The API of {s.env!r} takes tokens of another issuer (--auth "
                              "jwt): pai signs with IAM (SigV4) or a Cognito sign-in only.")
        auth = auth or deployed
        pool = pool or outputs.get("UserPoolId")
        client = client or outputs.get("UserPoolClientId")
    if auth == "cognito" and not (pool and client):
        raise ConfigError(f"No user pool for the API of {s.env!r}: deploy it with `--auth "
                          "cognito`, or set PAI_COGNITO_USER_POOL_ID and PAI_COGNITO_CLIENT_ID.")
    region = (pool.split("_", 1)[0] if auth == "cognito" and pool else None)
    return Endpoint(s.env, url.rstrip("/"), auth, region, pool, client)


def open_api(w: Wiring) -> ApiHome:
    from pai_cli.backends.api.chat import ApiChat
    from pai_cli.backends.api.client import ApiClient
    from pai_cli.backends.api.memories import ApiMemories

    found = endpoint(w)
    s = w.settings
    auth: Any
    if found.auth == "cognito":
        from pai_cli.backends.api.sign_in import Bearer, Session

        auth = Bearer(Session(s.sign_in_path(), s.env, endpoint_url=s.aws_endpoint,
                              clock=w.clock))
        hint = f"sign in again with `pai login --env {s.env}`."
    else:
        from pai_cli.backends.api.sigv4 import SigV4, region_of
        from pai_cli.backends.aws.session import Aws

        region = region_of(found.url)  # API Gateway's host names its region
        aws = w.aws if region is None else Aws(region, w.choice.profile or s.aws_profile,
                                                endpoint_url=s.aws_endpoint)
        auth = SigV4(aws.credentials(), aws.region)
        hint = ("check that your AWS identity has the stack's ApiCallerPolicy "
                "(ApiCallerPolicyArn output).")
    client = ApiClient(found.url, auth, f"{s.env!r} ({found.url})", hint)
    return ApiHome(found, client, ApiMemories(client, w.secrets_redactor()),
                   ApiChat(client, w.chat_settings, ServerSideWriter()))


class ServerSideWriter:
    """The memory writer on --backend api: a turn's memory jobs are the server's (its queue
    and memory-writer function), so none wait on this machine."""

    def drain(self, user_id: str, limit: int = 200) -> Any:
        from pai_cli.core.remember import WriteReport

        return WriteReport()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        from pai_cli.backends.api.client import not_served

        raise not_served("The memory queue (the API's memory writer keeps its own)")


def login_pool(w: Wiring, user_pool_id: str | None, client_id: str | None,
               api_url: str | None) -> tuple[Any, str | None]:
    """Where `pai login` signs in (and the API the sign-in is for): the flags, else as for
    any --backend api command."""
    from pai_cli.backends.api.sign_in import Pool

    s = w.settings
    pool = user_pool_id or s.cognito_user_pool_id
    client = client_id or s.cognito_client_id
    url = api_url or s.api_url
    if not (pool and client):
        found = endpoint(w)
        if found.auth != "cognito":
            raise ConfigError(f"The API of {s.env!r} is not deployed with --auth cognito: it "
                              "takes SigV4 with your AWS credentials, no sign-in is needed.")
        pool, client, url = found.user_pool_id, found.client_id, url or found.url
    if not (pool and client):  # endpoint() refuses cognito without both; said for the types
        raise ConfigError(f"No user pool for the API of {s.env!r}: pass --user-pool-id and "
                          "--client-id.")
    if "_" not in pool:
        raise ConfigError(f"{pool!r} is not a user pool id (REGION_ID, e.g. eu-west-1_AbC123).")
    return Pool(pool.split("_", 1)[0], pool, client, endpoint_url=s.aws_endpoint), url


def sign_in(w: Wiring, pool: Any, username: str, password: str, ask_code: Any,
            ask_new_password: Any, api_url: str | None) -> Path:
    """`pai login`: SRP with the pool, the tokens saved for the environment; their file."""
    from pai_cli.backends.api import sign_in as cognito

    result = cognito.sign_in(pool, username, password, ask_code, ask_new_password)
    path = w.settings.sign_in_path()
    cognito.save(path, cognito.from_result(w.settings.env, pool, username, result, api_url,
                                           w.clock))
    return path


def sign_out(settings: Settings) -> tuple[bool, str | None]:
    """`pai logout`: (whether there was a sign-in, what revoking it said if it failed). The
    file goes whatever Cognito said: this machine no longer holds the tokens."""
    from pai_cli.backends.api import sign_in as cognito
    from pai_cli.errors import PaiError

    path = settings.sign_in_path()
    current = cognito.load(path)
    if current is None:
        return False, None
    problem = None
    try:
        cognito.revoke(current, endpoint_url=settings.aws_endpoint)
    except PaiError as e:
        problem = e.message
    cognito.remove(path)
    return True, problem
