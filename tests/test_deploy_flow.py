"""The change-set flow of `pai deploy`, `status` and `destroy`. moto drops the outputs of
stacks made through change sets and ignores several resource types, so the flow is checked
against botocore's Stubber, which validates every request against CloudFormation's model."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from conftest import pai

from pai_cli.backends.aws.session import Aws
from pai_cli.deploy.stacks import Deployer, principal_arn
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


def stack(stub: Stubber, name: str, status: str, outputs: list | None = None) -> None:
    body: dict[str, Any] = {"StackName": name, "StackStatus": status, "CreationTime": T}
    if outputs:
        body["Outputs"] = outputs
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
    assert cheap["fixed_floor_usd"] < 5 and cheap["monthly_usd"] < doc["monthly_usd"]


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
        "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": []},
                      {"StackName": name, "ChangeSetName": ANY})
    with stub:
        planned = d.plan("compute", {"Env": "test"})
    assert planned.exists is False and planned.change_set
