"""`pai restore` as functions: the reference's recovery procedure, driven end to end.

    plan_restore(options, aws) -> RestorePlan
    restore(options, aws, confirm, on_event, on_note, rebuild=...) -> RestoreOutcome
    recovery_points(env, aws) -> list[RecoveryPoint]

1. Restore each table to a NEW table (pai-memories-<env>.restore-<time>): from its
   point-in-time recovery (RestoreTableToPointInTime) or from an AWS Backup recovery point
   (StartRestoreJob, as the storage stack's backup role). The tables in use are never
   written: whatever goes wrong, they are still there, as they were.
2. Wait for the new tables (a restore takes minutes to hours), saying how it goes; then
   give them what a restore does not carry over: PITR, TTL, the pai tags.
3. Point the stacks at them by parameters: the compute stack (the functions' table names)
   then the storage stack (its outputs, which the CLI reads, and the backup selection),
   then the monitoring stack where there is one (its table alarms), each an update with
   its own deployed template and only the table names changed.
4. Rebuild the vector index from the restored memories (DynamoDB + the S3 bodies): the
   core's reindex for every user, through `rebuild` (deploy imports no core).
5. Verify: items in the old and the restored tables, each restored table active, encrypted
   with the pai key, with PITR on, named by both stacks; vectors against memories per user.

No Rich, no Typer: the CLI (cli/restore.py) asks, prints the notes and renders the outcome.
moto implements RestoreTableToPointInTime and the table calls; AWS Backup's recovery points
and restore jobs are tested with botocore's Stubber."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.stacks import Deployer, Event, check_env, stack_name
from pai_cli.errors import BackendError, ConfigError, InputError

Confirm = Callable[[str], bool]
OnEvent = Callable[[Event], None]
OnNote = Callable[[str], None]
Rebuild = Callable[[dict[str, str], str, str, OnNote], dict[str, tuple[int, int]]]
"""(tables in use {"conversations_table", "memories_table"}, vector store, the memories
table used before, on_note) -> per user (memories reindexed, vectors in the index)."""

KINDS = ("conversations", "memories")
PARAMETER = {"conversations": "ConversationsTableName", "memories": "MemoriesTableName"}
SUFFIX = ".restore-"
"""Restored tables are named <the stack's own table>.restore-<UTC time>: a "." never occurs
in an env name, so the Lambda role's grant on pai-memories-<env>.restore-* matches no other
environment's tables (security.yaml), and the storage stack's AllowedPattern only these."""
STAMP = "%Y%m%d-%H%M%S"
LATEST = "latest"
POLL_S = 15.0
TIMEOUT_S = 6 * 3600.0
"""DynamoDB restores take from minutes to hours with the table's size; a restore left
running past this is still running in AWS (the plan names the table to look at)."""
NOTE_EVERY_S = 60.0


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


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class RestoreOutcome:
    plan: RestorePlan
    dry_run: bool = False
    aborted: bool = False
    done: list[str] = field(default_factory=list)
    """What was done, in order, one line each."""
    items: dict[str, dict[str, int]] = field(default_factory=dict)
    """kind -> {"before": items in the old table, "restored": items in the new one}."""
    index: dict[str, tuple[int, int]] = field(default_factory=dict)
    """user -> (memories reindexed, vectors in the index)."""
    checks: list[Check] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


@dataclass(frozen=True)
class RecoveryPoint:
    arn: str
    table: str
    created: str
    status: str


# ---------------------------------------------------------------------------- plan

def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _params(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}


def _outputs(stack: dict[str, Any] | None) -> dict[str, str]:
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
        if not set(PARAMETER.values()) <= set(_params(stacks[s])):
            raise ConfigError(f"{stack_name(s, env)} was deployed by a pai without restores "
                              f"(it takes no table parameters): run `pai deploy --env {env}` "
                              "once, then restore.")
    return stacks["storage"], stacks["compute"], _outputs(stacks["security"])


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
    in_use = _outputs(storage)
    current = {k: in_use.get(PARAMETER[k]) or own_table(k, env) for k in KINDS}
    key_arn = security.get("KeyArn", "")
    if not key_arn:
        raise ConfigError(f"{stack_name('security', env)} has no KeyArn output: redeploy it.")
    vector_store = _params(compute).get("VectorStore", "s3vectors")
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
            raise InputError(f"--to-time {_iso(at)} is before {source}'s earliest restorable "
                             f"time, {_iso(earliest.timestamp())}: pick a later time or a "
                             "backup.")
        if isinstance(latest, datetime) and at > latest.timestamp():
            raise InputError(f"--to-time {_iso(at)} is after {source}'s latest restorable "
                             f"time, {_iso(latest.timestamp())}: pick an earlier time or "
                             "--to-time latest.")
        point = _iso(at)
    target = own_table(kind, env) + SUFFIX + datetime.fromtimestamp(at, UTC).strftime(STAMP)
    return TablePlan(kind, source, target, "point-in-time", point, at)


def _kind_of(table: str, env: str) -> str | None:
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
    kind = _kind_of(table, env)
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


def recovery_points(env: str, aws: Aws, deployer: Deployer | None = None) -> list[RecoveryPoint]:
    """The vault's recovery points of this env's tables, newest first."""
    env = check_env(env)
    stacks = deployer or Deployer(aws, env)
    storage = call(lambda: stacks.describe(stack_name("storage", env)), "CloudFormation", env)
    vault = _outputs(storage).get("BackupVaultName", "")
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
                _iso(created.timestamp()) if isinstance(created, datetime) else "",
                p.get("Status", "")))
        token = page.get("NextToken")
        if not token:
            break
    return sorted(found, key=lambda p: p.created, reverse=True)


# ---------------------------------------------------------------------------- run

def count_items(aws: Aws, table: str, env: str) -> int:
    """Every item, counted with a paginated Scan (DescribeTable's ItemCount lags by hours)."""
    ddb = aws.client("dynamodb")
    total, start = 0, None
    while True:
        more = {"ExclusiveStartKey": start} if start else {}
        page = call(lambda m=more: ddb.scan(TableName=table, Select="COUNT", **m),
                    f"DynamoDB table {table}", env)
        total += int(page.get("Count", 0))
        start = page.get("LastEvaluatedKey")
        if not start:
            return total


@dataclass
class _Waiter:
    aws: Aws
    env: str
    on_note: OnNote
    sleep: Callable[[float], None]
    poll_s: float
    timeout_s: float
    clock: Callable[[], float] = time.monotonic

    def until_active(self, jobs: dict[str, str | None]) -> None:
        """jobs: target table -> AWS Backup restore job id (None: a PITR restore)."""
        started = self.clock()
        last_note = -NOTE_EVERY_S
        last_state: dict[str, str] = {}
        pending = dict(jobs)
        while pending:
            for target, job in list(pending.items()):
                state = self._state(target, job)
                if state == "ACTIVE":
                    self.on_note(f"  {target}: ACTIVE after {self._took(started)}.")
                    del pending[target]
                    continue
                if state != last_state.get(target) or self.clock() - last_note >= NOTE_EVERY_S:
                    self.on_note(f"  {target}: {state} ({self._took(started)} so far)")
                    last_state[target] = state
                    last_note = self.clock()
            if not pending:
                return
            if self.clock() - started > self.timeout_s:
                raise BackendError(f"{', '.join(pending)} still not ACTIVE after "
                                   f"{self.timeout_s / 3600:.0f} h: the restore goes on in AWS; "
                                   "run this restore again once the table is ACTIVE.")
            self.sleep(self.poll_s)

    def _took(self, started: float) -> str:
        s = int(self.clock() - started)
        return f"{s // 60}m {s % 60:02d}s"

    def _state(self, target: str, job: str | None) -> str:
        from botocore.exceptions import ClientError

        if job is not None:
            backup = self.aws.client("backup")
            got = call(lambda: backup.describe_restore_job(RestoreJobId=job), "AWS Backup",
                       self.env)
            status = got.get("Status", "")
            if status in ("FAILED", "ABORTED"):
                raise BackendError(f"The AWS Backup restore job {job} of {target} is {status}: "
                                   f"{got.get('StatusMessage') or 'no reason given'}.")
            if status != "COMPLETED":
                done = str(got.get("PercentDone") or "").rstrip("%")  # "40.00" or "40.00%"
                return f"restore job {status}" + (f", {done}% done" if done else "")
        try:
            table = self.aws.client("dynamodb").describe_table(TableName=target)["Table"]
        except ClientError as e:
            if e.response["Error"]["Code"] == "ResourceNotFoundException":
                return "not created yet"
            raise BackendError(f"DynamoDB refused DescribeTable on {target}: "
                               f"{e.response['Error'].get('Message', '')}") from None
        return str(table.get("TableStatus", "CREATING"))


def restore(options: RestoreOptions, aws: Aws, confirm: Confirm, on_event: OnEvent,
            on_note: OnNote, *, rebuild: Rebuild | None, deployer: Deployer | None = None,
            sleep: Callable[[float], None] = time.sleep, poll_s: float = POLL_S,
            timeout_s: float = TIMEOUT_S) -> RestoreOutcome:
    """Plan, show, ask, then run the five steps of the module docstring."""
    stacks = deployer or Deployer(aws, check_env(options.env))
    plan = plan_restore(options, aws, stacks)
    for line in plan.lines():
        on_note(line)
    if options.dry_run:
        return RestoreOutcome(plan, dry_run=True)
    if not confirm(f"Restore pai env {plan.env!r} in {plan.region} as planned?"):
        return RestoreOutcome(plan, aborted=True)
    env, done = plan.env, []
    items = {t.kind: {"before": count_items(aws, t.source, env)} for t in plan.tables}

    # 1. restores to new tables, all started before any is waited for
    jobs: dict[str, str | None] = {}
    for t in plan.tables:
        if t.resume:
            jobs[t.target] = None
            done.append(f"carried on with {t.target}, restored from {t.source} before")
        else:
            jobs[t.target] = _start(aws, plan, t)
            done.append(f"started the restore of {t.source} into {t.target} ({t.method}, "
                        f"{t.point})")
        on_note(done[-1] + ".")
    # 2. wait, then what a restored table does not carry over
    on_note("Waiting for the restored table(s) (minutes to hours, with their size)...")
    _Waiter(aws, env, on_note, sleep, poll_s, timeout_s).until_active(jobs)
    for t in plan.tables:
        _finish_table(aws, env, t)
        # Counted now: the index rebuild adds its own bookkeeping items to the table.
        items[t.kind]["restored"] = count_items(aws, t.target, env)
    done.append("turned on PITR and TTL on " + ", ".join(t.target for t in plan.tables))
    on_note(done[-1] + ".")
    # 3. the stacks, by parameters: compute (what the functions use) first
    names = {PARAMETER[t.kind]: t.target for t in plan.tables}
    # The monitoring stack's table alarms watch tables by name too: left alone they would
    # watch the old tables (an environment deployed before it existed has none).
    monitored = call(lambda: stacks.describe(stack_name("monitoring", env)), "CloudFormation",
                     env) is not None
    for stack in ("compute", "storage") + (("monitoring",) if monitored else ()):
        _point_stack(stacks, stack, names, on_event, on_note)
        done.append(f"updated {stack_name(stack, env)}: " +
                    ", ".join(f"{k}={v}" for k, v in names.items()))
    # 4. the vector index
    in_use = {f"{kind}_table": next((t.target for t in plan.tables if t.kind == kind), None)
              or _in_use(plan, kind) for kind in KINDS}
    previous = next((t.source for t in plan.tables if t.kind == "memories"), "")
    index: dict[str, tuple[int, int]] = {}
    if rebuild is not None:
        on_note(f"Rebuilding the {plan.vector_store} index from {in_use['memories_table']}...")
        index = rebuild(in_use, plan.vector_store, previous, on_note)
        done.append(f"rebuilt the {plan.vector_store} index: "
                    f"{sum(m for m, _ in index.values())} memories of {len(index)} user(s)")
        on_note(done[-1] + ".")
    # 5. verify
    checks = _verify(aws, plan, stacks, items, index, rebuild is not None)
    return RestoreOutcome(plan, done=done, items=items, index=index, checks=checks)


def _in_use(plan: RestorePlan, kind: str) -> str:
    for kept in plan.kept:
        if _kind_of(kept, plan.env) == kind:
            return kept
    return own_table(kind, plan.env)


def _start(aws: Aws, plan: RestorePlan, t: TablePlan) -> str | None:
    if t.method == "backup":
        backup = aws.client("backup")
        out = call(lambda: backup.start_restore_job(
            RecoveryPointArn=t.point, IamRoleArn=plan.backup_role, ResourceType="DynamoDB",
            IdempotencyToken=t.target,
            Metadata={"targetTableName": t.target, "encryptionType": "KMS",
                      "kmsMasterKeyArn": plan.key_arn}), "AWS Backup", plan.env)
        return str(out["RestoreJobId"])
    when: dict[str, Any] = ({"UseLatestRestorableTime": True} if t.point == LATEST else
                            {"RestoreDateTime": datetime.fromtimestamp(t.at, UTC)})
    ddb = aws.client("dynamodb")
    call(lambda: ddb.restore_table_to_point_in_time(
        SourceTableName=t.source, TargetTableName=t.target, BillingModeOverride="PAY_PER_REQUEST",
        SSESpecificationOverride={"Enabled": True, "SSEType": "KMS",
                                  "KMSMasterKeyId": plan.key_arn}, **when),
        f"DynamoDB table {t.source}", plan.env)
    return None


def _finish_table(aws: Aws, env: str, t: TablePlan) -> None:
    """A restored table has the data, keys, indexes and encryption; PITR, TTL and tags are
    not restored (DynamoDB's documentation), and pai needs all three."""
    ddb = aws.client("dynamodb")
    what = f"DynamoDB table {t.target}"
    call(lambda: ddb.update_continuous_backups(
        TableName=t.target, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}),
        what, env)
    call(lambda: ddb.update_time_to_live(
        TableName=t.target, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}),
        what, env)
    arn = call(lambda: ddb.describe_table(TableName=t.target), what, env)["Table"]["TableArn"]
    call(lambda: ddb.tag_resource(ResourceArn=arn, Tags=[
        {"Key": "Project", "Value": "pai"}, {"Key": "Environment", "Value": env},
        {"Key": "pai:restored-from", "Value": f"{t.source} {t.point}"[:256]}]), what, env)


