"""`pai restore`: point-in-time restores on moto's DynamoDB (which implements
RestoreTableToPointInTime), AWS Backup's recovery points and restore jobs with botocore's
Stubber (moto has none of them), the stacks' parameter updates with the Stubber on
CloudFormation (moto drops change-set outputs), the vector index rebuilt by the core's
reindex over moto, and the CLI through CliRunner."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import ANY, Stubber
from fakes.aws_home import ACCOUNT, REGION, moto_aws_home

from pai_cli.backends.aws.session import Aws
from pai_cli.deploy import restore as flow
from pai_cli.deploy.stacks import Deployer
from pai_cli.errors import ConfigError, InputError

ENV = "test"
INFRA = Path(__file__).resolve().parent.parent / "infra"
T = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pai-backup-role-{ENV}"
VAULT = f"pai-backups-{ENV}"
CONV = f"pai-conversations-{ENV}"
MEMS = f"pai-memories-{ENV}"


def local_embedder(pai_home: Path) -> None:
    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text('embedder = "local"\n')


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, pai_home: Path) -> Iterator[dict[str, str]]:
    """An AWS home on moto with PITR on both tables. moto's RestoreTableToPointInTime copies
    the items and keys but drops SSESpecificationOverride; the service encrypts the new
    table as the override says, which is applied here."""
    from moto.dynamodb.responses import DynamoHandler

    restore_table = DynamoHandler.restore_table_to_point_in_time

    def with_override(self: Any) -> Any:
        out = restore_table(self)
        sse = self.body.get("SSESpecificationOverride")
        if sse:
            table = self.dynamodb_backend.get_table(self.body["TargetTableName"])
            table.sse_specification = dict(sse)
            out = type(out)(table.describe())
        return out

    monkeypatch.setattr(DynamoHandler, "restore_table_to_point_in_time", with_override)
    local_embedder(pai_home)
    with moto_aws_home(monkeypatch) as info:
        import boto3

        ddb = boto3.client("dynamodb", region_name=REGION)
        for table in (CONV, MEMS):
            ddb.update_continuous_backups(
                TableName=table,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        yield info


def stack_body(name: str, status: str, outputs: dict[str, str] | None = None,
               parameters: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"StackName": name, "StackStatus": status, "CreationTime": T}
    if outputs:
        body["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
    if parameters is not None:
        body["Parameters"] = [{"ParameterKey": k, "ParameterValue": v}
                              for k, v in parameters.items()]
    return {"Stacks": [body]}


def storage_params(conv: str = "", mems: str = "") -> dict[str, str]:
    return {"Env": ENV, "AlarmTopicArn": "", "ConversationsTableName": conv,
            "MemoriesTableName": mems}


def compute_params(conv: str = CONV, mems: str = MEMS) -> dict[str, str]:
    return {"Env": ENV, "CodeKey": "lambda/pai-abc.zip", "VectorStore": "s3vectors",
            "VectorBucketName": f"pai-vectors-{ACCOUNT}-{ENV}", "ConversationsTableName": conv,
            "MemoriesTableName": mems, "UserRequestsPerMinute": "60", "UserBurst": "20"}


def storage_outputs(conv: str = CONV, mems: str = MEMS) -> dict[str, str]:
    return {"ConversationsTableName": conv, "MemoriesTableName": mems,
            "BackupVaultName": VAULT, "BackupRoleArn": ROLE,
            "MemoryBucketName": f"pai-long-term-memory-{ACCOUNT}-{ENV}"}


def deployed(stub: Stubber, key_arn: str, storage: dict[str, str] | None = None,
             compute: dict[str, str] | None = None,
             outputs: dict[str, str] | None = None) -> None:
    """plan_restore's three DescribeStacks."""
    stub.add_response("describe_stacks", stack_body(f"pai-security-{ENV}", "UPDATE_COMPLETE",
                                                    {"KeyArn": key_arn}, {"Env": ENV}),
                      {"StackName": f"pai-security-{ENV}"})
    stub.add_response("describe_stacks", stack_body(
        f"pai-storage-{ENV}", "UPDATE_COMPLETE", outputs or storage_outputs(),
        storage if storage is not None else storage_params()), {"StackName": f"pai-storage-{ENV}"})
    stub.add_response("describe_stacks", stack_body(
        f"pai-compute-{ENV}", "UPDATE_COMPLETE", {"ApiUrl": "https://api.example"},
        compute if compute is not None else compute_params()),
        {"StackName": f"pai-compute-{ENV}"})


