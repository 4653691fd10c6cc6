"""The plan of a `pai restore`: which table is restored from what into which new table,
everything checked before anything is changed.

    plan_restore(options, aws) -> RestorePlan

A point in time must lie inside each table's restorable window (DescribeContinuousBackups);
a recovery point must be this env's, complete, one per table (DescribeRecoveryPoint). A
target table that exists already is used as it is only if it is a restore of the source
(its RestoreSummary says so): a run that stopped half way carries on."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.stacks import Deployer, check_env, stack_name
from pai_cli.errors import BackendError, ConfigError, InputError

KINDS = ("conversations", "memories")
PARAMETER = {"conversations": "ConversationsTableName", "memories": "MemoriesTableName"}
SUFFIX = ".restore-"
"""Restored tables are named <the stack's own table>.restore-<UTC time>: a "." never occurs
in an env name, so the Lambda role's grant on pai-memories-<env>.restore-* matches no other
environment's tables (security.yaml), and the storage stack's AllowedPattern only these."""
STAMP = "%Y%m%d-%H%M%S"
LATEST = "latest"


@dataclass(frozen=True)
class RestoreOptions:
    env: str
    to_time: float | str | None = None
    """Epoch seconds to restore to, or "latest" (the latest restorable time)."""
    backups: tuple[str, ...] = ()
    """AWS Backup recovery point ARNs, one per table to restore (the other stays)."""
    dry_run: bool = False


@dataclass(frozen=True)
class TablePlan:
    kind: str
    source: str
    """The table in use now (left as it is)."""
    target: str
    method: str
    """point-in-time or backup."""
    point: str
    """The time restored to (ISO 8601, or "latest"), or the recovery point's ARN."""
    at: float = 0.0
    """The time restored to, to the microsecond (epoch seconds; a backup's creation)."""
    resume: bool = False
    """The target exists already, restored from the source by an earlier run that stopped:
    it is used as it is (waited for if still being created), not restored again."""


@dataclass(frozen=True)
class RestorePlan:
    env: str
    region: str
    tables: list[TablePlan]
    kept: list[str]
    """Tables in use that this restore leaves in use (a --backup for the other only)."""
    key_arn: str
    vector_store: str
    backup_role: str = ""

    def lines(self) -> list[str]:
        out = [f"Restore plan for pai env {self.env!r} in {self.region}:"]
        n = 1
        for t in self.tables:
            how = (f"to {t.point}" if t.method == "point-in-time" else f"from {t.point}")
            if t.resume:
                out.append(f"  {n}. use {t.target}, restored from {t.source} {how} by an "
                           "earlier run that stopped")
            else:
                out.append(f"  {n}. restore {t.source} {how} into a new table {t.target} "
                           "(encrypted with the pai key; the current table is not changed)")
            n += 1
        out.append(f"  {n}. wait for the new table(s), then turn on their PITR and TTL")
        out.append(f"  {n + 1}. update {stack_name('compute', self.env)} and "
                   f"{stack_name('storage', self.env)}: their table parameters name the "
                   "restored table(s)")
        out.append(f"  {n + 2}. rebuild the {self.vector_store} index of every user from "
                   "the restored memories (DynamoDB + S3)")
        out.append(f"  {n + 3}. verify: items in the old and restored tables, vectors "
                   "against memories")
        for kept in self.kept:
            out.append(f"  kept in use as it is: {kept}")
        out.append("  Writes between the restore point and step 3 land in the old tables, "
                   "which stay (and stay billed) until you delete them.")
        return out


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parameters_of(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}


def outputs_of(stack: dict[str, Any] | None) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}


def own_table(kind: str, env: str) -> str:
    return f"pai-{kind}-{env}"


