"""The change-set flow of `pai deploy`, `status` and `destroy`. moto drops the outputs of
stacks made through change sets and ignores several resource types, so the flow is checked
against botocore's Stubber, which validates every request against CloudFormation's model."""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from conftest import pai

from pai_cli.backends.aws.session import Aws
from pai_cli.deploy import flow
from pai_cli.deploy.package import Artifact
from pai_cli.deploy.stacks import STACKS, Deployer, principal_arn, stack_name
from pai_cli.errors import BackendError

T = dt.datetime(2026, 11, 25, 22, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def missing(stub: Stubber, name: str) -> None:
    stub.add_client_error("describe_stacks", "ValidationError",
                          f"Stack with id {name} does not exist", 400,
                          expected_params={"StackName": name})


def stack(stub: Stubber, name: str, status: str, outputs: list | None = None,
          parameters: dict[str, str] | None = None) -> None:
    body: dict[str, Any] = {"StackName": name, "StackStatus": status, "CreationTime": T}
    if outputs:
        body["Outputs"] = outputs
    if parameters:
        body["Parameters"] = [{"ParameterKey": k, "ParameterValue": v}
                              for k, v in parameters.items()]
    stub.add_response("describe_stacks", {"Stacks": [body]}, {"StackName": name})


def ev(i: int, status: str, logical: str, rtype: str, reason: str = "") -> dict[str, Any]:
    e = {"StackId": "arn:aws:cloudformation:us-east-1:1:stack/x/1", "EventId": f"e{i}",
         "StackName": "pai-storage-test", "LogicalResourceId": logical,
         "ResourceType": rtype, "Timestamp": T, "ResourceStatus": status}
    if reason:
        e["ResourceStatusReason"] = reason
    return e


def deployer() -> tuple[Deployer, Stubber]:
    aws = Aws("us-east-1")
    d = Deployer(aws, "test", sleep=lambda s: None)
    return d, Stubber(aws.client("cloudformation"))


def test_create_change_set_execute_and_stream_events() -> None:
    d, stub = deployer()
    name = "pai-storage-test"
    missing(stub, name)
    stub.add_response("create_change_set", {"Id": "cs-1", "StackId": "st-1"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "CREATE", "TemplateBody": ANY,
        "ImportExistingResources": True,
        "Capabilities": ["CAPABILITY_NAMED_IAM"], "Tags": ANY,
        "Parameters": [{"ParameterKey": "Env", "ParameterValue": "test"}]})
    stub.add_response("describe_change_set", {"Status": "CREATE_PENDING"},
                      {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Add", "LogicalResourceId": "MemoriesTable",
            "ResourceType": "AWS::DynamoDB::Table"}}]},
        {"StackName": name, "ChangeSetName": ANY})
    with stub:
        planned = d.plan("storage", {"Env": "test"})
    assert planned.exists is False
    assert [(c.action, c.logical_id) for c in planned.changes] == [("Add", "MemoriesTable")]

    seen: list[str] = []
    stub2 = Stubber(d.aws.client("cloudformation"))
    stub2.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": name})
    stub2.add_response("execute_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    stub2.add_response("describe_stack_events", {"StackEvents": [
        ev(2, "CREATE_IN_PROGRESS", "MemoriesTable", "AWS::DynamoDB::Table"),
        ev(1, "CREATE_IN_PROGRESS", name, "AWS::CloudFormation::Stack")]}, {"StackName": name})
    stack(stub2, name, "CREATE_IN_PROGRESS")
    stub2.add_response("describe_stack_events", {"StackEvents": [
        ev(3, "CREATE_COMPLETE", "MemoriesTable", "AWS::DynamoDB::Table"),
        ev(2, "CREATE_IN_PROGRESS", "MemoriesTable", "AWS::DynamoDB::Table")]},
        {"StackName": name})
    stack(stub2, name, "CREATE_COMPLETE")
    with stub2:
        final = d.execute(planned, lambda e: seen.append(f"{e['ResourceStatus']} "
                                                         f"{e['LogicalResourceId']}"))
    assert final["StackStatus"] == "CREATE_COMPLETE"
    assert seen == [f"CREATE_IN_PROGRESS {name}", "CREATE_IN_PROGRESS MemoriesTable",
                    "CREATE_COMPLETE MemoriesTable"]  # oldest first, each once


