"""Tool calling through both chat adapters over real HTTP: Bedrock's ConverseStream (boto3
against a server speaking the AWS event stream) and OpenAI-compatible chat completions (SSE
chunks), each with the tool calls streamed in the provider's own wire format, the calls
assembled from their pieces, and the follow-up request checked in the shape the provider
documents (and refused by the fakes, as by the services, when it is not)."""

from __future__ import annotations

import json

import pytest
from fakes.bedrock_server import Stream, ToolUse, bedrock_fake
from fakes.openai_server import Reply, openai_fake, split_call

from pai_cli.backends.llm.bedrock import BedrockModel
from pai_cli.backends.llm.openai_compat import OpenAICompatModel
from pai_cli.core.prompt import _alternate
from pai_cli.errors import ModelError
from pai_cli.records import ChatMessage, ReplyEvent, ToolCall, ToolResult, ToolSpec

REMEMBER = ToolSpec("remember", "Store one fact about the user.", {
    "type": "object",
    "properties": {"content": {"type": "string"}, "category": {"type": "string"}},
    "required": ["content"],
})
RECALL = ToolSpec("recall", "Search the user's memories.", {
    "type": "object",
    "properties": {"query": {"type": "string"}, "k": {"type": "integer"}},
    "required": ["query"],
})
TOOLS = [REMEMBER, RECALL]
ASK = [ChatMessage("user", "I moved to Porto. What do you know about my sister?")]


def calls_of(events: list[ReplyEvent]) -> list[ToolCall]:
    return [e.tool_call for e in events if e.tool_call is not None]


def text_of(events: list[ReplyEvent]) -> str:
    return "".join(e.text for e in events)


def follow_up(reply_text: str, calls: list[ToolCall],
              results: list[ToolResult]) -> list[ChatMessage]:
    """The messages the turn driver sends back: the question, the assistant's text and
    calls, and a user message of results."""
    return [*ASK, ChatMessage("assistant", reply_text, tool_calls=tuple(calls)),
            ChatMessage("user", "", tool_results=tuple(results))]


# ---------------------------------------------------------------------------- Bedrock


@pytest.fixture
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def bedrock(url: str, **kw) -> BedrockModel:
    return BedrockModel("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-1",
                        endpoint_url=url, sleep=lambda s: None, **kw)


def test_bedrock_sends_tools_and_assembles_a_call_streamed_in_pieces(aws_keys) -> None:
    call = ToolUse("tooluse_a1B2", "remember",
                   ['{"cont', 'ent": "The user moved', ' to Porto", "categ', 'ory": "fact"}'])
    with bedrock_fake(Stream([], calls=[call], usage=(410, 37))) as (fake, server):
        events = list(bedrock(server.url).stream("sys", ASK, 300, TOOLS))
    assert calls_of(events) == [ToolCall("tooluse_a1B2", "remember",
                                         {"content": "The user moved to Porto",
                                          "category": "fact"})]
    assert text_of(events) == ""
    assert events[-1].stop_reason == "tool_use"
    assert (events[-1].usage.input_tokens, events[-1].usage.output_tokens) == (410, 37)
    assert fake.requests[0]["toolConfig"] == {"tools": [
        {"toolSpec": {"name": "remember", "description": "Store one fact about the user.",
                      "inputSchema": {"json": REMEMBER.input_schema}}},
        {"toolSpec": {"name": "recall", "description": "Search the user's memories.",
                      "inputSchema": {"json": RECALL.input_schema}}},
    ]}


def test_bedrock_text_then_two_calls_arrive_in_order(aws_keys) -> None:
    first = ToolUse("tooluse_1", "remember", ['{"content": "Moved', ' to Porto"}'])
    second = ToolUse("tooluse_2", "recall", ['{"query": "sis', 'ter", "k": 3}'])
    with bedrock_fake(Stream(["Noted. ", "Let me look."], calls=[first, second])) as (_, server):
        events = list(bedrock(server.url).stream("sys", ASK, 300, TOOLS))
    kinds = ["text" if e.text else "call" if e.tool_call else "end" for e in events]
    assert kinds == ["text", "text", "call", "call", "end"]
    assert text_of(events) == "Noted. Let me look."
    assert [(c.id, c.name, c.arguments) for c in calls_of(events)] == [
        ("tooluse_1", "remember", {"content": "Moved to Porto"}),
        ("tooluse_2", "recall", {"query": "sister", "k": 3})]


