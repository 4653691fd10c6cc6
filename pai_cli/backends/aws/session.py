"""boto3 sessions and clients for the AWS home, and one translation of AWS errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pai_cli.errors import BackendError, ConfigError, PaiError

NOT_DEPLOYED = "run `pai deploy --env {env}` (or set its name in config.toml)"


def resolve_region(flag: str | None, profile: str | None,
                   env_region: str | None = None) -> str | None:
    """flag > env_region (AWS_REGION, else AWS_DEFAULT_REGION: Settings.aws_env_region) >
    the profile's region: botocore on its own ignores AWS_REGION."""
    for value in (flag, env_region):
        if value:
            return value
    import botocore.session

    try:
        return botocore.session.Session(profile=profile).get_config_variable("region")
    except Exception:  # noqa: BLE001 - a broken profile is reported when a client is made
        return None


@dataclass
class Aws:
    """One boto3 session for a command; clients made once, with adaptive retries."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def session(self) -> Any:
        if "_session" not in self._clients:
            import boto3
            from botocore.exceptions import ProfileNotFound

            try:
                self._clients["_session"] = boto3.Session(profile_name=self.profile,
                                                          region_name=self.region)
            except ProfileNotFound:
                raise ConfigError(
                    f"AWS profile {self.profile!r} does not exist: check --profile / AWS_PROFILE."
                ) from None
        return self._clients["_session"]

    def credentials(self) -> Any:
        creds = self.session().get_credentials()
        if creds is None:
            raise ConfigError("No AWS credentials found: run `aws configure` or `aws sso login`, "
                              "or pass --profile.")
        return creds

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            self._clients[service] = self.session().client(
                service,
                endpoint_url=self.endpoint_url,
                config=Config(retries={"mode": "adaptive", "max_attempts": 8},
                              connect_timeout=5, read_timeout=30, user_agent_extra="pai-cli"),
            )
        return self._clients[service]

    def account_id(self) -> str:
        return call(lambda: self.client("sts").get_caller_identity()["Account"], "STS")


def call(fn: Any, what: str, env: str = "dev") -> Any:
    """Run one AWS call; whatever AWS says becomes a one-line PaiError."""
    try:
        return fn()
    except PaiError:
        raise
    except Exception as e:  # noqa: BLE001 - translated below, or re-raised
        translated = translate(e, what, env)
        if translated is None:
            raise
        raise translated from None


def reraise(exc: BaseException, what: str, env: str = "dev") -> None:
    raise (translate(exc, what, env) or exc) from None


def translate(exc: BaseException, what: str = "AWS", env: str = "dev") -> PaiError | None:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    if isinstance(exc, NoCredentialsError):
        return ConfigError("No AWS credentials found: run `aws configure` or `aws sso login`, "
                           "or pass --profile.")
    if isinstance(exc, NoRegionError):
        return ConfigError("No AWS region: pass --region or set AWS_REGION.")
    if isinstance(exc, EndpointConnectionError):
        return BackendError(f"Cannot reach {what}: check the network and the region.")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", ""), err.get("Message", "")
        if code in ("ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException",
                    "InvalidClientTokenId", "InvalidSignatureException", "RequestExpired"):
            return ConfigError("Your AWS credentials are invalid or expired: refresh them "
                               "(`aws sso login` or `aws configure`).")
        if code in ("AccessDenied", "AccessDeniedException", "403"):
            return ConfigError(f"AWS denied access to {what}: your identity needs permission "
                               f"for it ({message.strip() or code}).")
        if code in ("ResourceNotFoundException", "NoSuchBucket", "NotFoundException"):
            return ConfigError(f"{what} does not exist: {NOT_DEPLOYED.format(env=env)}.")
        if code in ("DisabledException", "KMSInvalidStateException", "KeyUnavailableException"):
            return ConfigError(f"The KMS key for {what} is disabled or pending deletion: enable "
                               "it (or cancel the deletion) in the KMS console.")
        if code in ("ThrottlingException", "ProvisionedThroughputExceededException",
                    "RequestLimitExceeded", "SlowDown", "TooManyRequestsException"):
            return BackendError(f"AWS is throttling {what} (retried with backoff): try again "
                                "in a minute.")
        return BackendError(f"{what} failed ({code}): {message.strip()}")
    if isinstance(exc, BotoCoreError):
        return BackendError(f"{what} failed: {exc}")
    return None
