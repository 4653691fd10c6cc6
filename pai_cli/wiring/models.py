"""Which chat model to use: explicit settings win; otherwise what this machine offers."""

from __future__ import annotations

from typing import Any

from pai_cli.config import ModelChoice, Settings, aws_credentials_visible
from pai_cli.errors import ConfigError

OLLAMA = "http://127.0.0.1:11434/v1"


def read_api_key(settings: Settings) -> str | None:
    if settings.api_key:
        return settings.api_key
    path = settings.api_key_path
    if path.exists():
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except OSError as e:
            raise ConfigError(f"Cannot read the API key file {path}: {e.strerror}.") from None
    return None


def _ollama_models(timeout: float = 0.3) -> list[str]:
    import httpx

    try:
        resp = httpx.get(f"{OLLAMA}/models", timeout=timeout)
        return [m["id"] for m in resp.json().get("data", [])] if resp.status_code == 200 else []
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return []


def select_model(settings: Settings, choice: ModelChoice) -> tuple[Any, str | None]:
    """(model or None, a one-line notice when pai chose by itself)."""
    provider = choice.provider or settings.provider
    model_id = choice.model or settings.model
    profile = choice.profile or settings.aws_profile
    if provider == "none":
        return None, None
    if provider == "openai" or (provider is None and settings.base_url):
        return _openai(settings, model_id), None
    if provider == "bedrock":
        return _bedrock(settings, choice, model_id, profile), None
    # Nothing chosen: say what we found, in one line.
    if aws_credentials_visible(profile):
        model = _bedrock(settings, choice, model_id, profile, quiet=True)
        if model is not None:
            return model, (
                f"using Bedrock {model.model_id} in {model.region} (AWS credentials found); "
                "set provider in config.toml to choose."
            )
    found = _ollama_models()
    if found:
        from pai_cli.backends.llm.openai_compat import OpenAICompatModel

        chosen = model_id or found[0]
        return OpenAICompatModel(OLLAMA, chosen), (
            f"using Ollama model {chosen} at {OLLAMA}; set provider in config.toml to choose."
        )
    return None, None


def _openai(settings: Settings, model_id: str | None) -> Any:
    from pai_cli.backends.llm.openai_compat import OpenAICompatModel

    if not settings.base_url:
        raise ConfigError(
            "provider is openai but no base_url is set: add base_url to config.toml or set "
            "PAI_BASE_URL (e.g. http://localhost:11434/v1 for Ollama)."
        )
    if not model_id:
        raise ConfigError(
            f"No model is set for {settings.base_url}: add model to config.toml or set "
            "PAI_MODEL (`pai models` lists what the server offers)."
        )
    return OpenAICompatModel(settings.base_url, model_id, read_api_key(settings),
                             timeout=settings.model_timeout)


def _bedrock(
    settings: Settings, choice: ModelChoice, model_id: str | None, profile: str | None,
    quiet: bool = False,
) -> Any:
    from pai_cli.backends.aws.session import resolve_region
    from pai_cli.backends.llm.bedrock import BedrockModel, default_model

    region = resolve_region(choice.region or settings.aws_region, profile,
                            settings.aws_env_region)
    if not region:
        if quiet:
            return None
        raise ConfigError("No AWS region for Bedrock: pass --region or set AWS_REGION.")
    return BedrockModel(model_id or default_model(region), region, profile,
                        endpoint_url=settings.bedrock_endpoint,
                        read_timeout=settings.model_timeout)
