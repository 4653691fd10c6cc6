"""Amazon Bedrock through the Converse / ConverseStream APIs (boto3 `bedrock-runtime`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pai_cli.backends.llm.tool_args import arguments_from_text
from pai_cli.errors import ModelConfigError, ModelError, PaiError, PromptTooLong
from pai_cli.records import ChatMessage, ReplyEvent, ToolCall, ToolSpec, Usage

DEFAULT_MODEL = "anthropic.claude-haiku-4-5-20251001-v1:0"
"""Current Claude models are called through a cross-region inference profile: the id gets
the geography of the region as a prefix (us., eu., apac.)."""
RETRYABLE = {"ThrottlingException", "ServiceUnavailableException", "ModelNotReadyException",
             "InternalServerException", "throttlingException", "serviceUnavailableException",
             "internalServerException", "modelStreamErrorException"}


def default_model(region: str | None) -> str:
    geo = {"us": "us", "ca": "us", "eu": "eu", "ap": "apac"}.get((region or "us")[:2], "us")
    return f"{geo}.{DEFAULT_MODEL}"


class BedrockModel:
    provider = "bedrock"

    def __init__(
        self,
        model_id: str,
        region: str,
        profile: str | None = None,
        endpoint_url: str | None = None,
        read_timeout: float = 60.0,
        stream_retries: int = 3,
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model_id = model_id
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.read_timeout = read_timeout
        self.stream_retries = stream_retries
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._client_obj: Any = None

    def _client(self) -> Any:
        if self._client_obj is None:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import ProfileNotFound

            try:
                session = boto3.Session(profile_name=self.profile, region_name=self.region)
            except ProfileNotFound:
                raise ModelConfigError(
                    f"AWS profile {self.profile!r} does not exist: check --profile / AWS_PROFILE."
                ) from None
            self._client_obj = session.client(
                "bedrock-runtime",
                endpoint_url=self.endpoint_url,
                config=Config(
                    retries={"mode": "adaptive", "max_attempts": self.max_attempts},
                    connect_timeout=5,
                    read_timeout=self.read_timeout,
                    user_agent_extra="pai-cli",
                ),
            )
        return self._client_obj

    def _request(self, system: str, messages: Sequence[ChatMessage], max_tokens: int,
                 tools: Sequence[ToolSpec] = ()) -> dict:
        request = {
            "modelId": self.model_id,
            "system": [{"text": system}],
            "messages": [{"role": m.role, "content": _content(m)} for m in messages],
            "inferenceConfig": {"maxTokens": max_tokens},
        }
        config = _tool_config(tools, messages)
        if config is not None:
            request["toolConfig"] = config
        return request

    def stream(
        self, system: str, messages: Sequence[ChatMessage], max_tokens: int,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ReplyEvent]:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )
        from urllib3.exceptions import ProtocolError
        from urllib3.exceptions import ReadTimeoutError as StreamReadTimeout

        request = self._request(system, messages, max_tokens, tools)
        for attempt in range(self.stream_retries + 1):
            # Text or a finished tool call is output: once any has been handed on, a retry
            # would show it twice (or run a tool twice). A half-streamed call is not output.
            sent = False
            try:
                response = self._client().converse_stream(**request)
                usage: Usage | None = None
                stop: str | None = None
                open_calls: dict[int, _PendingUse] = {}
                for event in response["stream"]:
                    if "contentBlockStart" in event:
                        block = event["contentBlockStart"]
                        use = (block.get("start") or {}).get("toolUse")
                        if use:
                            open_calls[block.get("contentBlockIndex", 0)] = _PendingUse(
                                str(use.get("toolUseId", "")), str(use.get("name", "")))
                    elif "contentBlockDelta" in event:
                        block = event["contentBlockDelta"]
                        delta = block.get("delta") or {}
                        piece = delta.get("text")
                        if piece:
                            sent = True
                            yield ReplyEvent(text=piece)
                        if "toolUse" in delta:
                            pending = open_calls.get(block.get("contentBlockIndex", 0))
                            if pending is None:
                                raise ModelError("Bedrock streamed tool input for a block it "
                                                 "never started: try again.")
                            pending.pieces.append(str(delta["toolUse"].get("input") or ""))
                    elif "contentBlockStop" in event:
                        pending = open_calls.pop(event["contentBlockStop"].get(
                            "contentBlockIndex", 0), None)
                        if pending is not None:
                            sent = True
                            yield ReplyEvent(tool_call=pending.call(truncated=False))
                    elif "messageStop" in event:
                        stop = event["messageStop"].get("stopReason")
                    elif "metadata" in event:
                        u = event["metadata"].get("usage", {})
                        usage = Usage(int(u.get("inputTokens", 0)), int(u.get("outputTokens", 0)))
                if open_calls:
                    if stop is None:
                        raise ModelError("The reply stream was cut off in the middle of a tool "
                                         "call; what arrived is kept.")
                    # The message ended without closing the block: its input is all there is.
                    for index in sorted(open_calls):
                        yield ReplyEvent(tool_call=open_calls[index].call(
                            truncated=stop == "max_tokens"))
                yield ReplyEvent(usage=usage, stop_reason=stop)
                return
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                # Throttling inside the stream (botocore already retried the request itself):
                # retry ourselves, but only while nothing has been handed on.
                if code in RETRYABLE and not sent and attempt < self.stream_retries:
                    self._sleep(min(0.5 * 2**attempt, 8.0))
                    continue
                raise self._translate(code, e.response.get("Error", {}).get("Message", "")) from None
            except NoCredentialsError:
                raise ModelConfigError(
                    "No AWS credentials found: run `aws configure` or `aws sso login`, or pass "
                    "--profile."
                ) from None
            except (EndpointConnectionError, ConnectTimeoutError):
                raise ModelError(
                    f"Cannot reach Bedrock in {self.region}: check the network and the region."
                ) from None
            except (ReadTimeoutError, StreamReadTimeout):
                raise ModelError(
                    f"Bedrock did not answer within {self.read_timeout:.0f} s: try again."
                ) from None
            except ProtocolError:
                # The event stream is read straight off the connection: a cut reaches us as
                # urllib3's error, not botocore's.
                raise ModelError(
                    "The reply stream was cut off before it ended; what arrived is kept."
                ) from None
            except BotoCoreError as e:
                raise ModelError(f"Calling Bedrock failed: {e}") from None

    def _translate(self, code: str, message: str) -> PaiError:
        model = f"{self.model_id} in {self.region}"
        low = message.lower()
        if code == "AccessDeniedException":
            return ModelConfigError(
                f"Bedrock denied access to {model}: enable the model under Bedrock > Model "
                "access, and allow bedrock:InvokeModelWithResponseStream for your identity."
            )
        if code in ("UnrecognizedClientException", "ExpiredTokenException",
                    "InvalidSignatureException", "ExpiredToken"):
            return ModelConfigError(
                "Your AWS credentials are invalid or expired: refresh them (`aws sso login` or "
                "`aws configure`)."
            )
        if code == "ResourceNotFoundException" or (
            code == "ValidationException" and ("model identifier" in low or "on-demand" in low
                                               or "inference profile" in low)):
            return ModelConfigError(
                f"Bedrock does not offer {model} this way ({message.strip()}): use an "
                "inference profile id such as us.anthropic.claude-... (set `model`)."
            )
        if code == "ValidationException" and ("too long" in low or "too many" in low
                                              or "context" in low or "max_tokens" in low):
            return PromptTooLong(
                f"The prompt is too long for {self.model_id}: shorten the message or lower "
                "context_tokens in the config."
            )
        if code in ("ThrottlingException", "throttlingException"):
            return ModelError(
                f"Bedrock is throttling {model} (retried with backoff): wait a minute, or ask "
                "for a higher quota in Service Quotas."
            )
        if code in ("ModelTimeoutException", "modelTimeoutException"):
            return ModelError(
                f"{self.model_id} timed out before finishing: try again, or ask for a shorter "
                "answer."
            )
        if code == "ValidationException":
            return ModelError(f"Bedrock rejected the request: {message.strip()}")
        return ModelError(f"Bedrock failed ({code}): {message.strip()} Try again.")

    def check(self) -> list[str]:
        """A one-token Converse call: proves credentials, region, model access."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            self._client().converse(**{**self._request("Reply with OK.", [
                ChatMessage("user", "ping")], 1)})
        except ClientError as e:
            err = e.response.get("Error", {})
            raise self._translate(err.get("Code", ""), err.get("Message", "")) from None
        except NoCredentialsError:
            raise ModelConfigError("No AWS credentials found: run `aws configure`.") from None
        except BotoCoreError as e:
            raise ModelError(f"Cannot reach Bedrock in {self.region}: {e}") from None
        return [self.model_id]