def updated(stub: Stubber, stack: str, before: dict[str, str], after: dict[str, str],
            template: str) -> None:
    """One stack pointed at the restored tables: its own template, only the names changed."""
    name = f"pai-{stack}-{ENV}"
    stub.add_response("get_template", {"TemplateBody": template},
                      {"StackName": name, "TemplateStage": "Original"})
    stub.add_response("describe_stacks", stack_body(name, "UPDATE_COMPLETE", None, before),
                      {"StackName": name})
    stub.add_response("create_change_set", {"Id": f"cs-{stack}"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "UPDATE",
        "TemplateBody": template, "Capabilities": ["CAPABILITY_NAMED_IAM"], "Tags": ANY,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in after.items()]})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Modify", "LogicalResourceId": "AgentFunction",
            "ResourceType": "AWS::Lambda::Function"}}]},
        {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": name})
    stub.add_response("execute_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("describe_stack_events", {"StackEvents": [{
        "StackId": "arn:aws:cloudformation:us-east-1:1:stack/x/1", "EventId": f"e-{stack}",
        "StackName": name, "LogicalResourceId": name, "ResourceType": "AWS::CloudFormation::Stack",
        "Timestamp": T, "ResourceStatus": "UPDATE_COMPLETE"}]}, {"StackName": name})
    stub.add_response("describe_stacks", stack_body(name, "UPDATE_COMPLETE", None, after),
                      {"StackName": name})


def monitoring(stub: Stubber, params: dict[str, str] | None = None) -> None:
    """Whether the environment has a monitoring stack (asked before the stacks are pointed
    at the restored tables); with params, it has, with those parameters."""
    name = f"pai-monitoring-{ENV}"
    if params is None:
        stub.add_client_error("describe_stacks", "ValidationError",
                              f"Stack with id {name} does not exist", 400,
                              expected_params={"StackName": name})
    else:
        stub.add_response("describe_stacks", stack_body(name, "UPDATE_COMPLETE", None, params),
                          {"StackName": name})


def monitoring_params(conv: str = CONV, mems: str = MEMS) -> dict[str, str]:
    return {"Env": ENV, "ConversationsTableName": conv, "MemoriesTableName": mems,
            "AlarmTopicArn": "", "AlarmEmail": ""}


def cfn(aws: Aws) -> tuple[Deployer, Stubber]:
    return Deployer(aws, ENV, sleep=lambda s: None), Stubber(aws.client("cloudformation"))


def put_memories(w: Any, user: str, texts: list[str]) -> list[str]:
    return [w.memories.add(user, t).id for t in texts]


# ------------------------------------------------------------------------ point in time

