"""The account's first call to the chat model, made by `pai deploy` as the deployer.

A third-party model (Claude) is enabled for an account by its first call: Bedrock then
subscribes the account through AWS Marketplace, which needs aws-marketplace:Subscribe,
Unsubscribe and ViewSubscriptions on the caller, and Anthropic's models also need a one-time
use-case form (https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html). The
functions' role has no Marketplace permissions, and should not: so the deployer, who
usually has them, makes that first call, and if it is refused says in one line what to do,
instead of the first /chat failing with AccessDenied."""

from __future__ import annotations

from pai_cli.backends.aws.session import Aws

MODEL_ACCESS_PAGE = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html"


def first_call(aws: Aws, model_id: str) -> str | None:
    """None when the model answered a one-token Converse; else what to do, in one line."""
    from botocore.exceptions import BotoCoreError, ClientError

    runtime = aws.client("bedrock-runtime")
    try:
        runtime.converse(modelId=model_id,
                         messages=[{"role": "user", "content": [{"text": "ping"}]}],
                         inferenceConfig={"maxTokens": 1})
    except ClientError as e:
        err = e.response.get("Error", {})
        return explain(str(err.get("Code", "")), str(err.get("Message", "")), model_id,
                       aws.region)
    except BotoCoreError as e:
        return f"Could not reach Bedrock in {aws.region} to check {model_id} ({e}): run " \
               "`pai models --check --backend aws` once it is reachable."
    return None


def explain(code: str, message: str, model_id: str, region: str) -> str:
    low = message.lower()
    if "use case" in low or "use-case" in low:
        return (f"Anthropic asks for a one-time use-case form before {model_id} can be used: "
                "submit it in the Bedrock console (Model catalog, the model's page), wait a "
                "few minutes, then run `pai deploy` again.")
    if "aws-marketplace" in low or "marketplace" in low:
        return (f"Bedrock could not subscribe this account to {model_id}: the identity running "
                "`pai deploy` needs aws-marketplace:Subscribe, aws-marketplace:Unsubscribe and "
                f"aws-marketplace:ViewSubscriptions for that first call ({MODEL_ACCESS_PAGE}); "
                "grant them and run `pai deploy` again.")
    if code == "AccessDeniedException":
        return (f"Bedrock denied {model_id} to the deploying identity ({message.strip()}): "
                "allow it bedrock:InvokeModel on the model, or enable the model for the "
                f"account ({MODEL_ACCESS_PAGE}), then run `pai deploy` again.")
    if code in ("ResourceNotFoundException", "ValidationException"):
        return (f"Bedrock does not offer {model_id} in {region} ({message.strip()}): pass "
                "--model with a model or inference profile id offered there.")
    return (f"Could not check {model_id} ({code}: {message.strip()}): run "
            "`pai models --check --backend aws` later.")
