"""The Settings record every part of pai is configured from, with the paths under its home,
and ModelChoice, the per-command model flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

APP = "pai"


@dataclass(frozen=True)
class Settings:
    home: Path
    config_file: Path
    user: str
    memory_ttl_days: float = 365.0
    conversation_ttl_days: float = 7.0
    default_category: str = "general"
    recall_k: int = 5
    min_score: float = 0.01
    output: str | None = None
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_file: str | None = None
    max_tokens: int = 2048
    context_tokens: int = 12000
    history_messages: int = 20
    aws_profile: str | None = None
    aws_region: str | None = None
    backend: str = "local"
    env: str = "dev"
    vector_store: str = "s3vectors"
    embedder: str = "default"
    aws_names: dict[str, str] = field(default_factory=dict)
    memory_mode: str = "distill"
    """distill: facts from each exchange, with a model (verbatim without one); verbatim."""
    memory_categories: tuple[str, ...] = ()
    """Categories of the user's own, beside the default set, for distilled facts."""
    allow_model_forget: bool = False
    """Let the model's update/forget tools act where no one can be asked (-m, the API)."""
    # From the environment only (PAI_*; never in config.toml: secrets, per-machine values).
    master_key_file: str | None = None
    api_key: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    model_timeout: float = 60.0
    db_timeout: float = 15.0
    aws_endpoint: str | None = None
    bedrock_endpoint: str | None = None
    aws_env_region: str | None = None
    """AWS_REGION, else AWS_DEFAULT_REGION: botocore on its own ignores AWS_REGION."""
    principal_users: Mapping[str, str] = field(default_factory=dict)
    """Principal ARN -> pai user: [principal_users] in config.toml, PAI_PRINCIPAL_USERS
    (the functions get it from the compute stack's PrincipalUsers) above it."""
    in_lambda: bool = False
    cache_dir: str | None = None
    """PAI_CACHE_DIR: where files pai can always rebuild are kept (the optimised model)."""
    user_is_default: bool = False
    """No --user, PAI_USER or config user: the OS user's name. On the AWS home the CLI then
    files memories under the caller's AWS identity instead, as the HTTP API does."""
    memory_queue_url: str | None = None
    """MEMORY_QUEUE_URL: the SQS queue of memory jobs (Lambda only)."""
    limits_table: str | None = None
    """LIMITS_TABLE: the HTTP API's per-user request buckets (Lambda only)."""
    rate_per_minute: float = 0.0
    """PAI_RATE_PER_MINUTE: requests a minute each user may make to the HTTP API, on
    average (the compute stack's UserRequestsPerMinute); 0: no per-user limit."""
    rate_burst: int = 20
    """PAI_RATE_BURST: requests a user may make at once (UserBurst)."""
    # --backend api: where the deployed API is and how to sign in to it. Unset: from the
    # `pai login` cache, else from the stacks' outputs (with AWS credentials).
    api_url: str | None = None
    api_auth: str | None = None
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None

    @property
    def db_path(self) -> Path:
        return self.home / "pai.db"

    @property
    def key_path(self) -> Path:
        if self.master_key_file:
            return Path(self.master_key_file).expanduser()
        return self.home / "master.key"

    @property
    def model_cache(self) -> Path:
        """The embedder's optimised model: rebuilt from the wheel whenever it is missing, so
        a cache beside the user's other caches, not data in the home (a backup of the home
        need not carry its 90 MB; every home of this OS user shares it)."""
        if self.cache_dir:
            return Path(self.cache_dir).expanduser() / "models"
        from platformdirs import user_cache_dir

        return Path(user_cache_dir(APP, appauthor=False)) / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def api_key_path(self) -> Path:
        return Path(self.api_key_file).expanduser() if self.api_key_file else self.home / "api_key"

    def sign_in_path(self, env: str | None = None) -> Path:
        """`pai login`'s cache for an environment: the API's address and the tokens (0600)."""
        return self.home / "sign-in" / f"{env or self.env}.json"

    @property
    def mcp_token_path(self) -> Path:
        """The bearer token of `pai mcp --transport http` (0600)."""
        return self.home / "mcp_token"


@dataclass(frozen=True)
class ModelChoice:
    """Flags that override the settings for one command."""

    provider: str | None = None
    model: str | None = None
    profile: str | None = None
    region: str | None = None