def test_no_changes_is_reported_and_the_change_set_removed() -> None:
    d, stub = deployer()
    name = "pai-storage-test"
    stack(stub, name, "UPDATE_COMPLETE")
    stub.add_response("create_change_set", {"Id": "cs-2"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
        "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
    stub.add_response("describe_change_set", {
        "Status": "FAILED", "StatusReason": "The submitted information didn't contain changes. "
        "Submit different information to create a change set."},
        {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("delete_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    with stub:
        planned = d.plan("storage", {"Env": "test"})
    assert planned.note == "no changes" and planned.change_set is None


def test_a_failed_stack_names_the_resource_and_the_rollback_state() -> None:
    d, stub = deployer()
    name = "pai-storage-test"
    from pai_cli.deploy.stacks import Planned

    planned = Planned("storage", name, "cs-3", [], exists=False)
    failing = ev(5, "CREATE_FAILED", "MemoryBucket", "AWS::S3::Bucket",
                 "pai-long-term-memory-1-test already exists")
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": name})
    stub.add_response("execute_change_set", {}, {"StackName": name, "ChangeSetName": "cs-3"})
    stub.add_response("describe_stack_events", {"StackEvents": [failing]}, {"StackName": name})
    stack(stub, name, "ROLLBACK_COMPLETE")
    stub.add_response("describe_stack_events", {"StackEvents": [failing]}, {"StackName": name})
    stub.add_response("describe_stack_events", {"StackEvents": [failing]}, {"StackName": name})
    with stub, pytest.raises(BackendError) as err:
        d.execute(planned, lambda e: None)
    msg = err.value.message
    assert "MemoryBucket (AWS::S3::Bucket): pai-long-term-memory-1-test already exists" in msg
    assert "ROLLBACK_COMPLETE" in msg


def test_a_refused_change_set_is_a_one_line_error() -> None:
    d, stub = deployer()
    name = "pai-compute-test"
    missing(stub, name)
    stub.add_response("create_change_set", {"Id": "cs-4"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "CREATE", "TemplateBody": ANY,
        "ImportExistingResources": True,
        "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
    stub.add_response("describe_change_set", {
        "Status": "FAILED", "StatusReason": "No export named pai-test-KeyArn found."},
        {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("delete_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    with stub, pytest.raises(BackendError) as err:
        d.plan("compute", {"Env": "test"})
    assert "No export named pai-test-KeyArn" in err.value.message


def test_principal_arn_names_the_role_not_the_session() -> None:
    assert principal_arn("arn:aws:sts::123:assumed-role/Admin/jane") == "arn:aws:iam::123:role/Admin"
    assert principal_arn("arn:aws:iam::123:user/jane") == "arn:aws:iam::123:user/jane"


def test_destroy_refuses_without_a_terminal(monkeypatch) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        r = pai("destroy", "--env", "test")
    assert r.code == 1 and "--yes" in r.err


def test_status_and_destroy_keep_data_by_default(monkeypatch) -> None:
    """On moto: stacks created directly (not through change sets) keep their outputs."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"MemoriesTableName": {"Value": "pai-memories-test"}}}
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        cfn.create_stack(StackName="pai-storage-test", TemplateBody=json.dumps(template))
        r = pai("status", "--env", "test", "--no-drift", "--json")
        assert r.code == 0, r.err
        rows = {s["stack"]: s for s in json.loads(r.out)["stacks"]}
        assert rows["pai-storage-test"]["status"] == "CREATE_COMPLETE"
        assert rows["pai-compute-test"]["status"] == "NOT_DEPLOYED"
        d = Deployer(Aws("us-east-1"), "test", sleep=lambda s: None)
        assert d.outputs() == {"MemoriesTableName": "pai-memories-test"}
        r = pai("destroy", "--env", "test", "--yes", "--json")
        assert r.code == 0, r.err
        summary = json.loads(r.out)
        assert summary["deleted_stacks"] == ["pai-storage-test"]
        assert summary["kept"] == ["pai-memories-test"] and "Kept" in r.err


def test_estimate_names_the_fixed_floor() -> None:
    r = pai("deploy", "--estimate", "--vector-store", "opensearch", "--json")
    doc = json.loads(r.out)
    lines = {x["item"]: x for x in doc["lines"]}
    assert lines["OpenSearch Serverless"]["fixed"] and "OCU" in lines["OpenSearch Serverless"]["note"]
    assert doc["fixed_floor_usd"] > 170
    cheap = json.loads(pai("deploy", "--estimate", "--json").out)
    # The key, the alarms and the dashboard (list prices: the free tier is not counted).
    assert cheap["fixed_floor_usd"] < 7 and cheap["monthly_usd"] < doc["monthly_usd"]


def test_principal_arn_keeps_the_sso_path() -> None:
    arn = principal_arn("arn:aws:sts::123:assumed-role/AWSReservedSSO_Admin_0123abcd/alice")
    assert arn == "arn:aws:iam::123:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123abcd"
    assert principal_arn("arn:aws:sts::123:assumed-role/Ops/x",
                         "arn:aws:iam::123:role/team/Ops") == "arn:aws:iam::123:role/team/Ops"


def test_a_rolled_back_first_create_is_deleted_before_trying_again() -> None:
    d, stub = deployer()
    name = "pai-compute-test"
    stack(stub, name, "ROLLBACK_COMPLETE")
    stub.add_response("delete_stack", {}, {"StackName": name})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": name})
    missing(stub, name)
    stub.add_response("create_change_set", {"Id": "cs-5"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "CREATE", "TemplateBody": ANY,
        "ImportExistingResources": True,
        "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": []},
                      {"StackName": name, "ChangeSetName": ANY})
    with stub:
        planned = d.plan("compute", {"Env": "test"})
    assert planned.exists is False and planned.change_set


# --- the commands as functions (pai_cli.deploy.flow) -------------------------------------

ENV = "test"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
CALLER = f"arn:aws:sts::{ACCOUNT}:user/moto"  # moto's STS caller
ARTIFACTS = "pai-artifacts-test"
OWN_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:pai-alarms-{ENV}"
DEPLOYED = {
    "storage": {"ConversationsTableName": "pai-conversations-test",
                "MemoriesTableName": "pai-memories-test",
                "MemoryQueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/pai-memory-jobs-test",
                "DeadLetterQueueUrl":
                    f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/pai-memory-jobs-dlq-test"},
    "compute": {"AgentFunctionName": "pai-agent-test", "MemoryFunctionName": "pai-memory-test",
                "SearchFunctionName": "pai-search-test",
                "MemoryWriterFunctionName": "pai-memory-writer-test", "ApiId": "a1b2c3"}}
"""The outputs the monitoring stack's parameters are read from."""
WATCHED = {"AgentFunctionName": "pai-agent-test", "MemoryFunctionName": "pai-memory-test",
           "SearchFunctionName": "pai-search-test",
           "MemoryWriterFunctionName": "pai-memory-writer-test", "ApiId": "a1b2c3",
           "ConversationsTableName": "pai-conversations-test",
           "MemoriesTableName": "pai-memories-test", "MemoryQueueName": "pai-memory-jobs-test",
           "DeadLetterQueueName": "pai-memory-jobs-dlq-test"}


@dataclass
class Calls:
    notes: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    built: int = 0


def params(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def plan_new(stub: Stubber, name: str, values: dict[str, str]) -> None:
    missing(stub, name)
    stub.add_response("create_change_set", {"Id": f"cs-{name}"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "CREATE", "TemplateBody": ANY,
        "ImportExistingResources": True,
        "Capabilities": ["CAPABILITY_NAMED_IAM"], "Tags": ANY, "Parameters": params(values)})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Add", "LogicalResourceId": "Thing", "ResourceType": "AWS::SNS::Topic"}}]},
        {"StackName": name, "ChangeSetName": ANY})


def plan_unchanged(stub: Stubber, name: str) -> None:
    stack(stub, name, "UPDATE_COMPLETE")
    stub.add_response("create_change_set", {"Id": f"cs-{name}"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
        "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
    stub.add_response("describe_change_set", {
        "Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."},
        {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("delete_change_set", {}, {"StackName": name, "ChangeSetName": ANY})


def run_change_set(stub: Stubber, name: str, i: int) -> None:
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": name})
    stub.add_response("execute_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("describe_stack_events", {"StackEvents": [
        ev(i, "CREATE_COMPLETE", name, "AWS::CloudFormation::Stack")]}, {"StackName": name})
    stack(stub, name, "CREATE_COMPLETE")


def discarded(stub: Stubber, name: str) -> None:
    stub.add_response("delete_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("delete_stack", {}, {"StackName": name})  # the empty REVIEW_IN_PROGRESS one


def described(stub: Stubber, outputs: dict[str, dict[str, str]]) -> None:
    """Deployer.outputs(): one DescribeStacks per stack, in order."""
    for s in STACKS:
        name = stack_name(s, ENV)
        if s in outputs:
            stack(stub, name, "CREATE_COMPLETE",
                  [{"OutputKey": k, "OutputValue": v} for k, v in outputs[s].items()])
        else:
            missing(stub, name)


@pytest.fixture
def moto_aws() -> Any:
    from moto import mock_aws

    with mock_aws():
        aws = Aws(REGION)
        aws.client("s3").create_bucket(Bucket=ARTIFACTS,
                                       CreateBucketConfiguration={"LocationConstraint": REGION})
        yield aws


def packager(tmp_path: Path, calls: Calls) -> Callable[[Callable[[str], None]], Artifact]:
    """A stand-in for the arm64 build (tests/test_packaging.py builds the real one)."""
    zip_path = tmp_path / "pai-lambda.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("pai_cli/__init__.py", "")
    data = zip_path.read_bytes()

    def build(progress: Callable[[str], None]) -> Artifact:
        calls.built += 1
        progress("building (test)")
        return Artifact(zip_path, hashlib.sha256(data).hexdigest(), len(data), 0, [])
    return build


def callbacks(calls: Calls, answer: bool = True) -> dict[str, Any]:
    def confirm(question: str) -> bool:
        calls.questions.append(question)
        return answer
    return {"confirm": confirm, "on_note": calls.notes.append,
            "on_event": lambda e: calls.events.append(f"{e['ResourceStatus']} {e['LogicalResourceId']}")}


def test_deploy_creates_every_stack_in_order_with_the_derived_parameters(
        moto_aws: Aws, tmp_path: Path) -> None:
    calls = Calls()
    build = packager(tmp_path, calls)
    key = f"lambda/pai-{build(lambda _m: None).sha256[:20]}.zip"
    calls.built = 0
    chat = {"ChatModelId": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",  # the region's profile
            "ChatFoundationModelId": "anthropic.claude-haiku-4-5-20251001-v1:0"}
    endpoint = "https://abc.us-east-1.aoss.amazonaws.com"
    declared = {
        "security": {"Env": ENV, "DeployerArn": CALLER, **chat,
                     "EmbeddingModelId": "amazon.titan-embed-text-v2:0", "AuthMode": "jwt",
                     "ExistingKeyArn": ""},
        # The dead-letter alarm tells the monitoring stack's topic, named before it exists.
        "storage": {"Env": ENV, "AlarmTopicArn": OWN_TOPIC, "ConversationsTableName": "",
                    "MemoriesTableName": ""},
        "ai": {"Env": ENV, "DeployerArn": CALLER, "VectorStore": "opensearch", "Dimension": "1024",
               "KeepVectorStore": ""},
        # The vector names come from the ai stack's outputs, as parameters (not imports).
        "compute": {"Env": ENV, "VectorStore": "opensearch", "ChatModelId": chat["ChatModelId"],
                    "EmbeddingModelId": "amazon.titan-embed-text-v2:0", "AuthMode": "jwt",
                    "JwtIssuer": "https://id.example", "JwtAudience": "pai", "CodeKey": key,
                    "VectorBucketName": "", "VectorIndexName": "pai-memories",
                    "VectorSearchEndpoint": endpoint,
                    # The tables the storage stack names (a restore's), as parameters too.
                    "ConversationsTableName": "pai-conversations-test",
                    "MemoriesTableName": "pai-memories-test.restore-20261201-090000",
                    "PrincipalUsers": '{"arn:aws:iam::1:user/a": "a"}',
                    "Tracing": "Active"},
        # What it watches, from the other stacks' outputs; alarms to its own topic + e-mail.
        # (The table names come first: the compute stack's step set them already.)
        "monitoring": {"Env": ENV, "ConversationsTableName": "", "MemoriesTableName": "",
                       **WATCHED, "AlarmTopicArn": "", "AlarmEmail": "ops@example.com"},
    }
    stub = Stubber(moto_aws.client("cloudformation"))
    for i, s in enumerate(STACKS):
        if s == "compute":
            described(stub, {"security": {"ArtifactBucketName": ARTIFACTS},
                             "storage": {"MemoriesTableName":
                                         "pai-memories-test.restore-20261201-090000"},
                             "ai": {"VectorIndexName": "pai-memories",
                                    "CollectionEndpoint": endpoint}})
        if s == "monitoring":
            described(stub, DEPLOYED)
        plan_new(stub, stack_name(s, ENV), declared[s])
        run_change_set(stub, stack_name(s, ENV), i)
    final = {"security": {"ArtifactBucketName": ARTIFACTS, "KeyArn": "arn:k"},
             "storage": {"MemoriesTableName": "pai-memories-test"},
             "ai": {"VectorIndexName": "pai-memories", "CollectionEndpoint": endpoint},
             "compute": {"ApiUrl": "https://api.example"}}
    described(stub, final)
    options = flow.DeployOptions(ENV, vector_store="opensearch", auth="jwt",
                                 jwt_issuer="https://id.example", jwt_audience="pai",
                                 principal_users={"arn:aws:iam::1:user/a": "a"},
                                 tracing=True, alarm_email="ops@example.com")
    asked_model: list[str] = []
    with stub:
        done = flow.deploy(options, moto_aws, **callbacks(calls), package=build,
                           deployer=Deployer(moto_aws, ENV, sleep=lambda s: None),
                           check_model=lambda aws, m: asked_model.append(m))
        stub.assert_no_pending_responses()
    assert asked_model == [chat["ChatModelId"]]  # the deployer made the first model call
    assert done.changed and not done.aborted and not done.dry_run and not done.model_problem
    assert done.changed_stacks == [stack_name(s, ENV) for s in STACKS]
    assert (done.account, done.caller_arn, done.region) == (ACCOUNT, CALLER, REGION)
    assert done.outputs == {k: v for o in final.values() for k, v in o.items()}
    assert calls.questions == [f"Apply these changes to {stack_name(s, ENV)} in {REGION}?"
                               for s in STACKS]
    assert calls.events == [f"CREATE_COMPLETE {stack_name(s, ENV)}" for s in STACKS]
    assert calls.notes[0] == f"Deploying pai env 'test' to account {ACCOUNT} in {REGION} as {CALLER}."
    assert "pai-storage-test: create, 1 change(s):" in calls.notes
    assert "  Add     Thing (AWS::SNS::Topic)" in calls.notes
    # The code went to the artifact bucket under its hash, once.
    assert calls.built == 1
    body = moto_aws.client("s3").get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()
    assert body == (tmp_path / "pai-lambda.zip").read_bytes()


def test_auth_cognito_makes_the_pool_and_authorizes_the_api_with_it(moto_aws: Aws,
                                                                     tmp_path: Path) -> None:
    """--auth cognito: the security stack gets AuthMode (it makes the pool and the CLI's
    client); the compute stack's JWT authorizer gets the pool's issuer and the client id
    from the security stack's outputs, as parameters."""
    calls = Calls()
    build = packager(tmp_path, calls)
    key = f"lambda/pai-{build(lambda _m: None).sha256[:20]}.zip"
    chat = {"ChatModelId": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "ChatFoundationModelId": "anthropic.claude-haiku-4-5-20251001-v1:0"}
    issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_AbC123"
    security_out = {"ArtifactBucketName": ARTIFACTS, "UserPoolId": f"{REGION}_AbC123",
                    "UserPoolClientId": "cli0client", "UserPoolIssuer": issuer}
    declared = {
        "security": {"Env": ENV, "DeployerArn": CALLER, **chat,
                     "EmbeddingModelId": "amazon.titan-embed-text-v2:0", "AuthMode": "cognito",
                     "ExistingKeyArn": ""},
        "storage": {"Env": ENV, "AlarmTopicArn": OWN_TOPIC, "ConversationsTableName": "",
                    "MemoriesTableName": ""},
        "ai": {"Env": ENV, "DeployerArn": CALLER, "VectorStore": "s3vectors", "Dimension": "1024",
               "KeepVectorStore": ""},
        "compute": {"Env": ENV, "VectorStore": "s3vectors", "ChatModelId": chat["ChatModelId"],
                    "EmbeddingModelId": "amazon.titan-embed-text-v2:0", "AuthMode": "cognito",
                    "JwtIssuer": issuer, "JwtAudience": "cli0client", "CodeKey": key,
                    "VectorBucketName": "pai-vectors-1-test", "VectorIndexName": "memories",
                    "VectorSearchEndpoint": "",
                    "ConversationsTableName": "pai-conversations-test",
                    "MemoriesTableName": "pai-memories-test", "PrincipalUsers": "{}",
                    "Tracing": "PassThrough"},
        "monitoring": {"Env": ENV, "ConversationsTableName": "", "MemoriesTableName": "",
                       **WATCHED, "AlarmTopicArn": "", "AlarmEmail": ""},
    }
    stub = Stubber(moto_aws.client("cloudformation"))
    for i, s in enumerate(STACKS):
        if s == "compute":
            described(stub, {"security": security_out,
                             "ai": {"VectorBucketName": "pai-vectors-1-test"}})
        if s == "monitoring":
            described(stub, DEPLOYED)
        plan_new(stub, stack_name(s, ENV), declared[s])
        run_change_set(stub, stack_name(s, ENV), i)
    described(stub, {"security": security_out, "compute": {"ApiUrl": "https://api.example",
                                                           "ApiAuthMode": "cognito"}})
    with stub:
        done = flow.deploy(flow.DeployOptions(ENV, auth="cognito"), moto_aws, **callbacks(calls),
                           package=build, deployer=Deployer(moto_aws, ENV, sleep=lambda s: None),
                           check_model=lambda aws, m: None)
        stub.assert_no_pending_responses()
    assert done.changed_stacks == [stack_name(s, ENV) for s in STACKS]
    assert done.outputs["UserPoolClientId"] == "cli0client"
    assert done.outputs["ApiAuthMode"] == "cognito"


def test_a_deploy_with_nothing_to_change_changes_nothing_and_uploads_nothing(
        moto_aws: Aws, tmp_path: Path) -> None:
    calls = Calls()
    build = packager(tmp_path, calls)
    key = f"lambda/pai-{build(lambda _m: None).sha256[:20]}.zip"
    moto_aws.client("s3").put_object(Bucket=ARTIFACTS, Key=key, Body=b"uploaded before")
    stub = Stubber(moto_aws.client("cloudformation"))
    for s in STACKS:
        if s == "compute":
            described(stub, {"security": {"ArtifactBucketName": ARTIFACTS},
                             "ai": {"VectorBucketName": "pai-vectors-1-test"}})
        if s == "monitoring":
            described(stub, DEPLOYED)
        plan_unchanged(stub, stack_name(s, ENV))
    described(stub, {"storage": {"MemoriesTableName": "pai-memories-test"}})
    with stub:
        done = flow.deploy(flow.DeployOptions(ENV), moto_aws, **callbacks(calls), package=build,
                           deployer=Deployer(moto_aws, ENV, sleep=lambda s: None),
                           check_model=lambda aws, m: None)
        stub.assert_no_pending_responses()
    assert not done.changed and done.unchanged_stacks == [stack_name(s, ENV) for s in STACKS]
    assert calls.questions == [] and calls.events == []
    assert calls.notes[-1] == "No changes: every stack is up to date."
    assert done.outputs == {"MemoriesTableName": "pai-memories-test"}
    body = moto_aws.client("s3").get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()
    assert body == b"uploaded before"  # same hash, same key: not uploaded again


@pytest.mark.parametrize("answer", ["no", "no terminal"])
def test_a_change_set_nobody_said_yes_to_is_thrown_away(moto_aws: Aws, tmp_path: Path,
                                                        answer: str) -> None:
    from pai_cli.errors import InputError

    calls = Calls()
    stub = Stubber(moto_aws.client("cloudformation"))
    name = stack_name("security", ENV)
    plan_new(stub, name, {"Env": ENV, "DeployerArn": CALLER,
                          "ChatModelId": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
                          "ChatFoundationModelId": "anthropic.claude-haiku-4-5-20251001-v1:0",
                          "EmbeddingModelId": "amazon.titan-embed-text-v2:0",
                          "AuthMode": "iam", "ExistingKeyArn": ""})
    discarded(stub, name)
    hooks = callbacks(calls, answer=False)
    if answer == "no terminal":
        def no_terminal(question: str) -> bool:
            raise InputError("No terminal to confirm on: pass --yes to go ahead.")
        hooks["confirm"] = no_terminal
    deployer = Deployer(moto_aws, ENV, sleep=lambda s: None)
    with stub:
        if answer == "no":
            done = flow.deploy(flow.DeployOptions(ENV), moto_aws, **hooks,
                               package=packager(tmp_path, calls), deployer=deployer,
                               check_model=lambda aws, m: None)
            assert done.aborted and not done.changed and done.outputs == {}
        else:
            with pytest.raises(InputError):
                flow.deploy(flow.DeployOptions(ENV), moto_aws, **hooks,
                            package=packager(tmp_path, calls), deployer=deployer,
                            check_model=lambda aws, m: None)
        stub.assert_no_pending_responses()  # deleted, and nothing executed
    assert calls.built == 0 and calls.events == []


def test_a_dry_run_shows_the_first_new_stack_and_stops(moto_aws: Aws, tmp_path: Path) -> None:
    calls = Calls()
    stub = Stubber(moto_aws.client("cloudformation"))
    plan_unchanged(stub, stack_name("security", ENV))
    plan_new(stub, stack_name("storage", ENV), {"Env": ENV, "AlarmTopicArn": OWN_TOPIC,
                                                "ConversationsTableName": "",
                                                "MemoriesTableName": ""})
    discarded(stub, stack_name("storage", ENV))
    with stub:
        done = flow.deploy(flow.DeployOptions(ENV, dry_run=True), moto_aws, **callbacks(calls),
                           package=packager(tmp_path, calls),
                           deployer=Deployer(moto_aws, ENV, sleep=lambda s: None))
        stub.assert_no_pending_responses()
    assert done.dry_run and done.changed_stacks == ["pai-storage-test"]
    assert done.unchanged_stacks == ["pai-security-test"] and done.outputs == {}
    assert calls.questions == [] and calls.built == 0
    assert calls.notes[-1].startswith("Dry run: the stacks after this one import its outputs")


def test_model_parameters_name_the_profile_and_its_foundation_model() -> None:
    assert flow.model_parameters("", "ap-southeast-2") == {
        "ChatModelId": "apac.anthropic.claude-haiku-4-5-20251001-v1:0",
        "ChatFoundationModelId": "anthropic.claude-haiku-4-5-20251001-v1:0"}
    assert flow.model_parameters("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1") == {
        "ChatModelId": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "ChatFoundationModelId": "anthropic.claude-sonnet-4-5-20250929-v1:0"}
    # A model called on demand by its own id: IAM must allow that model, not the default one.
    assert flow.model_parameters("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1") == {
        "ChatModelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "ChatFoundationModelId": "anthropic.claude-3-haiku-20240307-v1:0"}


def test_the_deploy_cli_dry_run_on_moto_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the CLI, with moto's own change sets: the security stack does not exist, so
    only its change set is shown, then deleted with the empty stack it made."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        r = pai("deploy", "--env", "test", "--dry-run", "--json")
        assert r.code == 0, r.err
        assert json.loads(r.out) == {"dry_run": True}
        assert "pai-security-test: create," in r.err and "EncryptionKey (AWS::KMS::Key)" in r.err
        assert "Dry run: the stacks after this one import its outputs" in r.err
        stacks = boto3.client("cloudformation", region_name="us-east-1").list_stacks()
        assert [s["StackStatus"] for s in stacks["StackSummaries"]
                if s["StackName"] == "pai-security-test"] in ([], ["DELETE_COMPLETE"])
        # Without --yes and without a terminal: refused, and nothing left behind either.
        r = pai("deploy", "--env", "test")
        assert r.code == 1 and "pass --yes" in r.err
        stacks = boto3.client("cloudformation", region_name="us-east-1").list_stacks()
        assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks["StackSummaries"])


def test_destroy_with_delete_data_finds_and_deletes_what_the_stacks_kept(moto_aws: Aws) -> None:
    """A plain destroy left the tables, the versioned memory bucket and the key; the stacks
    are gone but the reference names and the key's tag still find them."""
    aws = moto_aws
    ddb, s3, kms = aws.client("dynamodb"), aws.client("s3"), aws.client("kms")
    for table in ("pai-conversations-test", "pai-memories-test"):
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}])
    bucket = f"pai-long-term-memory-{ACCOUNT}-test"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key="memories/alice/mem-1.json", Body=body)
    s3.delete_object(Bucket=bucket, Key="memories/alice/mem-1.json")  # a delete marker too
    key = kms.create_key(Tags=[{"TagKey": "pai:env", "TagValue": "test"}])["KeyMetadata"]
    other = kms.create_key(Tags=[{"TagKey": "pai:env", "TagValue": "prod"}])["KeyMetadata"]

    def by_id(params: dict[str, Any], **_: Any) -> None:
        # moto's ScheduleKeyDeletion finds keys by id only; KMS itself also takes the ARN.
        params["KeyId"] = params["KeyId"].rsplit("/", 1)[-1]
    kms.meta.events.register("provide-client-params.kms.ScheduleKeyDeletion", by_id)

    asked: list[str] = []
    notes: list[str] = []
    done = flow.destroy(ENV, aws, lambda q: asked.append(q) or True, lambda e: None, notes.append,
                        delete_data=True, deployer=Deployer(aws, ENV, sleep=lambda s: None))
    assert asked == [f"Delete the pai stacks of 'test' in {REGION}?", "Delete these memories for good?"]
    gone = ["pai-conversations-test", "pai-memories-test", bucket, key["Arn"]]
    assert any(n.startswith("--delete-data ALSO deletes, with no way back: " + ", ".join(gone))
               for n in notes)
    assert done.deleted_stacks == [] and done.kept == []
    assert done.deleted_data[:3] == [bucket, "pai-conversations-test", "pai-memories-test"]
    assert done.deleted_data[3].startswith(f"{key['Arn']} (deleted on ")
    assert ddb.list_tables()["TableNames"] == []
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [ARTIFACTS]
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=other["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_destroy_stops_at_the_second_no_with_nothing_deleted(moto_aws: Aws) -> None:
    aws = moto_aws
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"MemoriesTableName": {"Value": "pai-memories-test"}}}
    aws.client("cloudformation").create_stack(StackName="pai-storage-test",
                                              TemplateBody=json.dumps(template))
    answers = iter([True, False])
    done = flow.destroy(ENV, aws, lambda q: next(answers), lambda e: None, lambda n: None,
                        delete_data=True, deployer=Deployer(aws, ENV, sleep=lambda s: None))
    assert done.aborted and done.deleted_stacks == [] and done.deleted_data == []
    status = flow.status(ENV, aws, drift=False).stacks
    assert [(s.stack, s.status) for s in status if s.status != "NOT_DEPLOYED"] == [
        ("pai-storage-test", "CREATE_COMPLETE")]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_deploy_cli_only_parses_and_renders_and_deploy_imports_no_core() -> None:
    root = Path(__file__).resolve().parent.parent / "pai_cli"
    cli = _imports(root / "cli" / "deploy.py")
    assert not {m for m in cli if m.split(".")[0] in ("boto3", "botocore")
                or m.startswith("pai_cli.backends")}, cli
    for module in sorted((root / "deploy").glob("*.py")):
        assert not {m for m in _imports(module) if m.startswith("pai_cli.core")}, module.name


def test_one_stack_list() -> None:
    from pai_cli.backends.aws import names
    from pai_cli.deploy import stacks

    assert stacks.STACKS is names.STACKS and names.HOME_STACKS == names.STACKS[:3]
    infra = Path(__file__).resolve().parent.parent / "infra"
    # github-oidc.yaml is the CI deploy role, made once by hand: not a stack pai deploys.
    assert sorted(p.stem for p in infra.glob("*.yaml") if p.stem != "github-oidc") == sorted(names.STACKS)


def test_estimate_prices_what_the_deployment_bills() -> None:
    """The corrections the issue names: the us. profile costs 10% over global, prod's standby
    replicas double the OCU floor, PITR and key rotation are billed, and S3 Vectors PUTs are
    charged for the vectors written that month, not for every stored one. Every price names
    its source."""
    from pai_cli.deploy.estimate import PRICES, Usage, chat_cost, estimate

    haiku = "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert chat_cost(f"us.{haiku}", 1_000_000, 0) == pytest.approx(1.10)
    assert chat_cost(f"global.{haiku}", 1_000_000, 0) == pytest.approx(1.00)
    assert chat_cost(f"eu.{haiku}", 0, 1_000_000) == pytest.approx(5.50)

    def line(name: str, **kw: Any) -> float:
        return {x.item: x for x in estimate(**kw)}[name].monthly_usd

    dev = line("OpenSearch Serverless", vector_store="opensearch")
    prod = line("OpenSearch Serverless", vector_store="opensearch", prod=True)
    assert dev == pytest.approx(0.24 * 730 + 20000 * 4.2e-6 * 0.024)
    assert prod - dev == pytest.approx(0.24 * 730)  # a second OCU: the standby replicas
    assert line("DynamoDB point-in-time recovery") > 0
    assert [line("KMS key", usage=Usage(key_age_years=n)) for n in (0, 1, 2, 5)] == [1, 2, 3, 3]
    few, many = Usage(memories=1_000), Usage(memories=1_000_000)
    storage_only = (many.memories - few.memories) * 4.2e-6 * 0.06
    assert line("S3 Vectors", usage=many) - line("S3 Vectors", usage=few) == pytest.approx(
        storage_only)  # more stored vectors cost storage, not PUTs
    assert all(p.source for p in PRICES.values())
    doc = json.loads(pai("deploy", "--env", "prod", "--estimate", "--vector-store",
                         "opensearch", "--json").out)
    assert doc["fixed_floor_usd"] > 350 and "standby" in " ".join(x["note"] for x in doc["lines"])


def test_an_update_keeps_the_restored_tables_and_the_user_limits_unless_told(
        moto_aws: Aws, tmp_path: Path) -> None:
    """The storage stack keeps the tables a `pai restore` put in use, the compute stack is
    given them (from the storage stack's outputs), and a per-user limit set before stays
    unless --user-rate / --user-burst say otherwise."""
    calls = Calls()
    build = packager(tmp_path, calls)
    key = f"lambda/pai-{build(lambda _m: None).sha256[:20]}.zip"
    moto_aws.client("s3").put_object(Bucket=ARTIFACTS, Key=key, Body=b"uploaded before")
    restored = "pai-memories-test.restore-20261201-090000"
    current = {"storage": {"Env": ENV, "AlarmTopicArn": "", "ConversationsTableName": "",
                           "MemoriesTableName": restored},
               "compute": {"Env": ENV, "UserRequestsPerMinute": "120", "UserBurst": "20"}}
    client = moto_aws.client("cloudformation")
    sent: dict[str, dict[str, str]] = {}

    def record(params: dict[str, Any], **_: Any) -> None:
        sent[params["StackName"]] = {p["ParameterKey"]: p["ParameterValue"]
                                     for p in params["Parameters"]}
    client.meta.events.register("provide-client-params.cloudformation.CreateChangeSet", record)
    stub = Stubber(client)
    for s in STACKS:
        name = stack_name(s, ENV)
        if s == "compute":
            described(stub, {"security": {"ArtifactBucketName": ARTIFACTS},
                             "storage": {"ConversationsTableName": "pai-conversations-test",
                                         "MemoriesTableName": restored},
                             "ai": {"VectorBucketName": "pai-vectors-1-test"}})
        if s == "monitoring":
            described(stub, DEPLOYED)
        stack(stub, name, "UPDATE_COMPLETE", parameters=current.get(s, {"Env": ENV}))
        stub.add_response("create_change_set", {"Id": f"cs-{name}"}, {
            "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "UPDATE",
            "TemplateBody": ANY, "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
        stub.add_response("describe_change_set", {
            "Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."},
            {"StackName": name, "ChangeSetName": ANY})
        stub.add_response("delete_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    described(stub, {})
    with stub:
        flow.deploy(flow.DeployOptions(ENV, user_burst=5), moto_aws, **callbacks(calls),
                    package=build, deployer=Deployer(moto_aws, ENV, sleep=lambda s: None),
                    check_model=lambda aws, m: None)
        stub.assert_no_pending_responses()
    assert sent["pai-storage-test"]["MemoriesTableName"] == restored
    assert sent["pai-storage-test"]["ConversationsTableName"] == ""
    compute = sent["pai-compute-test"]
    assert (compute["ConversationsTableName"], compute["MemoriesTableName"]) == (
        "pai-conversations-test", restored)
    assert (compute["UserRequestsPerMinute"], compute["UserBurst"]) == ("120", "5")
