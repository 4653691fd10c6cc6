"""`pai restore --list`: the AWS Backup recovery points of an env's tables.

    recovery_points(env, aws) -> list[RecoveryPoint]"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.restore_plan import iso, outputs_of
from pai_cli.deploy.stacks import Deployer, check_env, stack_name
from pai_cli.errors import ConfigError


@dataclass(frozen=True)
class RecoveryPoint:
    arn: str
    table: str
    created: str
    status: str


def recovery_points(env: str, aws: Aws, deployer: Deployer | None = None) -> list[RecoveryPoint]:
    """The vault's recovery points of this env's tables, newest first."""
    env = check_env(env)
    stacks = deployer or Deployer(aws, env)
    storage = call(lambda: stacks.describe(stack_name("storage", env)), "CloudFormation", env)
    vault = outputs_of(storage).get("BackupVaultName", "")
    if not vault:
        raise ConfigError(f"No backup vault for {env!r}: run `pai deploy --env {env}`.")
    backup = aws.client("backup")
    found: list[RecoveryPoint] = []
    token = None
    while True:
        more = {"NextToken": token} if token else {}
        page = call(lambda m=more: backup.list_recovery_points_by_backup_vault(
            BackupVaultName=vault, ByResourceType="DynamoDB", **m), f"backup vault {vault}", env)
        for p in page.get("RecoveryPoints", []):
            created = p.get("CreationDate")
            found.append(RecoveryPoint(
                p["RecoveryPointArn"], str(p.get("ResourceArn", "")).rpartition(":table/")[2],
                iso(created.timestamp()) if isinstance(created, datetime) else "",
                p.get("Status", "")))
        token = page.get("NextToken")
        if not token:
            break
    return sorted(found, key=lambda p: p.created, reverse=True)
