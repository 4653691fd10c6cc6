"""Each stack's parameters: the chat model's, what each template declares, and the names
the compute and monitoring stacks take from the other stacks' outputs (parameters, not
imports, so no stack pins an export another change must move)."""

from __future__ import annotations

from pai_cli.deploy.stacks import template_parameters

GEO_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")
"""Inference profile ids are a geography prefix and a foundation model id (Bedrock's
geographic and global cross-Region inference profiles)."""


def model_parameters(model: str, region: str) -> dict[str, str]:
    """The chat model the functions call and the foundation model IAM must allow with it: an
    inference profile's without its geography prefix, else the model itself."""
    from pai_cli.backends.llm.bedrock import default_model

    chat = model or default_model(region)
    geo, _, foundation = chat.partition(".")
    return {"ChatModelId": chat, "ChatFoundationModelId": foundation if geo in GEO_PREFIXES else chat}


def stack_parameters(stack: str, values: dict[str, str]) -> dict[str, str]:
    """Only what the stack's template declares: each template takes its own subset."""
    declared = template_parameters(stack)
    return {k: v for k, v in values.items() if k in declared}


def vector_names(store: str, deployed: dict[str, str]) -> dict[str, str]:
    """The compute stack's vector parameters, from the ai stack's outputs."""
    opensearch = store == "opensearch"
    return {"VectorBucketName": "" if opensearch else deployed.get("VectorBucketName", ""),
            "VectorIndexName": deployed.get("VectorIndexName")
            or ("pai-memories" if opensearch else "memories"),
            "VectorSearchEndpoint": deployed.get("CollectionEndpoint", "") if opensearch else ""}


_MONITORED = ("AgentFunctionName", "MemoryFunctionName", "SearchFunctionName",
              "MemoryWriterFunctionName", "ApiId", "ConversationsTableName", "MemoriesTableName")


def monitored_names(deployed: dict[str, str]) -> dict[str, str] | None:
    """The monitoring stack's parameters: what it watches, from the other stacks' outputs
    (parameters, not imports, so it never pins an export another change must move)."""
    names = {k: deployed.get(k, "") for k in _MONITORED}
    names["MemoryQueueName"] = deployed.get("MemoryQueueUrl", "").rstrip("/").rsplit("/", 1)[-1]
    names["DeadLetterQueueName"] = (
        deployed.get("DeadLetterQueueUrl", "").rstrip("/").rsplit("/", 1)[-1])
    return names if all(names.values()) else None


def table_names(env: str, deployed: dict[str, str]) -> dict[str, str]:
    """The compute stack's table parameters, from the storage stack's outputs (the tables in
    use, which a restore changes): parameters, because an export another stack imports
    cannot change."""
    return {"ConversationsTableName": deployed.get("ConversationsTableName")
            or f"pai-conversations-{env}",
            "MemoriesTableName": deployed.get("MemoriesTableName") or f"pai-memories-{env}"}


def vector_names_known(values: dict[str, str]) -> bool:
    if values["VectorStore"] == "opensearch":
        return bool(values["VectorSearchEndpoint"])
    return bool(values["VectorBucketName"])