def test_point_in_time_restore_end_to_end_on_moto(home: dict[str, str]) -> None:
    """Tables restored into new ones, PITR and TTL on them, both stacks updated with only
    the table names changed, the index rebuilt from the restored memories, counts verified;
    the old tables are untouched."""
    import boto3

    from pai_cli.config import load_settings
    from pai_cli.wiring import Wiring, rebuild_restored_index

    w = Wiring(load_settings("alice"))
    ids = put_memories(w, "alice", ["Maya starts school in September",
                                    "The bike is a green Brompton"])
    put_memories(w, "bob", ["Bob's cat is Miso"])
    aws = Aws(REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)

    def latest(table: str) -> str:
        return ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"]["LatestRestorableDateTime"].astimezone(
                dt.UTC).strftime("%Y%m%d-%H%M%S")

    new_conv, new_mems = f"{CONV}.restore-{latest(CONV)}", f"{MEMS}.restore-{latest(MEMS)}"
    deployer, stub = cfn(aws)
    deployed(stub, home["key_arn"])
    template = yaml.safe_dump({"Resources": {}})
    monitoring(stub, monitoring_params())
    updated(stub, "compute", compute_params(), compute_params(new_conv, new_mems), template)
    updated(stub, "storage", storage_params(), storage_params(new_conv, new_mems), template)
    updated(stub, "monitoring", monitoring_params(), monitoring_params(new_conv, new_mems),
            template)
    stub.add_response("describe_stacks", stack_body(
        f"pai-storage-{ENV}", "UPDATE_COMPLETE", storage_outputs(new_conv, new_mems),
        storage_params(new_conv, new_mems)), {"StackName": f"pai-storage-{ENV}"})
    stub.add_response("describe_stacks", stack_body(
        f"pai-compute-{ENV}", "UPDATE_COMPLETE", None, compute_params(new_conv, new_mems)),
        {"StackName": f"pai-compute-{ENV}"})
    notes: list[str] = []
    events: list[str] = []
    asked: list[str] = []

    def rebuild(tables: dict[str, str], store: str, previous: str,
                note: Any) -> dict[str, tuple[int, int]]:
        assert tables == {"conversations_table": new_conv, "memories_table": new_mems}
        assert (store, previous) == ("s3vectors", MEMS)
        return rebuild_restored_index(ENV, tables, store, previous, None, REGION, note)

    before = {t: ddb.scan(TableName=t, Select="COUNT")["Count"] for t in (CONV, MEMS)}
    with stub:
        done = flow.restore(flow.RestoreOptions(ENV, to_time=flow.LATEST), aws,
                            lambda q: asked.append(q) or True,
                            lambda e: events.append(e["ResourceStatus"]), notes.append,
                            rebuild=rebuild, deployer=deployer, sleep=lambda s: None)
        stub.assert_no_pending_responses()
    assert asked == [f"Restore pai env {ENV!r} in {REGION} as planned?"]
    assert [t.target for t in done.plan.tables] == [new_conv, new_mems]
    assert done.verified, done.checks
    assert events == ["UPDATE_COMPLETE"] * 3  # compute, storage, and the alarms' stack
    # What it did, in order, and the counts it verified.
    assert done.done[0].startswith(f"started the restore of {CONV} into {new_conv}")
    assert done.done[2] == f"turned on PITR and TTL on {new_conv}, {new_mems}"
    assert done.done[3] == (f"updated pai-compute-{ENV}: ConversationsTableName={new_conv}, "
                            f"MemoriesTableName={new_mems}")
    assert done.done[5].startswith(f"updated pai-monitoring-{ENV}: ")
    assert done.items == {"conversations": {"before": before[CONV], "restored": before[CONV]},
                          "memories": {"before": before[MEMS], "restored": before[MEMS]}}
    assert done.index == {"alice": (2, 2), "bob": (1, 1)}
    assert any(n.endswith("ACTIVE after 0m 00s.") for n in notes)
    # The restored tables: the data, PITR and TTL on, tagged; the old ones as they were.
    def keys(table: str) -> set[tuple[str, str]]:
        return {(i["user_id"]["S"], (i.get("sk") or i["memory_id"])["S"])
                for i in ddb.scan(TableName=table)["Items"]}

    for old, new in ((CONV, new_conv), (MEMS, new_mems)):
        # Every item came back (the reindex re-seals memories and adds its bookkeeping).
        assert keys(old) <= keys(new)
        pitr = ddb.describe_continuous_backups(TableName=new)["ContinuousBackupsDescription"]
        assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        assert ddb.describe_time_to_live(TableName=new)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
        arn = ddb.describe_table(TableName=new)["Table"]["TableArn"]
        tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
        assert tags["Project"] == "pai" and tags["Environment"] == ENV
        assert tags["pai:restored-from"].startswith(old + " ")
        assert ddb.scan(TableName=old, Select="COUNT")["Count"] == before[old]
    # The restored home answers: search finds alice's memories through the rebuilt index.
    from dataclasses import replace

    s = load_settings("alice")
    restored = Wiring(replace(s, aws_names={"conversations_table": new_conv,
                                            "memories_table": new_mems}))
    hits = restored.memories.search("alice", "when does school start", 2)
    assert hits and hits[0].memory.id == ids[0]


def test_a_time_outside_the_restorable_window_is_refused_before_anything(
        home: dict[str, str]) -> None:
    aws = Aws(REGION)
    deployer, stub = cfn(aws)
    deployed(stub, home["key_arn"])
    with stub, pytest.raises(InputError, match="before pai-conversations-test's earliest"):
        flow.plan_restore(flow.RestoreOptions(ENV, to_time=T.timestamp() - 86400 * 400), aws,
                          deployer)
    deployed(stub, home["key_arn"])
    with stub, pytest.raises(InputError, match="after pai-conversations-test's latest"):
        flow.plan_restore(flow.RestoreOptions(ENV, to_time=4_000_000_000.0), aws, deployer)