def _described(aws: Aws, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(aws.client("dynamodb").describe_table(TableName=name)["Table"])
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise BackendError(f"DynamoDB refused DescribeTable on {name}: "
                           f"{e.response['Error'].get('Message', '')}") from None


def _restored_from(table: dict[str, Any], t: TablePlan) -> bool:
    """The table is a restore of t's source (DynamoDB's RestoreSummary says so): a restore
    that stopped half way (Ctrl-C, a failed stack update) left it, and a run to the same
    moment carries on with it instead of restoring again."""
    summary = table.get("RestoreSummary") or {}
    backup = str(summary.get("SourceBackupArn", ""))
    return (str(summary.get("SourceTableArn", "")).endswith(f":table/{t.source}")
            or f":table/{t.source}/backup/" in backup or (bool(backup) and backup == t.point))


def _deployed(aws: Aws, env: str, deployer: Deployer) -> tuple[dict[str, Any], dict[str, Any],
                                                                 dict[str, str]]:
    stacks = {}
    for s in ("security", "storage", "compute"):
        described = call(lambda s=s: deployer.describe(stack_name(s, env)), "CloudFormation", env)
        if described is None:
            raise ConfigError(f"Stack {stack_name(s, env)} is not deployed in {aws.region}: run "
                              f"`pai deploy --env {env}` first (a restore points its stacks at "
                              "the restored tables).")
        stacks[s] = described
    for s in ("storage", "compute"):
        if not set(PARAMETER.values()) <= set(parameters_of(stacks[s])):
            raise ConfigError(f"{stack_name(s, env)} was deployed by a pai without restores "
                              f"(it takes no table parameters): run `pai deploy --env {env}` "
                              "once, then restore.")
    return stacks["storage"], stacks["compute"], outputs_of(stacks["security"])


def plan_restore(options: RestoreOptions, aws: Aws,
                 deployer: Deployer | None = None) -> RestorePlan:
    """Everything checked before anything is changed: the stacks take table parameters, the
    time is inside each table's restorable window (or the recovery points are this env's,
    complete, one per table), and no table of the planned names exists yet."""
    env = check_env(options.env)
    if (options.to_time is None) == (not options.backups):
        raise InputError("Say what to restore: --to-time TIME (or latest) or --backup ARN, "
                         "not both.")
    stacks = deployer or Deployer(aws, env)
    storage, compute, security = _deployed(aws, env, stacks)
    in_use = outputs_of(storage)
    current = {k: in_use.get(PARAMETER[k]) or own_table(k, env) for k in KINDS}
    key_arn = security.get("KeyArn", "")
    if not key_arn:
        raise ConfigError(f"{stack_name('security', env)} has no KeyArn output: redeploy it.")
    vector_store = parameters_of(compute).get("VectorStore", "s3vectors")
    tables: list[TablePlan] = []
    if options.to_time is not None:
        for kind in KINDS:
            tables.append(_point_in_time(aws, env, kind, current[kind], options.to_time))
        kept: list[str] = []
    else:
        vault = in_use.get("BackupVaultName", "")
        if not vault:
            raise ConfigError(f"{stack_name('storage', env)} has no backup vault: run `pai "
                              f"deploy --env {env}` to create the backup plan.")
        by_kind: dict[str, TablePlan] = {}
        for arn in options.backups:
            t = _from_backup(aws, env, vault, arn, current)
            if t.kind in by_kind:
                raise InputError(f"Two --backup recovery points of the {t.kind} table: give "
                                 "one per table.")
            by_kind[t.kind] = t
        tables = [by_kind[k] for k in KINDS if k in by_kind]
        kept = [current[k] for k in KINDS if k not in by_kind]
    for i, t in enumerate(tables):
        found = _described(aws, t.target)
        if found is None:
            continue
        if t.target != t.source and not _restored_from(found, t):
            raise InputError(f"Table {t.target} already exists and is not a restore of "
                             f"{t.source}: delete it, or restore to another moment.")
        tables[i] = replace(t, resume=True)
    role = in_use.get("BackupRoleArn", "")
    if options.backups and not role:
        raise ConfigError(f"{stack_name('storage', env)} has no BackupRoleArn output: run "
                          f"`pai deploy --env {env}` first.")
    return RestorePlan(env, aws.region, tables, kept, key_arn, vector_store, role)


def _point_in_time(aws: Aws, env: str, kind: str, source: str,
                   to_time: float | str) -> TablePlan:
    ddb = aws.client("dynamodb")
    described = call(lambda: ddb.describe_continuous_backups(TableName=source),
                     f"DynamoDB table {source}", env)["ContinuousBackupsDescription"]
    pitr = described.get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise ConfigError(f"Point-in-time recovery is off on {source}: restore from a backup "
                          "(--backup ARN; `pai restore --env ... --list` names them).")
    earliest, latest = pitr.get("EarliestRestorableDateTime"), pitr.get("LatestRestorableDateTime")
    if to_time == LATEST:
        at = latest.timestamp() if isinstance(latest, datetime) else time.time()
        point = LATEST
    else:
        at = float(to_time)
        if isinstance(earliest, datetime) and at < earliest.timestamp():
            raise InputError(f"--to-time {iso(at)} is before {source}'s earliest restorable "
                             f"time, {iso(earliest.timestamp())}: pick a later time or a "
                             "backup.")
        if isinstance(latest, datetime) and at > latest.timestamp():
            raise InputError(f"--to-time {iso(at)} is after {source}'s latest restorable "
                             f"time, {iso(latest.timestamp())}: pick an earlier time or "
                             "--to-time latest.")
        point = iso(at)
    target = own_table(kind, env) + SUFFIX + datetime.fromtimestamp(at, UTC).strftime(STAMP)
    return TablePlan(kind, source, target, "point-in-time", point, at)


def kind_of(table: str, env: str) -> str | None:
    for kind in KINDS:
        if table == own_table(kind, env) or table.startswith(own_table(kind, env) + SUFFIX):
            return kind
    return None


def _from_backup(aws: Aws, env: str, vault: str, arn: str, current: dict[str, str]) -> TablePlan:
    from botocore.exceptions import ClientError

    backup = aws.client("backup")
    try:
        point = backup.describe_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn)
    except ClientError as e:
        code = e.response["Error"]["Code"]
        if code in ("ResourceNotFoundException", "InvalidParameterValueException"):
            raise InputError(f"No recovery point {arn} in the vault {vault}: `pai restore "
                             f"--env {env} --list` names them.") from None
        raise BackendError(f"AWS Backup refused DescribeRecoveryPoint: "
                           f"{e.response['Error'].get('Message', code)}") from None
    table = str(point.get("ResourceArn", "")).rpartition(":table/")[2]
    kind = kind_of(table, env)
    if point.get("ResourceType") != "DynamoDB" or kind is None:
        raise InputError(f"{arn} is not a backup of a pai table of {env!r} (it is of "
                         f"{point.get('ResourceArn', 'an unknown resource')}).")
    if point.get("Status") not in ("COMPLETED", "AVAILABLE"):
        raise InputError(f"The recovery point {arn} is {point.get('Status')}, not complete: "
                         "pick another.")
    created = point.get("CreationDate")
    at = created.timestamp() if isinstance(created, datetime) else time.time()
    target = own_table(kind, env) + SUFFIX + datetime.fromtimestamp(at, UTC).strftime(STAMP)
    return TablePlan(kind, current[kind], target, "backup", arn, at)
