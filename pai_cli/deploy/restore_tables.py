"""The restore calls and the restored tables: start each restore (RestoreTableToPointInTime,
or an AWS Backup StartRestoreJob as the storage stack's backup role), wait until every new
table is ACTIVE, saying how it goes, then give it what a restore does not carry over (PITR,
TTL, the pai tags). Also the item counts the verification compares."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.callbacks import OnNote
from pai_cli.deploy.restore_plan import LATEST, RestorePlan, TablePlan
from pai_cli.errors import BackendError

POLL_S = 15.0
TIMEOUT_S = 6 * 3600.0
"""DynamoDB restores take from minutes to hours with the table's size; a restore left
running past this is still running in AWS (the plan names the table to look at)."""
NOTE_EVERY_S = 60.0


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
class Waiter:
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


def start_restore(aws: Aws, plan: RestorePlan, t: TablePlan) -> str | None:
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


def finish_table(aws: Aws, env: str, t: TablePlan) -> None:
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