@pytest.mark.parametrize(("pieces", "words"), [
    (['{"content": "Porto"', ', "category": }'], "not valid JSON"),
    (['{"content": "Porto"}', '{"content": "Porto"}'], "not valid JSON"),
    (['["Porto"]'], "a list, not a JSON object"),
    (['"Porto"'], "a string, not a JSON object"),
    (['{"k": NaN}'], "not valid JSON"),
])
def test_bedrock_malformed_arguments_give_a_call_with_an_error(aws_keys, pieces, words) -> None:
    with bedrock_fake(Stream([], calls=[ToolUse("tooluse_x", "remember", pieces)])) as (
            _, server):
        events = list(bedrock(server.url).stream("sys", ASK, 300, TOOLS))
    (call,) = calls_of(events)
    assert call.id == "tooluse_x" and call.name == "remember"
    assert call.arguments is None and words in call.error and "\n" not in call.error
    assert events[-1].stop_reason == "tool_use"


def test_bedrock_a_tool_without_input_is_called_with_no_arguments(aws_keys) -> None:
    # Claude streams no toolUse delta at all for a tool whose input is empty.
    with bedrock_fake(Stream([], calls=[ToolUse("tooluse_e", "recall", [])])) as (_, server):
        (call,) = calls_of(list(bedrock(server.url).stream("sys", ASK, 300, TOOLS)))
    assert call.arguments == {} and call.error is None


def test_bedrock_follow_up_carries_tool_use_results_and_tool_config(aws_keys) -> None:
    calls = [ToolCall("tooluse_1", "remember", {"content": "Moved to Porto"}),
             ToolCall("tooluse_2", "recall", None, "The arguments for recall are not valid "
                                                   "JSON")]
    results = [ToolResult("tooluse_1", {"stored": "m3"}),
               ToolResult("tooluse_2", {"error": "arguments were not JSON"}, is_error=True)]
    with bedrock_fake(Stream(["You have a sister, Alice."], usage=(600, 12))) as (fake, server):
        events = list(bedrock(server.url).stream(
            "sys", follow_up("Noted.", calls, results), 300, TOOLS))
    assert text_of(events) == "You have a sister, Alice."
    assert events[-1].stop_reason == "end_turn" and events[-1].usage.input_tokens == 600
    body = fake.requests[0]
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "remember"
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"text": "Noted."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "remember",
                     "input": {"content": "Moved to Porto"}}},
        {"toolUse": {"toolUseId": "tooluse_2", "name": "recall", "input": {}}}]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"stored": "m3"}}]}},
        {"toolResult": {"toolUseId": "tooluse_2", "status": "error",
                        "content": [{"json": {"error": "arguments were not JSON"}}]}}]}


