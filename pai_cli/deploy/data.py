"""Deleting what the stacks keep on purpose (`pai destroy --delete-data`), and emptying
buckets CloudFormation cannot delete while they hold objects."""

from __future__ import annotations

from typing import Any

from pai_cli.backends.aws.names import reference_names
from pai_cli.backends.aws.session import Aws, call


def empty_bucket(aws: Aws, bucket: str) -> int:
    """Every object version and delete marker; returns how many were deleted."""
    from botocore.exceptions import ClientError

    s3 = aws.client("s3")
    paginator = s3.get_paginator("list_object_versions")
    n = 0
    try:
        pages = list(paginator.paginate(Bucket=bucket))
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return 0
        raise
    for page in pages:
        doomed: list[dict[str, Any]] = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(doomed), 1000):
            chunk = doomed[start:start + 1000]
            out = call(lambda c=chunk: s3.delete_objects(Bucket=bucket,
                                                         Delete={"Objects": c, "Quiet": True}),
                       f"S3 bucket {bucket}")
            if out.get("Errors"):
                from pai_cli.errors import BackendError

                raise BackendError(f"S3 would not delete {len(out['Errors'])} object version(s) "
                                   f"in {bucket}: {out['Errors'][0].get('Message', '')}")
            n += len(chunk)
    return n


def delete_bucket(aws: Aws, bucket: str) -> None:
    from botocore.exceptions import ClientError

    empty_bucket(aws, bucket)
    try:
        aws.client("s3").delete_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise


def delete_table(aws: Aws, table: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        aws.client("dynamodb").delete_table(TableName=table)
        return True
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise


def schedule_key_deletion(aws: Aws, key_id: str, days: int = 30) -> str | None:
    """KMS never deletes at once: the key is disabled now and gone after `days` (7-30)."""
    from botocore.exceptions import ClientError

    kms = aws.client("kms")
    try:
        out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NotFoundException",
                                                       "KMSInvalidStateException"):
            return None
        raise
    return str(out.get("DeletionDate"))


def tagged_keys(aws: Aws, env: str) -> list[dict[str, Any]]:
    """The KMS keys tagged pai:env=env (the stacks' tags reach the key), newest first, with
    their metadata (KeyState, KeyManager). Keys we may not read are not ours."""
    from botocore.exceptions import ClientError

    kms = aws.client("kms")
    found = []
    for page in call(lambda: list(kms.get_paginator("list_keys").paginate()), "KMS", env):
        for key in page["Keys"]:
            try:
                tags = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
            except ClientError:  # AWS managed keys and keys of others
                continue
            if {"TagKey": "pai:env", "TagValue": env} in tags:
                found.append(kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"])
    return sorted(found, key=lambda m: str(m.get("CreationDate", "")), reverse=True)


def kept_key(aws: Aws, env: str) -> str | None:
    """The key a plain destroy of env left, if it can still be used: every record stored
    before is wrapped by it, so a new deploy of env must use it, not make another."""
    for meta in tagged_keys(aws, env):
        if meta.get("KeyState") == "Enabled" and meta.get("KeyManager", "CUSTOMER") == "CUSTOMER":
            return str(meta["Arn"])
    return None


def kept_resources(aws: Aws, env: str) -> dict[str, str]:
    """What a plain destroy left behind, found by the reference names (the stacks, and so
    their outputs, may be gone already); the key by its tag, since its alias went with them.
    Keyed like the stack outputs that name them."""
    names = reference_names(env, aws.account_id())
    found = {"ConversationsTableName": names.conversations_table,
             "MemoriesTableName": names.memories_table,
             "MemoryBucketName": names.memory_bucket}
    for meta in tagged_keys(aws, env):
        if meta.get("KeyState") != "PendingDeletion":
            found["KeyArn"] = str(meta["Arn"])
            break
    return found
