"""The OpenAI-compatible adapter against a local SSE server: streaming, cuts, 429/500."""

from __future__ import annotations

import pytest
from fakes.openai_server import Reply, Status, openai_fake

from pai_cli.backends.llm.openai_compat import OpenAICompatModel
from pai_cli.errors import ModelConfigError, ModelError, PromptTooLong
from pai_cli.records import ChatMessage

MSGS = [ChatMessage("user", "hello")]


def collect(model: OpenAICompatModel) -> tuple[str, list]:
    events = list(model.stream("be brief", MSGS, 64))
    return "".join(e.text for e in events), events


def test_streams_text_and_usage_and_sends_a_proper_request() -> None:
    with openai_fake(Reply(["Hel", "lo ", "there"], usage=(31, 3))) as (_, server):
        model = OpenAICompatModel(server.url + "/v1", "tiny-model", api_key="sk-secret-123")
        text, events = collect(model)
    assert text == "Hello there"
    assert events[-1].usage.input_tokens == 31 and events[-1].usage.output_tokens == 3
    assert events[-1].stop_reason == "stop"
    req = server.seen[0]
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-secret-123"
    body = req.json()
    assert body["stream"] is True and body["model"] == "tiny-model" and body["max_tokens"] == 64
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["messages"][1] == {"role": "user", "content": "hello"}
    assert "sk-secret" not in repr(model)


def test_a_stream_cut_mid_reply_raises_after_the_pieces_that_arrived() -> None:
    with openai_fake(Reply(["one ", "two ", "three"], cut_after=2)) as (_, server):
        model = OpenAICompatModel(server.url, "m")
        got: list[str] = []
        with pytest.raises(ModelError) as err:
            for event in model.stream("s", MSGS, 10):
                got.append(event.text)
    assert "".join(got) == "one two "
    assert "kept" in err.value.message


def test_429_and_500_are_retried_with_backoff() -> None:
    sleeps: list[float] = []
    with openai_fake(Status(429, "slow down", retry_after="2"), Status(500), Reply(["ok"])) as (
            _, server):
        model = OpenAICompatModel(server.url, "m", sleep=sleeps.append)
        text, _ = collect(model)
    assert text == "ok" and sleeps == [2.0, 1.0] and len(server.seen) == 3


def test_persistent_429_gives_up_with_one_line() -> None:
    with openai_fake(*[Status(429)] * 4) as (_, server):
        model = OpenAICompatModel(server.url, "m", retries=3, sleep=lambda s: None)
        with pytest.raises(ModelError) as err:
            collect(model)
    assert "rate-limiting" in err.value.message and len(server.seen) == 4


@pytest.mark.parametrize(("status", "message", "kind", "words"), [
    (401, "bad key", ModelConfigError, "API key"),
    (404, "no such model", ModelConfigError, "not found"),
    (400, "maximum context length exceeded", PromptTooLong, "too long"),
    (400, "weird", ModelError, "HTTP 400"),
])
def test_errors_map_to_one_line_messages(status, message, kind, words) -> None:
    with openai_fake(Status(status, message)) as (_, server):
        model = OpenAICompatModel(server.url, "m", api_key="sk-never-shown")
        with pytest.raises(kind) as err:
            collect(model)
    assert words in err.value.message and "sk-never-shown" not in err.value.message
    assert "\n" not in err.value.message


def test_unreachable_server() -> None:
    model = OpenAICompatModel("http://127.0.0.1:9", "m")
    with pytest.raises(ModelError) as err:
        collect(model)
    assert "Cannot reach" in err.value.message


def test_check_lists_models() -> None:
    with openai_fake() as (fake, server):
        fake.models = ["llama3.2", "qwen2.5"]
        assert OpenAICompatModel(server.url, "x").check() == ["llama3.2", "qwen2.5"]
