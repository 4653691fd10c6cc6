"""Contract tests against the real Bedrock. They run only with PAI_TEST_BEDROCK=1 and AWS
credentials (PAI_TEST_BEDROCK_MODEL / AWS_REGION to choose); otherwise they are skipped and
the skip reason says so in the test summary."""

from __future__ import annotations

import os

import pytest

from pai_cli.records import ChatMessage

pytestmark = pytest.mark.skipif(
    os.environ.get("PAI_TEST_BEDROCK") != "1",
    reason="real Bedrock contract tests: set PAI_TEST_BEDROCK=1 with AWS credentials to run",
)


@pytest.fixture
def real_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # conftest hides the developer's AWS config from ordinary tests; these need it back.
    for var in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"):
        if var in os.environ and "no-aws" in os.environ[var]:
            monkeypatch.delenv(var)


def make_model():
    from pai_cli.backends.aws.session import resolve_region
    from pai_cli.backends.llm.bedrock import BedrockModel, default_model

    region = resolve_region(None, os.environ.get("AWS_PROFILE"),
                            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    if not region:
        pytest.skip("no AWS region configured (set AWS_REGION)")
    model_id = os.environ.get("PAI_TEST_BEDROCK_MODEL") or default_model(region)
    return BedrockModel(model_id, region, os.environ.get("AWS_PROFILE"))


def test_stream_a_short_reply(real_env) -> None:
    events = list(make_model().stream("Answer with one word.", [ChatMessage("user", "Say hi")], 20))
    assert "".join(e.text for e in events).strip()
    assert events[-1].usage is not None and events[-1].usage.output_tokens > 0


def test_unknown_model_is_a_config_error(real_env) -> None:
    from pai_cli.backends.llm.bedrock import BedrockModel
    from pai_cli.errors import ConfigError

    model = make_model()
    bogus = BedrockModel("us.anthropic.no-such-model-v9:0", model.region, model.profile)
    with pytest.raises(ConfigError):
        list(bogus.stream("s", [ChatMessage("user", "hi")], 5))


def test_a_tool_call_and_its_result_round_trip(real_env) -> None:
    """The whole tool loop against the real service: the toolConfig is accepted, a call
    streams in and parses, and the follow-up (toolUse, toolResult, toolConfig again) is
    accepted and answered in text."""
    from pai_cli.records import ToolResult, ToolSpec

    remember = ToolSpec("remember", "Store one fact about the user in long-term memory.", {
        "type": "object", "properties": {"content": {"type": "string"}},
        "required": ["content"]})
    model = make_model()
    ask = [ChatMessage("user", "Remember this about me: I moved to Porto in March. Use the "
                               "remember tool, then confirm in one short sentence.")]
    system = "You are a memory assistant. Store facts with the remember tool when asked."
    events = list(model.stream(system, ask, 300, [remember]))
    calls = [e.tool_call for e in events if e.tool_call is not None]
    assert events[-1].stop_reason == "tool_use" and calls, "the model made no tool call"
    assert calls[0].name == "remember" and calls[0].error is None
    assert "Porto" in calls[0].arguments["content"]
    text = "".join(e.text for e in events)
    follow = [*ask, ChatMessage("assistant", text, tool_calls=tuple(calls)),
              ChatMessage("user", "", tool_results=tuple(
                  ToolResult(c.id, {"stored": True}) for c in calls))]
    answer = list(model.stream(system, follow, 100, [remember]))
    assert "".join(e.text for e in answer).strip()
    assert answer[-1].stop_reason == "end_turn" and answer[-1].usage.output_tokens > 0