def test_bedrock_assistant_message_of_calls_only_sends_no_empty_text(aws_keys) -> None:
    calls = [ToolCall("tooluse_1", "recall", {"query": "sister"})]
    with bedrock_fake(Stream(["Alice."])) as (fake, server):
        list(bedrock(server.url).stream(
            "sys", follow_up("", calls, [ToolResult("tooluse_1", {"memories": []})]), 300,
            TOOLS))
    assert fake.requests[0]["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "tooluse_1", "name": "recall", "input": {"query": "sister"}}}]


def test_bedrock_tool_history_without_tools_still_sends_a_tool_config(aws_keys) -> None:
    calls = [ToolCall("tooluse_1", "recall", {"query": "sister"})]
    history = follow_up("", calls, [ToolResult("tooluse_1", {"memories": []})])
    with bedrock_fake(Stream(["Nothing on file."])) as (fake, server):
        model = bedrock(server.url)
        events = list(model.stream("sys", history, 300, tools=()))
        # The fake refuses, as Bedrock does, the same request without the toolConfig.
        request = model._request("sys", history, 300)
        del request["toolConfig"]
        with pytest.raises(Exception) as refused:
            model._client().converse_stream(**request)
    assert text_of(events) == "Nothing on file."
    assert [t["toolSpec"]["name"] for t in fake.requests[0]["toolConfig"]["tools"]] == ["recall"]
    assert "toolConfig field must be defined" in str(refused.value)


def test_bedrock_refuses_results_that_do_not_answer_the_calls(aws_keys) -> None:
    calls = [ToolCall("tooluse_1", "recall", {"query": "sister"}),
             ToolCall("tooluse_2", "remember", {"content": "Porto"})]
    with bedrock_fake() as (_, server):
        with pytest.raises(ModelError) as err:
            list(bedrock(server.url).stream("sys", follow_up(
                "", calls, [ToolResult("tooluse_1", {"memories": []})]), 300, TOOLS))
    assert "Expected toolResult blocks at messages.2.content" in err.value.message
    assert "tooluse_2" in err.value.message


def test_bedrock_throttled_mid_call_is_retried_since_nothing_was_handed_on(aws_keys) -> None:
    half = ToolUse("tooluse_1", "remember", ['{"content": ', '"Porto"}'])
    with bedrock_fake(Stream([], calls=[half], error_event=("throttlingException", "slow down"),
                             error_after_calls=0, error_mid_call=True),
                      Stream([], calls=[ToolUse("tooluse_9", "remember",
                                                ['{"content": "Porto"}'])])) as (fake, server):
        events = list(bedrock(server.url).stream("sys", ASK, 300, TOOLS))
    assert [c.id for c in calls_of(events)] == ["tooluse_9"]
    assert len(fake.requests) == 2 and fake.requests[1] == fake.requests[0]


def test_bedrock_throttled_after_a_whole_call_is_not_retried(aws_keys) -> None:
    calls = [ToolUse("tooluse_1", "remember", ['{"content": "Porto"}']),
             ToolUse("tooluse_2", "recall", ['{"query": "sister"}'])]
    with bedrock_fake(Stream([], calls=calls, error_event=("throttlingException", "slow down"),
                             error_after_calls=1),
                      Stream(["never sent"])) as (fake, server):
        got: list[ReplyEvent] = []
        with pytest.raises(ModelError) as err:
            for e in bedrock(server.url).stream("sys", ASK, 300, TOOLS):
                got.append(e)
    assert [c.id for c in calls_of(got)] == ["tooluse_1"]
    assert "throttling" in err.value.message and len(fake.requests) == 1


def test_bedrock_call_cut_by_the_token_limit_says_so(aws_keys) -> None:
    cut = ToolUse("tooluse_1", "remember", ['{"content": "The user moved to Por'])
    with bedrock_fake(Stream([], calls=[cut], stop_reason="max_tokens",
                             unclosed_calls=True)) as (_, server):
        events = list(bedrock(server.url).stream("sys", ASK, 20, TOOLS))
    (call,) = calls_of(events)
    assert call.arguments is None and "token limit" in call.error
    assert events[-1].stop_reason == "max_tokens"


def test_bedrock_stream_cut_mid_call_is_an_error_and_hands_on_no_call(aws_keys) -> None:
    call = ToolUse("tooluse_1", "remember", ['{"content": ', '"Porto"}'])
    with bedrock_fake(Stream(["Sure."], calls=[call], cut_after=3)) as (_, server):
        got: list[ReplyEvent] = []
        with pytest.raises(ModelError) as err:
            for e in bedrock(server.url).stream("sys", ASK, 300, TOOLS):
                got.append(e)
    assert text_of(got) == "Sure." and calls_of(got) == []
    assert "cut off" in err.value.message


def test_bedrock_tools_do_not_change_a_plain_request(aws_keys) -> None:
    with bedrock_fake(Stream(["hi"])) as (fake, server):
        list(bedrock(server.url).stream("sys", ASK, 10))
    assert "toolConfig" not in fake.requests[0]
    assert fake.requests[0]["messages"] == [{"role": "user", "content": [{"text": ASK[0].content}]}]


# ---------------------------------------------------------------------------- OpenAI


def openai(url: str) -> OpenAICompatModel:
    return OpenAICompatModel(url + "/v1", "qwen2.5", sleep=lambda s: None)


def test_openai_sends_tools_and_assembles_a_call_from_split_deltas() -> None:
    chunks = split_call(0, "call_abc", "remember",
                        ['{"con', 'tent": "The user', ' moved to Porto"', "}"])
    with openai_fake(Reply([], tool_chunks=chunks, usage=(380, 25))) as (fake, server):
        events = list(openai(server.url).stream("sys", ASK, 300, TOOLS))
    assert calls_of(events) == [ToolCall("call_abc", "remember",
                                         {"content": "The user moved to Porto"})]
    assert events[-1].stop_reason == "tool_use"
    assert (events[-1].usage.input_tokens, events[-1].usage.output_tokens) == (380, 25)
    assert fake.chat_calls[0]["tools"] == [
        {"type": "function", "function": {"name": "remember",
                                          "description": "Store one fact about the user.",
                                          "parameters": REMEMBER.input_schema}},
        {"type": "function", "function": {"name": "recall",
                                          "description": "Search the user's memories.",
                                          "parameters": RECALL.input_schema}}]


def test_openai_text_then_two_calls() -> None:
    chunks = (split_call(0, "call_1", "remember", ['{"content": ', '"Porto"}'])
              + split_call(1, "call_2", "recall", ['{"query": "sister",', ' "k": 2}']))
    with openai_fake(Reply(["Noted. ", "Checking."], tool_chunks=chunks)) as (_, server):
        events = list(openai(server.url).stream("sys", ASK, 300, TOOLS))
    kinds = ["text" if e.text else "call" if e.tool_call else "end" for e in events]
    assert kinds == ["text", "text", "call", "call", "end"]
    assert [(c.id, c.name, c.arguments) for c in calls_of(events)] == [
        ("call_1", "remember", {"content": "Porto"}),
        ("call_2", "recall", {"query": "sister", "k": 2})]


def test_openai_calls_whose_deltas_interleave_by_index() -> None:
    a = split_call(0, "call_1", "remember", ['{"content": ', '"Porto"}'])
    b = split_call(1, "call_2", "recall", ['{"query": ', '"sister"}'])
    chunks = [a[0], b[0], a[1], b[1], a[2], b[2]]
    with openai_fake(Reply([], tool_chunks=chunks)) as (_, server):
        calls = calls_of(list(openai(server.url).stream("sys", ASK, 300, TOOLS)))
    assert [(c.id, c.arguments) for c in calls] == [("call_1", {"content": "Porto"}),
                                                    ("call_2", {"query": "sister"})]


def test_openai_whole_calls_in_one_delta_without_index_and_arguments_as_objects() -> None:
    # Ollama's shape: each call complete in one delta; arguments an object, not a string.
    chunks = [[{"id": "call_1", "function": {"name": "remember",
                                             "arguments": {"content": "Porto"}}},
               {"id": "call_2", "function": {"name": "recall",
                                             "arguments": {"query": "sister"}}}]]
    with openai_fake(Reply([], tool_chunks=chunks, finish_reason="stop")) as (_, server):
        events = list(openai(server.url).stream("sys", ASK, 300, TOOLS))
    assert [(c.id, c.name, c.arguments) for c in calls_of(events)] == [
        ("call_1", "remember", {"content": "Porto"}), ("call_2", "recall", {"query": "sister"})]
    assert events[-1].stop_reason == "tool_use"  # "stop" with calls made: they await results


def test_openai_parallel_calls_that_all_say_index_0() -> None:
    chunks = [[{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "remember", "arguments": '{"content": "Porto"}'}}],
              [{"index": 0, "id": "call_2", "type": "function",
                "function": {"name": "recall", "arguments": '{"query": "sister"}'}}]]
    with openai_fake(Reply([], tool_chunks=chunks)) as (_, server):
        calls = calls_of(list(openai(server.url).stream("sys", ASK, 300, TOOLS)))
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_1", "remember", {"content": "Porto"}), ("call_2", "recall", {"query": "sister"})]