def _point_stack(stacks: Deployer, stack: str, names: dict[str, str], on_event: OnEvent,
                 on_note: OnNote) -> None:
    """An update of the stack as deployed (its own template, its parameters) with only the
    table names changed: nothing else about it moves."""
    name = stack_name(stack, stacks.env)
    body = call(lambda: stacks.cfn.get_template(StackName=name, TemplateStage="Original"),
                "CloudFormation", stacks.env)["TemplateBody"]
    if not isinstance(body, str):  # a JSON template comes back parsed
        import json

        body = json.dumps(body)

    def parameters(current: dict[str, str] | None) -> dict[str, str]:
        return {**(current or {}), **{k: v for k, v in names.items()}}

    planned = stacks.plan(stack, parameters, body=body)
    if planned.note == "no changes":
        on_note(f"{name}: already names the restored table(s).")
        return
    on_note(f"{name}: update, {len(planned.changes)} change(s) (table parameters).")
    stacks.execute(planned, on_event)
    on_note(f"{name}: done.")


def _verify(aws: Aws, plan: RestorePlan, stacks: Deployer, items: dict[str, dict[str, int]],
            index: dict[str, tuple[int, int]], rebuilt: bool) -> list[Check]:
    env, checks = plan.env, []
    ddb = aws.client("dynamodb")
    storage = _outputs(call(lambda: stacks.describe(stack_name("storage", env)),
                            "CloudFormation", env))
    compute = _params(call(lambda: stacks.describe(stack_name("compute", env)),
                           "CloudFormation", env) or {})
    for t in plan.tables:
        table = call(lambda t=t: ddb.describe_table(TableName=t.target), "DynamoDB", env)["Table"]
        sse = table.get("SSEDescription") or {}
        pitr = call(lambda t=t: ddb.describe_continuous_backups(TableName=t.target), "DynamoDB",
                    env)["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        n = items[t.kind]
        checks.append(Check(f"{t.target} items", n["restored"] > 0 or n["before"] == 0,
                            f"{n['restored']} restored, {n['before']} in {t.source} when the "
                            "restore began"))
        checks.append(Check(f"{t.target} active and encrypted with the pai key",
                            table.get("TableStatus") == "ACTIVE"
                            and sse.get("SSEType") == "KMS"
                            and sse.get("KMSMasterKeyArn", plan.key_arn) == plan.key_arn,
                            f"{table.get('TableStatus')}, {sse.get('SSEType', 'no SSE')} "
                            f"{sse.get('KMSMasterKeyArn', '')}".strip()))
        checks.append(Check(f"{t.target} PITR", pitr.get("PointInTimeRecoveryStatus") ==
                            "ENABLED", str(pitr.get("PointInTimeRecoveryStatus", "unknown"))))
        param = PARAMETER[t.kind]
        checks.append(Check(f"stacks use {t.target}",
                            storage.get(param) == t.target and compute.get(param) == t.target,
                            f"storage output {storage.get(param)}, compute parameter "
                            f"{compute.get(param)}"))
    if rebuilt:
        short = {u: mv for u, mv in index.items() if mv[0] != mv[1]}
        checks.append(Check("vectors match memories", not short,
                            f"{sum(m for m, _ in index.values())} memories, "
                            f"{sum(v for _, v in index.values())} vectors"
                            + ("; differ for " + ", ".join(f"{u} ({m} vs {v})" for u, (m, v)
                                                           in sorted(short.items()))
                               if short else "")))
    return checks
