"""The Bedrock adapter against a local server speaking Converse/ConverseStream on the wire:
boto3 signs, serialises, retries and parses the event stream as it does against AWS."""

from __future__ import annotations

import pytest
from fakes.bedrock_server import Error, Stream, bedrock_fake, model_of

from pai_cli.backends.aws.session import resolve_region
from pai_cli.backends.llm.bedrock import BedrockModel, default_model
from pai_cli.config import load_settings
from pai_cli.errors import ModelConfigError, ModelError, PromptTooLong
from pai_cli.records import ChatMessage

MSGS = [ChatMessage("user", "what's my dog called?")]
MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def model_for(url: str, **kw) -> BedrockModel:
    return BedrockModel(MODEL, "us-east-1", endpoint_url=url, sleep=lambda s: None, **kw)


def test_converse_stream_text_usage_and_request_shape() -> None:
    with bedrock_fake(Stream(["Your dog ", "is called ", "Biscuit."], usage=(200, 8))) as (
            _, server):
        events = list(model_for(server.url).stream("system text", MSGS, 256))
    assert "".join(e.text for e in events) == "Your dog is called Biscuit."
    assert events[-1].usage.input_tokens == 200 and events[-1].usage.output_tokens == 8
    assert events[-1].stop_reason == "end_turn"
    req = server.seen[0]
    assert req.method == "POST" and req.path.endswith("/converse-stream")
    assert model_of(req) == MODEL
    assert req.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/bedrock/aws4_request" in req.headers["authorization"]
    body = req.json()
    assert body["system"] == [{"text": "system text"}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "what's my dog called?"}]}]
    assert body["inferenceConfig"] == {"maxTokens": 256}


def test_throttling_is_retried_by_the_sdk_then_succeeds() -> None:
    with bedrock_fake(Error(429, "ThrottlingException", "Too many requests"),
                      Stream(["fine"])) as (_, server):
        events = list(model_for(server.url).stream("s", MSGS, 10))
    assert "".join(e.text for e in events) == "fine" and len(server.seen) == 2


def test_throttling_inside_the_stream_is_retried_before_any_text() -> None:
    with bedrock_fake(Stream([], error_event=("throttlingException", "slow down")),
                      Stream(["second try"])) as (_, server):
        events = list(model_for(server.url).stream("s", MSGS, 10))
    assert "".join(e.text for e in events) == "second try"


def test_error_after_text_is_not_retried_and_keeps_the_text() -> None:
    with bedrock_fake(Stream(["partial "], error_event=("modelStreamErrorException", "boom"))) as (
            _, server):
        got = []
        with pytest.raises(ModelError):
            for e in model_for(server.url).stream("s", MSGS, 10):
                got.append(e.text)
    assert "".join(got) == "partial " and len(server.seen) == 1


@pytest.mark.parametrize(("status", "code", "message", "kind", "words"), [
    (403, "AccessDeniedException",
     "You don't have access to the model with the specified model ID.", ModelConfigError,
     "Model access"),
    (400, "ValidationException", "Input is too long for requested model.", PromptTooLong,
     "too long"),
    (408, "ModelTimeoutException", "Model has timed out in processing the request.", ModelError,
     "timed out"),
    (400, "ValidationException",
     "Invocation of model ID anthropic.claude-x with on-demand throughput isn't supported.",
     ModelConfigError, "inference profile"),
    (403, "UnrecognizedClientException", "The security token included in the request is invalid.",
     ModelConfigError, "credentials"),
])
def test_bedrock_errors_become_one_line_advice(status, code, message, kind, words) -> None:
    with bedrock_fake(Error(status, code, message)) as (_, server):
        with pytest.raises(kind) as err:
            list(model_for(server.url).stream("s", MSGS, 10))
    assert words in err.value.message and "\n" not in err.value.message


def test_throttling_that_never_ends_says_what_to_do() -> None:
    errors = [Error(429, "ThrottlingException", "Too many requests")] * 12
    with bedrock_fake(*errors) as (_, server):
        with pytest.raises(ModelError) as err:
            list(model_for(server.url, stream_retries=0, max_attempts=2).stream("s", MSGS, 10))
    assert "throttling" in err.value.message and "quota" in err.value.message
    assert len(server.seen) >= 2  # the SDK retried before giving up


def test_check_uses_converse() -> None:
    with bedrock_fake(Stream(["OK"])) as (_, server):
        assert model_for(server.url).check() == [MODEL]
    assert server.seen[0].path.endswith("/converse")


def test_region_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[profile work]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    def region(flag: str | None) -> str | None:  # as the wiring resolves it
        return resolve_region(flag, "work", load_settings("alice").aws_env_region)

    assert region(None) == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert region(None) == "us-west-2"
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert region(None) == "ap-southeast-2"
    assert region("ca-central-1") == "ca-central-1"
    assert default_model("eu-west-1").startswith("eu.anthropic.")
    assert default_model("ap-southeast-2").startswith("apac.anthropic.")
    assert default_model("us-east-1").startswith("us.anthropic.")