def test_openai_ids_and_names_repeated_or_changed_on_every_delta_stay_one_call() -> None:
    repeated = [[{"index": 0, "id": "call_1", "type": "function",
                  "function": {"name": "remember", "arguments": piece}}]
                for piece in ['{"content": ', '"Porto"}']]
    changing = [[{"index": 0, "id": "call_7", "function": {"name": "recall", "arguments": ""}}],
                [{"index": 0, "id": "other_1", "function": {"arguments": '{"query": '}}],
                [{"index": 0, "id": "other_2", "function": {"arguments": '"sister"}'}}]]
    with openai_fake(Reply([], tool_chunks=repeated), Reply([], tool_chunks=changing)) as (
            _, server):
        model = openai(server.url)
        first = calls_of(list(model.stream("sys", ASK, 300, TOOLS)))
        second = calls_of(list(model.stream("sys", ASK, 300, TOOLS)))
    assert first == [ToolCall("call_1", "remember", {"content": "Porto"})]
    assert second == [ToolCall("call_7", "recall", {"query": "sister"})]


def test_openai_call_without_an_id_gets_one_that_the_follow_up_uses() -> None:
    chunks = [[{"index": 0, "function": {"name": "recall", "arguments": '{"query": "x"}'}}]]
    with openai_fake(Reply([], tool_chunks=chunks), Reply(["none found"])) as (fake, server):
        model = openai(server.url)
        (call,) = calls_of(list(model.stream("sys", ASK, 300, TOOLS)))
        events = list(model.stream("sys", follow_up("", [call], [
            ToolResult(call.id, {"memories": []})]), 300, TOOLS))
    assert call.id.startswith("call_") and len(call.id) > 8
    assert text_of(events) == "none found"
    assert fake.chat_calls[1]["messages"][3]["tool_call_id"] == call.id