def test_pitr_off_or_stacks_without_table_parameters_are_config_errors(
        home: dict[str, str]) -> None:
    import boto3

    aws = Aws(REGION)
    deployer, stub = cfn(aws)
    old_storage = {"Env": ENV, "AlarmTopicArn": ""}  # deployed before restores existed
    deployed(stub, home["key_arn"], storage=old_storage)
    with stub, pytest.raises(ConfigError, match="deployed by a pai without restores"):
        flow.plan_restore(flow.RestoreOptions(ENV, to_time=flow.LATEST), aws, deployer)
    boto3.client("dynamodb", region_name=REGION).update_continuous_backups(
        TableName=CONV, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    deployed(stub, home["key_arn"])
    with stub, pytest.raises(ConfigError, match="Point-in-time recovery is off on"):
        flow.plan_restore(flow.RestoreOptions(ENV, to_time=flow.LATEST), aws, deployer)


def test_a_missing_stack_and_a_taken_name_are_refused(home: dict[str, str]) -> None:
    import boto3

    from pai_cli.backends.aws import schema

    aws = Aws(REGION)
    deployer, stub = cfn(aws)
    stub.add_client_error("describe_stacks", "ValidationError",
                          f"Stack with id pai-security-{ENV} does not exist", 400)
    with stub, pytest.raises(ConfigError, match="is not deployed"):
        flow.plan_restore(flow.RestoreOptions(ENV, to_time=flow.LATEST), aws, deployer)
    ddb = boto3.client("dynamodb", region_name=REGION)
    latest = ddb.describe_continuous_backups(TableName=MEMS)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["LatestRestorableDateTime"]
    stamp = latest.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
    ddb.create_table(**schema.memories_table(f"{MEMS}.restore-{stamp}"))
    deployed(stub, home["key_arn"])
    with stub, pytest.raises(InputError, match=rf"Table {MEMS}\.restore-{stamp} already exists "
                                               f"and is not a restore of {MEMS}"):
        flow.plan_restore(flow.RestoreOptions(ENV, to_time=flow.LATEST), aws, deployer)


def test_a_run_that_stopped_is_carried_on_not_restored_again(home: dict[str, str]) -> None:
    """A first run restored the tables and then stopped (Ctrl-C, a refused stack update):
    the next run to the same moment uses the tables it made (DynamoDB's RestoreSummary
    names their source) and goes on from there."""
    import boto3

    ddb = boto3.client("dynamodb", region_name=REGION)
    aws = Aws(REGION)
    deployer, stub = cfn(aws)
    deployed(stub, home["key_arn"])
    with stub:
        first = flow.plan_restore(flow.RestoreOptions(ENV, to_time=flow.LATEST), aws, deployer)
    for t in first.tables:
        ddb.restore_table_to_point_in_time(SourceTableName=t.source, TargetTableName=t.target)
    deployed(stub, home["key_arn"])
    with stub:
        again = flow.plan_restore(flow.RestoreOptions(ENV, to_time=flow.LATEST), aws, deployer)
    assert [(t.target, t.resume) for t in again.tables] == [(t.target, True)
                                                             for t in first.tables]
    assert again.lines()[1] == (f"  1. use {first.tables[0].target}, restored from {CONV} to "
                                "latest by an earlier run that stopped")


def test_restore_options_need_one_source() -> None:
    aws = Aws(REGION)
    for options in (flow.RestoreOptions(ENV), flow.RestoreOptions(ENV, 1.0, ("arn:x",))):
        with pytest.raises(InputError, match="Say what to restore"):
            flow.plan_restore(options, aws, Deployer(aws, ENV))


# ------------------------------------------------------------------------ AWS Backup

RP_MEMS = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45"
RP_CONV = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:2FC4C6F8-0FC1-546B-B91C-219C599C1E56"


def recovery_point(stub: Stubber, arn: str, table: str, status: str = "COMPLETED") -> None:
    stub.add_response("describe_recovery_point", {
        "RecoveryPointArn": arn, "BackupVaultName": VAULT, "ResourceType": "DynamoDB",
        "ResourceArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}",
        "Status": status, "CreationDate": T}, {"BackupVaultName": VAULT, "RecoveryPointArn": arn})


def test_restore_from_a_backup_runs_a_restore_job_as_the_backup_role(
        home: dict[str, str]) -> None:
    """Only the memories table from its backup: a StartRestoreJob with the documented
    DynamoDB metadata (target name, the pai key), polled to COMPLETED; the conversations
    table stays in use; only MemoriesTableName changes in the stacks."""
    import boto3

    from pai_cli.backends.aws import schema

    aws = Aws(REGION)
    deployer, stub = cfn(aws)
    backup = Stubber(aws.client("backup"))
    new_mems = f"{MEMS}.restore-20261201-090000"
    deployed(stub, home["key_arn"])
    recovery_point(backup, RP_MEMS, MEMS)
    backup.add_response("start_restore_job", {"RestoreJobId": "job-1"}, {
        "RecoveryPointArn": RP_MEMS, "IamRoleArn": ROLE, "ResourceType": "DynamoDB",
        "IdempotencyToken": new_mems,
        "Metadata": {"targetTableName": new_mems, "encryptionType": "KMS",
                     "kmsMasterKeyArn": home["key_arn"]}})
    backup.add_response("describe_restore_job", {"RestoreJobId": "job-1", "Status": "RUNNING",
                                                 "PercentDone": "40.00%"},
                        {"RestoreJobId": "job-1"})

    # What AWS Backup does meanwhile: the restored table appears (moto stands in for it).
    def appear(*_: Any, **__: Any) -> None:
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(**schema.memories_table(new_mems),
                         SSESpecification={"Enabled": True, "SSEType": "KMS",
                                           "KMSMasterKeyId": home["key_arn"]})
    backup.add_response("describe_restore_job", {
        "RestoreJobId": "job-1", "Status": "COMPLETED",
        "CreatedResourceArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{new_mems}"},
        {"RestoreJobId": "job-1"})
    template = json.dumps({"Resources": {}})
    monitoring(stub)
    updated(stub, "compute", compute_params(), compute_params(mems=new_mems), template)
    updated(stub, "storage", storage_params(), storage_params(mems=new_mems), template)
    stub.add_response("describe_stacks", stack_body(
        f"pai-storage-{ENV}", "UPDATE_COMPLETE", storage_outputs(mems=new_mems),
        storage_params(mems=new_mems)), {"StackName": f"pai-storage-{ENV}"})
    stub.add_response("describe_stacks", stack_body(
        f"pai-compute-{ENV}", "UPDATE_COMPLETE", None, compute_params(mems=new_mems)),
        {"StackName": f"pai-compute-{ENV}"})
    notes: list[str] = []
    sleeps: list[float] = []
    with stub, backup:
        done = flow.restore(flow.RestoreOptions(ENV, backups=(RP_MEMS,)), aws,
                            lambda q: True, lambda e: None, notes.append, rebuild=None,
                            deployer=deployer,
                            sleep=lambda s: (sleeps.append(s), appear()), poll_s=30)
        stub.assert_no_pending_responses()
        backup.assert_no_pending_responses()
    assert [(t.kind, t.method, t.target) for t in done.plan.tables] == [
        ("memories", "backup", new_mems)]
    assert done.plan.kept == [CONV]
    assert sleeps == [30]
    assert f"  {new_mems}: restore job RUNNING, 40.00% done (0m 00s so far)" in notes
    assert any("kept in use as it is: " + CONV in n for n in notes)
    assert done.verified, done.checks
    assert [c.what for c in done.checks] == [
        f"{new_mems} items", f"{new_mems} active and encrypted with the pai key",
        f"{new_mems} PITR", f"stacks use {new_mems}"]


def test_a_failed_restore_job_is_one_line_naming_the_job(home: dict[str, str]) -> None:
    from pai_cli.errors import BackendError

    aws = Aws(REGION)
    deployer, stub = cfn(aws)
    backup = Stubber(aws.client("backup"))
    deployed(stub, home["key_arn"])
    recovery_point(backup, RP_CONV, CONV)
    backup.add_response("start_restore_job", {"RestoreJobId": "job-9"}, None)
    backup.add_response("describe_restore_job", {
        "RestoreJobId": "job-9", "Status": "FAILED",
        "StatusMessage": "Access denied to the KMS key"}, {"RestoreJobId": "job-9"})
    with stub, backup, pytest.raises(BackendError) as e:
        flow.restore(flow.RestoreOptions(ENV, backups=(RP_CONV,)), aws, lambda q: True,
                     lambda e: None, lambda n: None, rebuild=None, deployer=deployer,
                     sleep=lambda s: None)
    assert e.value.message == ("The AWS Backup restore job job-9 of "
                               f"{CONV}.restore-20261201-090000 is FAILED: Access denied to "
                               "the KMS key.")


def test_recovery_points_that_are_not_this_envs_or_not_complete_are_refused(
        home: dict[str, str]) -> None:
    aws = Aws(REGION)
    deployer, stub = cfn(aws)
    backup = Stubber(aws.client("backup"))
    for table, status, match in (("someone-elses-table", "COMPLETED", "not a backup of a pai"),
                                 (MEMS, "CREATING", "is CREATING, not complete")):
        deployed(stub, home["key_arn"])
        recovery_point(backup, RP_MEMS, table, status)
        with stub, backup, pytest.raises(InputError, match=match):
            flow.plan_restore(flow.RestoreOptions(ENV, backups=(RP_MEMS,)), aws, deployer)
    deployed(stub, home["key_arn"])
    backup.add_client_error("describe_recovery_point", "ResourceNotFoundException", "nope", 404)
    with stub, backup, pytest.raises(InputError, match="No recovery point"):
        flow.plan_restore(flow.RestoreOptions(ENV, backups=(RP_MEMS,)), aws, deployer)
    deployed(stub, home["key_arn"])
    recovery_point(backup, RP_MEMS, MEMS)
    recovery_point(backup, RP_CONV, MEMS)
    with stub, backup, pytest.raises(InputError, match="Two --backup recovery points"):
        flow.plan_restore(flow.RestoreOptions(ENV, backups=(RP_MEMS, RP_CONV)), aws, deployer)


def test_list_recovery_points_pages_through_the_vault(home: dict[str, str]) -> None:
    aws = Aws(REGION)
    deployer, stub = cfn(aws)
    backup = Stubber(aws.client("backup"))
    stub.add_response("describe_stacks", stack_body(f"pai-storage-{ENV}", "UPDATE_COMPLETE",
                                                    storage_outputs(), storage_params()),
                      {"StackName": f"pai-storage-{ENV}"})
    point = {"BackupVaultName": VAULT, "ResourceType": "DynamoDB", "Status": "COMPLETED"}
    backup.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [
        {**point, "RecoveryPointArn": RP_MEMS, "CreationDate": T,
         "ResourceArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{MEMS}"}],
        "NextToken": "page-2"}, {"BackupVaultName": VAULT, "ByResourceType": "DynamoDB"})
    backup.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [
        {**point, "RecoveryPointArn": RP_CONV, "CreationDate": T + dt.timedelta(days=1),
         "ResourceArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{CONV}"}]},
        {"BackupVaultName": VAULT, "ByResourceType": "DynamoDB", "NextToken": "page-2"})
    with stub, backup:
        points = flow.recovery_points(ENV, aws, deployer)
    assert [(p.table, p.created) for p in points] == [(CONV, "2026-12-02T09:00:00Z"),
                                                      (MEMS, "2026-12-01T09:00:00Z")]