@dataclass
class _PendingUse:
    """A toolUse block being streamed: its input arrives as pieces of one JSON text."""

    id: str
    name: str
    pieces: list[str] = field(default_factory=list)

    def call(self, truncated: bool) -> ToolCall:
        arguments, error = arguments_from_text(self.name or "the tool", "".join(self.pieces),
                                               truncated)
        return ToolCall(self.id, self.name, arguments, error)


def _content(m: ChatMessage) -> list[dict[str, Any]]:
    """Converse content blocks. Tool results come first in their message and tool uses
    after the text (Anthropic's order, which Converse passes on): the text of a message that
    carries only tool blocks is left out, as an empty text block is refused."""
    blocks: list[dict[str, Any]] = []
    for r in m.tool_results:
        result: dict[str, Any] = {"toolUseId": r.call_id, "content": [{"json": r.content}]}
        if r.is_error:
            result["status"] = "error"
        blocks.append({"toolResult": result})
    if m.content or not (m.tool_results or m.tool_calls):
        blocks.append({"text": m.content})
    for c in m.tool_calls:
        # A call whose arguments were unusable is echoed with none: the error result that
        # answers it tells the model why.
        blocks.append({"toolUse": {"toolUseId": c.id, "name": c.name,
                                   "input": c.arguments if c.arguments is not None else {}}})
    return blocks


def _spec(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "inputSchema": {"json": schema}}
    if description:  # the model's NonEmptyString: an empty one fails validation
        spec["description"] = description
    return {"toolSpec": spec}


def _tool_config(tools: Sequence[ToolSpec], messages: Sequence[ChatMessage]) -> dict | None:
    """toolConfig for the request. Bedrock refuses a request whose messages hold toolUse or
    toolResult blocks without one ("The toolConfig field must be defined when using toolUse
    and toolResult content blocks."), so when no tools are offered but the history has tool
    blocks, the tools it names are declared, marked as not available now."""
    if tools:
        return {"tools": [_spec(t.name, t.description, t.input_schema) for t in tools]}
    named = list(dict.fromkeys(c.name for m in messages for c in m.tool_calls if c.name))
    if not named:
        return None
    return {"tools": [_spec(n, "Not available in this request: do not call it.",
                            {"type": "object", "properties": {}}) for n in named]}