@pytest.mark.parametrize(("chunks", "words"), [
    (split_call(0, "c", "remember", ['{"content": "Porto",', ' "category":']), "not valid JSON"),
    (split_call(0, "c", "remember", ['{"content": 1}', '{"content": 1}']), "not valid JSON"),
    (split_call(0, "c", "remember", ["[1, 2]"]), "a list, not a JSON object"),
    ([[{"index": 0, "id": "c", "function": {"name": "remember", "arguments": ["Porto"]}}]],
     "a list, not a JSON object"),
    ([[{"index": 0, "id": "c", "function": {"name": "remember", "arguments": '{"a": '}}],
      [{"index": 0, "function": {"arguments": {"a": 1}}}]], "both as text and as an object"),
])
def test_openai_malformed_arguments_give_a_call_with_an_error(chunks, words) -> None:
    with openai_fake(Reply([], tool_chunks=chunks)) as (_, server):
        events = list(openai(server.url).stream("sys", ASK, 300, TOOLS))
    (call,) = calls_of(events)
    assert call.id == "c" and call.name == "remember"
    assert call.arguments is None and words in call.error and "\n" not in call.error


def test_openai_call_that_names_no_tool_is_an_error_call() -> None:
    with openai_fake(Reply([], tool_chunks=[[{"index": 0, "id": "c", "type": "function"}]])) as (
            _, server):
        (call,) = calls_of(list(openai(server.url).stream("sys", ASK, 300, TOOLS)))
    assert call.name == "" and call.arguments is None and "named no tool" in call.error


def test_openai_call_cut_by_the_token_limit_says_so() -> None:
    chunks = split_call(0, "c", "remember", ['{"content": "The user moved to Por'])
    with openai_fake(Reply([], tool_chunks=chunks, finish_reason="length")) as (_, server):
        events = list(openai(server.url).stream("sys", ASK, 20, TOOLS))
    (call,) = calls_of(events)
    assert call.arguments is None and "token limit" in call.error
    assert events[-1].stop_reason == "length"


def test_openai_stream_cut_mid_call_is_an_error_and_hands_on_no_call() -> None:
    chunks = split_call(0, "c", "remember", ['{"content": ', '"Porto"}'])
    with openai_fake(Reply(["Sure."], tool_chunks=chunks, cut_after=3)) as (_, server):
        got: list[ReplyEvent] = []
        with pytest.raises(ModelError) as err:
            for e in openai(server.url).stream("sys", ASK, 300, TOOLS):
                got.append(e)
    assert text_of(got) == "Sure." and calls_of(got) == []
    assert "mid-reply" in err.value.message