# ------------------------------------------------------------------------ the CLI

def test_the_cli_dry_run_prints_the_plan_and_changes_nothing(
        home: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from typer.testing import CliRunner

    from pai_cli import wiring
    from pai_cli.cli.main import app

    aws = Aws(REGION)
    stub = Stubber(aws.client("cloudformation"))
    deployed(stub, home["key_arn"])
    deployed(stub, home["key_arn"])
    monkeypatch.setattr(wiring, "deploy_session", lambda profile, region: aws)
    runner = CliRunner()
    tables = set(boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"])
    with stub:
        r = runner.invoke(app, ["restore", "--env", ENV, "--to-time", "latest", "--dry-run"])
        j = runner.invoke(app, ["restore", "--env", ENV, "--to-time", "latest", "--dry-run",
                                "--json"])
    assert r.exit_code == 0, r.output
    assert f"Restore plan for pai env {ENV!r} in {REGION}:" in r.output
    assert f"1. restore {CONV} to latest into a new table {CONV}.restore-" in r.output
    assert f"update pai-compute-{ENV} and pai-storage-{ENV}" in r.output
    assert "Dry run: nothing was changed." in r.output
    assert j.exit_code == 0, j.output
    out = json.loads(j.stdout[j.stdout.index("{"):])
    assert out["dry_run"] is True and out["done"] == [] and out["checks"] == []
    assert [t["kind"] for t in out["plan"]["tables"]] == ["conversations", "memories"]
    after = set(boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"])
    assert after == tables


def test_the_cli_needs_one_source_and_reads_spans() -> None:
    from typer.testing import CliRunner

    from pai_cli.cli.main import app

    r = CliRunner().invoke(app, ["restore", "--env", ENV])
    assert r.exit_code == 2 and "--to-time" in r.output
    r = CliRunner().invoke(app, ["restore", "--env", ENV, "--to-time", "yesterday-ish",
                                 "--region", REGION])
    assert r.exit_code == 2 and "is not a date" in r.output


def test_a_bad_to_time_names_to_time_and_what_it_takes() -> None:
    """The time parser is shared with `pai memory log --since`: the message names the option
    given and what it takes (a span too), never another command's option."""
    from conftest import pai

    r = pai("restore", "--env", ENV, "--to-time", "last tuesday", "--region", REGION)
    assert r.code == 2, r.err
    assert "Invalid value for --to-time: 'last tuesday' is not a date" in r.err
    assert "a span like 7d or 12h" in r.err and "--since" not in r.err
    assert "Traceback" not in r.err and r.out == ""


def test_the_restore_cli_only_parses_calls_and_renders() -> None:
    import ast

    root = Path(__file__).resolve().parent.parent / "pai_cli"
    tree = ast.parse((root / "cli" / "restore.py").read_text())
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in mods if m.split(".")[0] in ("boto3", "botocore")
                or m.startswith("pai_cli.backends") or m.startswith("pai_cli.core")}, mods


# ------------------------------------------------------------------------ the template

def load(stack: str) -> dict[str, Any]:
    return yaml.safe_load((INFRA / f"{stack}.yaml").read_text())


def test_the_backup_plan_vault_selection_and_role() -> None:
    res = load("storage")["Resources"]
    vault = res["BackupVault"]
    assert vault["Type"] == "AWS::Backup::BackupVault"
    assert vault["DeletionPolicy"] == "RetainExceptOnCreate"  # recovery points outlive a destroy
    assert vault["UpdateReplacePolicy"] == "Retain"
    assert vault["Properties"]["BackupVaultName"] == {"Fn::Sub": "pai-backups-${Env}"}
    assert vault["Properties"]["EncryptionKeyArn"] == {
        "Fn::ImportValue": {"Fn::Sub": "pai-${Env}-KeyArn"}}
    plan = res["BackupPlan"]["Properties"]["BackupPlan"]
    (rule,) = plan["BackupPlanRule"]
    assert rule["TargetBackupVault"] == {"Ref": "BackupVault"}
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"  # daily
    assert rule["Lifecycle"] == {"DeleteAfterDays": 35}
    assert rule["StartWindowMinutes"] == 60 and rule["CompletionWindowMinutes"] == 180
    selection = res["BackupSelection"]["Properties"]
    assert selection["BackupPlanId"] == {"Ref": "BackupPlan"}
    sel = selection["BackupSelection"]
    assert sel["IamRoleArn"] == {"Fn::GetAtt": ["BackupRole", "Arn"]}
    arn = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"
    assert sel["Resources"] == [
        {"Fn::If": ["OwnConversationsTable", {"Fn::GetAtt": ["ConversationsTable", "Arn"]},
                    {"Fn::Sub": arn + "${ConversationsTableName}"}]},
        {"Fn::If": ["OwnMemoriesTable", {"Fn::GetAtt": ["MemoriesTable", "Arn"]},
                    {"Fn::Sub": arn + "${MemoriesTableName}"}]}]
    role = res["BackupRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert [p["Fn::Sub"].rsplit("/", 1)[1] for p in role["ManagedPolicyArns"]] == [
        "AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"]
    # PITR stays on both tables.
    for table in ("ConversationsTable", "MemoriesTable"):
        assert res[table]["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True}


def test_the_tables_in_use_are_parameters_of_both_stacks() -> None:
    import re

    storage = load("storage")
    for kind, param in (("conversations", "ConversationsTableName"),
                        ("memories", "MemoriesTableName")):
        p = storage["Parameters"][param]
        assert p["Default"] == ""
        pattern = re.compile(p["AllowedPattern"])
        assert pattern.fullmatch("") and pattern.fullmatch(f"pai-{kind}-dev.restore-20261201-090000")
        assert not pattern.fullmatch(f"pai-{kind}-dev") and not pattern.fullmatch("other-table")
        cond = "Own" + param.removesuffix("Name")
        assert storage["Conditions"][cond] == {"Fn::Equals": [{"Ref": param}, ""]}
        out = storage["Outputs"][param]
        assert out["Value"] == {"Fn::If": [cond, {"Ref": param.removesuffix("Name")},
                                           {"Ref": param}]}
        # The own table keeps its static name (a destroy keeps it, a deploy imports it).
        table = storage["Resources"][param.removesuffix("Name")]["Properties"]["TableName"]
        assert table == {"Fn::Sub": f"pai-{kind}-${{Env}}"}
    for out in ("BackupVaultName", "BackupRoleArn", "BackupPlanId", "LimitsTableName"):
        assert out in storage["Outputs"]
    compute = load("compute")
    assert compute["Parameters"]["ConversationsTableName"]["MinLength"] == 1
    for res in compute["Resources"].values():
        if res["Type"] == "AWS::Lambda::Function":
            env = res["Properties"]["Environment"]["Variables"]
            assert env["CONVERSATIONS_TABLE"] == {"Ref": "ConversationsTableName"}
            assert env["MEMORIES_TABLE"] == {"Ref": "MemoriesTableName"}
    # Nothing imports the tables in use: a restore changes those exports.
    imported = set()
    for stack in ("security", "storage", "ai", "compute"):
        todo: list[Any] = [load(stack)]
        while todo:
            node = todo.pop()
            if isinstance(node, dict):
                if "Fn::ImportValue" in node:
                    imported.add(node["Fn::ImportValue"]["Fn::Sub"])
                todo += list(node.values())
            elif isinstance(node, list):
                todo += node
    assert imported and not imported & {"pai-${Env}-ConversationsTableName",
                                        "pai-${Env}-MemoriesTableName"}
    # The Lambda role may use restored tables of its own env only.
    role = load("security")["Resources"]["LambdaExecutionRole"]["Properties"]
    (tables,) = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]
                 if s.get("Sid") == "Tables"]
    subs = {r["Fn::Sub"].rsplit("table/", 1)[1] for r in tables["Resource"]}
    assert {"pai-conversations-${Env}.restore-*", "pai-memories-${Env}.restore-*"} <= subs


def test_deploy_keeps_the_restored_tables_in_use() -> None:
    """A later `pai deploy` passes the tables the storage stack names to compute, and keeps
    the storage stack's own parameters as a restore left them."""
    from pai_cli.deploy.deploy_parameters import table_names as _table_names

    assert _table_names("dev", {}) == {"ConversationsTableName": "pai-conversations-dev",
                                       "MemoriesTableName": "pai-memories-dev"}
    restored = {"ConversationsTableName": "pai-conversations-dev.restore-20261201-090000",
                "MemoriesTableName": "pai-memories-dev.restore-20261201-090000"}
    assert _table_names("dev", restored) == restored


def test_the_cli_restores_rebuilds_and_prints_the_checks(
        home: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`pai restore --yes --json` through CliRunner: the wiring's rebuild over moto, the
    outcome as JSON (what it did, the counts, the index, every check), exit 0."""
    import boto3
    from typer.testing import CliRunner

    from pai_cli import wiring
    from pai_cli.cli.main import app
    from pai_cli.config import load_settings

    w = wiring.Wiring(load_settings("alice"))
    put_memories(w, "alice", ["The passport is in the top drawer"])
    ddb = boto3.client("dynamodb", region_name=REGION)
    stamps = {t: ddb.describe_continuous_backups(TableName=t)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["LatestRestorableDateTime"].astimezone(
            dt.UTC).strftime("%Y%m%d-%H%M%S") for t in (CONV, MEMS)}
    new_conv, new_mems = f"{CONV}.restore-{stamps[CONV]}", f"{MEMS}.restore-{stamps[MEMS]}"
    aws = Aws(REGION)
    stub = Stubber(aws.client("cloudformation"))
    deployed(stub, home["key_arn"])
    template = json.dumps({"Resources": {}})
    monitoring(stub)
    updated(stub, "compute", compute_params(), compute_params(new_conv, new_mems), template)
    updated(stub, "storage", storage_params(), storage_params(new_conv, new_mems), template)
    stub.add_response("describe_stacks", stack_body(
        f"pai-storage-{ENV}", "UPDATE_COMPLETE", storage_outputs(new_conv, new_mems),
        storage_params(new_conv, new_mems)), {"StackName": f"pai-storage-{ENV}"})
    stub.add_response("describe_stacks", stack_body(
        f"pai-compute-{ENV}", "UPDATE_COMPLETE", None, compute_params(new_conv, new_mems)),
        {"StackName": f"pai-compute-{ENV}"})
    monkeypatch.setattr(wiring, "deploy_session", lambda profile, region: aws)
    with stub:
        r = CliRunner().invoke(app, ["restore", "--env", ENV, "--to-time", "latest", "--yes",
                                     "--json"])
        stub.assert_no_pending_responses()
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index('{\n'):])
    assert out["verified"] is True and not out["dry_run"]
    assert out["index"] == {"alice": {"memories": 1, "vectors": 1}}
    assert out["items"]["memories"]["restored"] == out["items"]["memories"]["before"]
    assert {c["what"] for c in out["checks"]} >= {f"stacks use {new_mems}",
                                                  "vectors match memories"}
    assert all(c["ok"] for c in out["checks"])
    assert [line.split(" ")[0] for line in out["done"]] == [
        "started", "started", "turned", "updated", "updated", "rebuilt"]
