"""The names of the AWS resources for one environment: stack outputs where the stacks
exist, the reference's names otherwise, config overrides above both."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from pai_cli.backends.aws.session import Aws


@dataclass(frozen=True)
class AwsNames:
    env: str
    conversations_table: str
    memories_table: str
    memory_bucket: str
    key_alias: str
    vector_bucket: str
    vector_index: str = "memories"
    collection: str = ""
    opensearch_endpoint: str = ""
    key_arn: str = ""
    """The key's ARN, which every PutObject names (the bucket policy refuses any other);
    empty: looked up from the alias once, when a memory body is first written."""


# Output key of a pai stack -> field above. The deploy issue's templates export these.
OUTPUTS = {
    "ConversationsTableName": "conversations_table",
    "MemoriesTableName": "memories_table",
    "MemoryBucketName": "memory_bucket",
    "KeyAlias": "key_alias",
    "KeyArn": "key_arn",
    "VectorBucketName": "vector_bucket",
    "VectorIndexName": "vector_index",
    "CollectionName": "collection",
    "CollectionEndpoint": "opensearch_endpoint",
}
STACKS = ("security", "storage", "ai", "compute", "monitoring")
"""Every stack of an environment, in deploy order: each imports the exports of those before
it. The one list; `pai deploy`, `status` and `destroy` (reversed) take theirs from here."""
HOME_STACKS = STACKS[:3]
"""The stacks whose outputs name the home's resources (compute's are the API's and the
functions'): an AWS home command reads only these, one DescribeStacks each."""


def stack_name(stack: str, env: str) -> str:
    return f"pai-{stack}-{env}"


def reference_names(env: str, account: str) -> AwsNames:
    return AwsNames(
        env=env,
        conversations_table=f"pai-conversations-{env}",
        memories_table=f"pai-memories-{env}",
        memory_bucket=f"pai-long-term-memory-{account}-{env}",
        key_alias=f"alias/pai-encryption-{env}",
        vector_bucket=f"pai-vectors-{account}-{env}",
        collection=f"pai-vectors-{env}",
    )


def stack_outputs(aws: Aws, env: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    found: dict[str, str] = {}
    cfn = aws.client("cloudformation")
    for stack in HOME_STACKS:
        try:
            described = cfn.describe_stacks(StackName=stack_name(stack, env))["Stacks"]
        except ClientError as e:
            if "does not exist" in str(e):
                continue
            raise
        for out in described[0].get("Outputs", []):
            if out["OutputKey"] in OUTPUTS:
                found[OUTPUTS[out["OutputKey"]]] = out["OutputValue"]
    return found


REQUIRED = ("conversations_table", "memories_table", "memory_bucket", "key_alias")


def resolve_names(aws: Aws, env: str, overrides: dict[str, Any],
                  vector_store: str = "s3vectors", in_lambda: bool = False) -> AwsNames:
    """Names from overrides, else the stacks' outputs, else the reference's. in_lambda: a
    function must be given every name (it may not call CloudFormation)."""
    overrides = dict(overrides)
    account = overrides.pop("account", None)
    unknown = set(overrides) - {f.name for f in fields(AwsNames)}
    if unknown:
        from pai_cli.errors import ConfigError

        raise ConfigError(f"Unknown aws_names key(s) {', '.join(sorted(unknown))} in config.toml.")
    required = (*REQUIRED, "opensearch_endpoint" if vector_store == "opensearch"
                else "vector_bucket")
    if all(overrides.get(k) for k in required):
        # Everything named (the Lambda functions get every name from the stack): no STS or
        # CloudFormation round trip, and no permission for them needed.
        return replace(reference_names(env, account or "-"), **overrides)
    if in_lambda:
        from pai_cli.errors import ConfigError

        missing = [k for k in required if not overrides.get(k)]
        raise ConfigError(f"The function's environment names no {', '.join(missing)}: "
                          "redeploy the compute stack.")
    names = reference_names(env, account or aws.account_id())
    return replace(names, **{**stack_outputs(aws, env), **overrides})