def test_openai_follow_up_carries_tool_calls_and_tool_messages() -> None:
    calls = [ToolCall("call_1", "remember", {"content": "Moved to Pörto"}),
             ToolCall("call_2", "recall", None, "not JSON")]
    results = [ToolResult("call_1", {"stored": "m3"}),
               ToolResult("call_2", {"reason": "arguments were not JSON"}, is_error=True)]
    with openai_fake(Reply(["Alice is your sister."], usage=(500, 6))) as (fake, server):
        events = list(openai(server.url).stream("sys", [
            *follow_up("", calls, results), ChatMessage("assistant", "Alice is your sister."),
            ChatMessage("user", "Thanks")], 300, TOOLS))
    assert text_of(events) == "Alice is your sister." and events[-1].stop_reason == "stop"
    messages = fake.chat_calls[0]["messages"]
    assert messages[2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "remember", "arguments": '{"content": "Moved to Pörto"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "recall", "arguments": "{}"}}]}
    assert messages[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"stored": "m3"}'}
    assert messages[4]["role"] == "tool" and messages[4]["tool_call_id"] == "call_2"
    assert json.loads(messages[4]["content"]) == {"error": {"reason": "arguments were not JSON"}}
    assert messages[5:] == [{"role": "assistant", "content": "Alice is your sister."},
                            {"role": "user", "content": "Thanks"}]
    assert fake.chat_calls[0]["tools"][1]["function"]["name"] == "recall"


def test_openai_assistant_text_with_calls_and_results_with_text() -> None:
    calls = [ToolCall("call_1", "recall", {"query": "sister"})]
    messages = [*ASK, ChatMessage("assistant", "Let me check.", tool_calls=tuple(calls)),
                ChatMessage("user", "and my brother?",
                            tool_results=(ToolResult("call_1", {"memories": []}),))]
    with openai_fake(Reply(["Nothing on either."])) as (fake, server):
        list(openai(server.url).stream("sys", messages, 300, TOOLS))
    sent = fake.chat_calls[0]["messages"]
    assert sent[2]["content"] == "Let me check." and sent[2]["tool_calls"][0]["id"] == "call_1"
    assert sent[3]["role"] == "tool" and sent[4] == {"role": "user", "content": "and my brother?"}


def test_openai_fake_refuses_unanswered_calls_as_openai_does() -> None:
    calls = [ToolCall("call_1", "recall", {"query": "a"}), ToolCall("call_2", "recall",
                                                                    {"query": "b"})]
    with openai_fake(Reply(["never"])) as (fake, server):
        with pytest.raises(ModelError) as err:
            list(openai(server.url).stream("sys", follow_up(
                "", calls, [ToolResult("call_1", {})]), 300, TOOLS))
    assert "tool_call_ids did not have response messages: call_2" in err.value.message
    assert fake.script  # refused before the model ran


def test_openai_tools_do_not_change_a_plain_request() -> None:
    with openai_fake(Reply(["hi"])) as (fake, server):
        list(openai(server.url).stream("sys", ASK, 10))
    assert "tools" not in fake.chat_calls[0]
    assert fake.chat_calls[0]["messages"] == [{"role": "system", "content": "sys"},
                                              {"role": "user", "content": ASK[0].content}]


# ---------------------------------------------------------------------------- the prompt


def test_alternate_keeps_tool_calls_and_results_whole_and_in_order() -> None:
    call = ToolCall("t1", "recall", {"query": "x"})
    result = ToolResult("t1", {"memories": []})
    history = [ChatMessage("user", "a"), ChatMessage("user", "b"),
               ChatMessage("assistant", "checking", tool_calls=(call,)),
               ChatMessage("user", "", tool_results=(result,)),
               ChatMessage("user", "and then?"),
               ChatMessage("assistant", "first"), ChatMessage("assistant", "second",
                                                              tool_calls=(call,)),
               ChatMessage("assistant", "after the call")]
    out = _alternate(history)
    assert out[0] == ChatMessage("user", "a\n\nb")
    assert out[1] == ChatMessage("assistant", "checking", tool_calls=(call,))
    # results then text read in order, so they merge; the results stay
    assert out[2] == ChatMessage("user", "and then?", tool_results=(result,))
    # text before a call merges into it; text after a call never does
    assert out[3] == ChatMessage("assistant", "first\n\nsecond", tool_calls=(call,))
    assert out[4] == ChatMessage("assistant", "after the call")
    assert len(out) == 5


def test_alternate_drops_results_whose_calls_were_trimmed_away() -> None:
    result = ToolResult("t1", {"memories": []})
    trimmed = [ChatMessage("user", "", tool_results=(result,)),
               ChatMessage("assistant", "Nothing found."), ChatMessage("user", "ok")]
    assert _alternate(trimmed) == [ChatMessage("user", "ok")]
    with_text = [ChatMessage("assistant", "x", tool_calls=(ToolCall("t1", "recall", {}),)),
                 ChatMessage("user", "and?", tool_results=(result,)),
                 ChatMessage("assistant", "None.")]
    assert _alternate(with_text) == [ChatMessage("user", "and?"),
                                     ChatMessage("assistant", "None.")]
