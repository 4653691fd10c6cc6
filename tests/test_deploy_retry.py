"""What a real account does to `pai deploy` that moto cannot: a first create that rolled back
with resources kept, a deploy after a plain destroy (kept tables, bucket and key), a
--vector-store switch, and the account's first call to a third-party model.

moto's CloudFormation models no rollback, no resource import and drops change-set outputs,
so these run CloudFormation through botocore's Stubber (each request checked against the
service model) while the other services (DynamoDB, S3, KMS) are moto's. Only a real account
shows that CloudFormation then imports the kept resources (tests/test_aws_contract.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from test_deploy_flow import (
    ACCOUNT,
    ARTIFACTS,
    CALLER,
    DEPLOYED,
    ENV,
    REGION,
    Calls,
    callbacks,
    described,
    ev,
    missing,
    moto_aws,  # noqa: F401 - a fixture
    packager,
    params,
    plan_unchanged,
    run_change_set,
    stack,
)

from pai_cli.backends.aws.names import reference_names
from pai_cli.backends.aws.session import Aws
from pai_cli.deploy import flow
from pai_cli.deploy.model_access import explain, first_call
from pai_cli.deploy.stacks import RETAINED, STACKS, Deployer, stack_name, static_names, template

PSEUDO = {"Env": ENV, "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws"}


def capture(stub: Stubber, client: Any, seen: list[dict[str, Any]]) -> None:
    """Keep every CreateChangeSet request as sent (Stubber checks it against the model)."""
    client.meta.events.register("provide-client-params.cloudformation.CreateChangeSet",
                                lambda params, **_: seen.append(dict(params)))


def test_every_kept_resource_has_a_static_name_once_rendered() -> None:
    """CloudFormation imports an existing resource only if its template name is static and
    its DeletionPolicy is Retain or RetainExceptOnCreate (the "Import AWS resources into a
    CloudFormation stack automatically" page): what pai sends meets both."""
    for s in STACKS:
        doc = json.loads(static_names(template(s), PSEUDO))
        for logical, res in doc["Resources"].items():
            if res.get("DeletionPolicy") not in RETAINED:
                continue
            for prop, value in res.get("Properties", {}).items():
                if prop.endswith("Name") or prop == "Bucket":
                    assert isinstance(value, str), (s, logical, prop, value)
    storage = json.loads(static_names(template("storage"), PSEUDO))["Resources"]
    names = reference_names(ENV, ACCOUNT)
    assert storage["ConversationsTable"]["Properties"]["TableName"] == names.conversations_table
    assert storage["MemoriesTable"]["Properties"]["TableName"] == names.memories_table
    assert storage["MemoryBucket"]["Properties"]["BucketName"] == names.memory_bucket
    policy = storage["MemoryBucketPolicy"]
    assert policy["Properties"]["Bucket"] == names.memory_bucket
    assert policy["DependsOn"] == ["MemoryBucket"]  # the Ref's ordering, kept
    # What is not kept keeps its Fn::Sub (it is never imported: a destroy deletes it).
    assert storage["MemoryJobsQueue"]["Properties"]["QueueName"] == {
        "Fn::Sub": "pai-memory-jobs-${Env}"}


@pytest.mark.parametrize("stack_", STACKS)
def test_the_rendered_templates_pass_cfn_lint(stack_: str, tmp_path) -> None:
    from cfnlint.api import ManualArgs, lint_file

    path = tmp_path / f"{stack_}.json"
    path.write_text(static_names(template(stack_), PSEUDO))
    matches = lint_file(path, config=ManualArgs(regions=[REGION]))
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []


def test_a_rolled_back_create_with_kept_resources_is_retried_by_importing_them(
        moto_aws: Aws) -> None:  # noqa: F811
    """The first create of the storage stack failed after the tables were made; with Retain
    they stayed and every retry failed on "already exists". Now: the ROLLBACK_COMPLETE stack
    is deleted, and the new change set imports what exists, by its static name."""
    names = reference_names(ENV, ACCOUNT)
    ddb = moto_aws.client("dynamodb")
    ddb.create_table(TableName=names.conversations_table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}])
    d = Deployer(moto_aws, ENV, sleep=lambda s: None)
    client = moto_aws.client("cloudformation")
    stub = Stubber(client)
    seen: list[dict[str, Any]] = []
    capture(stub, client, seen)
    name = stack_name("storage", ENV)
    failed = ev(1, "CREATE_FAILED", "ConversationsTable", "AWS::DynamoDB::Table",
                f"{names.conversations_table} already exists")
    stack(stub, name, "ROLLBACK_COMPLETE")
    stub.add_response("delete_stack", {}, {"StackName": name})
    stub.add_response("describe_stack_events", {"StackEvents": [failed]}, {"StackName": name})
    missing(stub, name)
    stub.add_response("create_change_set", {"Id": "cs-retry"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "CREATE", "TemplateBody": ANY,
        "ImportExistingResources": True, "Capabilities": ["CAPABILITY_NAMED_IAM"], "Tags": ANY,
        "Parameters": params({"Env": ENV, "AlarmTopicArn": ""})})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Import", "LogicalResourceId": "ConversationsTable",
            "ResourceType": "AWS::DynamoDB::Table"}},
        {"Type": "Resource", "ResourceChange": {
            "Action": "Add", "LogicalResourceId": "MemoriesTable",
            "ResourceType": "AWS::DynamoDB::Table"}}]},
        {"StackName": name, "ChangeSetName": ANY})
    with stub:
        planned = d.plan("storage", {"Env": ENV, "AlarmTopicArn": ""},
                         body=static_names(template("storage"), PSEUDO))
        stub.assert_no_pending_responses()
    assert [(c.action, c.logical_id) for c in planned.changes] == [
        ("Import", "ConversationsTable"), ("Add", "MemoriesTable")]
    sent = json.loads(seen[-1]["TemplateBody"])["Resources"]
    existing = ddb.list_tables()["TableNames"]
    # The name CloudFormation looks the table up by is the one that exists.
    assert sent["ConversationsTable"]["Properties"]["TableName"] in existing
    assert sent["ConversationsTable"]["DeletionPolicy"] == "RetainExceptOnCreate"


def test_a_deploy_after_a_plain_destroy_reuses_the_kept_key(moto_aws: Aws, tmp_path) -> None:  # noqa: F811
    kms = moto_aws.client("kms")
    tag = [{"TagKey": "pai:env", "TagValue": ENV}]
    kept = kms.create_key(Tags=tag)["KeyMetadata"]
    doomed = kms.create_key(Tags=tag)["KeyMetadata"]  # newer, but pending deletion
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    kms.create_key(Tags=[{"TagKey": "pai:env", "TagValue": "prod"}])  # another env's
    calls = Calls()
    stub = Stubber(moto_aws.client("cloudformation"))
    name = stack_name("security", ENV)
    missing(stub, name)
    stub.add_response("create_change_set", {"Id": "cs-sec"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "CREATE", "TemplateBody": ANY,
        "ImportExistingResources": True, "Capabilities": ["CAPABILITY_NAMED_IAM"], "Tags": ANY,
        "Parameters": params({
            "Env": ENV, "DeployerArn": CALLER,
            "ChatModelId": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "ChatFoundationModelId": "anthropic.claude-haiku-4-5-20251001-v1:0",
            "EmbeddingModelId": "amazon.titan-embed-text-v2:0", "AuthMode": "iam",
            "ExistingKeyArn": kept["Arn"]})})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": []},
                      {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("delete_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("delete_stack", {}, {"StackName": name})
    with stub:
        done = flow.deploy(flow.DeployOptions(ENV), moto_aws, **callbacks(calls, answer=False),
                           package=packager(tmp_path, calls),
                           deployer=Deployer(moto_aws, ENV, sleep=lambda s: None),
                           check_model=lambda aws, m: None)
        stub.assert_no_pending_responses()
    assert done.aborted
    assert f"Using the key {kept['Arn']} a plain destroy kept" in " ".join(calls.notes)


def test_an_update_keeps_the_key_and_the_mapping_it_was_deployed_with(moto_aws: Aws,  # noqa: F811
                                                                      tmp_path) -> None:
    calls = Calls()
    stub = Stubber(moto_aws.client("cloudformation"))
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    name = stack_name("security", ENV)
    stack(stub, name, "UPDATE_COMPLETE", parameters={"ExistingKeyArn": key})
    stub.add_response("create_change_set", {"Id": "cs-sec"}, {
        "StackName": name, "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
        "Capabilities": ANY, "Tags": ANY, "Parameters": params({
            "Env": ENV, "DeployerArn": CALLER,
            "ChatModelId": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "ChatFoundationModelId": "anthropic.claude-haiku-4-5-20251001-v1:0",
            "EmbeddingModelId": "amazon.titan-embed-text-v2:0", "AuthMode": "iam",
            "ExistingKeyArn": key})})
    stub.add_response("describe_change_set", {
        "Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."},
        {"StackName": name, "ChangeSetName": ANY})
    stub.add_response("delete_change_set", {}, {"StackName": name, "ChangeSetName": ANY})
    plan_unchanged(stub, stack_name("storage", ENV))
    plan_unchanged(stub, stack_name("ai", ENV))
    described(stub, {"security": {"ArtifactBucketName": ARTIFACTS},
                     "ai": {"VectorBucketName": f"pai-vectors-{ACCOUNT}-{ENV}",
                            "VectorIndexName": "memories"}})
    compute = stack_name("compute", ENV)
    stack(stub, compute, "UPDATE_COMPLETE", parameters={
        "PrincipalUsers": '{"arn:aws:iam::1:user/a": "ann"}'})
    seen: list[dict[str, Any]] = []
    capture(stub, moto_aws.client("cloudformation"), seen)
    stub.add_response("create_change_set", {"Id": "cs-c"}, {
        "StackName": compute, "ChangeSetName": ANY, "ChangeSetType": "UPDATE",
        "TemplateBody": ANY, "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
    stub.add_response("describe_change_set", {
        "Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."},
        {"StackName": compute, "ChangeSetName": ANY})
    stub.add_response("delete_change_set", {}, {"StackName": compute, "ChangeSetName": ANY})
    described(stub, DEPLOYED)  # what the monitoring stack watches
    plan_unchanged(stub, stack_name("monitoring", ENV))
    described(stub, {})
    with stub:
        flow.deploy(flow.DeployOptions(ENV), moto_aws, **callbacks(calls),
                    package=packager(tmp_path, calls),
                    deployer=Deployer(moto_aws, ENV, sleep=lambda s: None),
                    check_model=lambda aws, m: None)
        stub.assert_no_pending_responses()
    (sent,) = [{p["ParameterKey"]: p["ParameterValue"] for p in cs["Parameters"]}
               for cs in seen if cs["StackName"] == compute]
    # No --principal-user given: the deployed mapping stays, it is not reset to {}.
    assert sent["PrincipalUsers"] == '{"arn:aws:iam::1:user/a": "ann"}'
    assert sent["VectorBucketName"] == f"pai-vectors-{ACCOUNT}-{ENV}"


def test_switching_the_vector_store_keeps_the_old_one_until_every_memory_is_reindexed(
        moto_aws: Aws, tmp_path) -> None:  # noqa: F811
    calls = Calls()
    client = moto_aws.client("cloudformation")
    stub = Stubber(client)
    seen: list[dict[str, Any]] = []
    capture(stub, client, seen)
    endpoint = "https://abc.eu-west-1.aoss.amazonaws.com"
    for s in ("security", "storage"):
        plan_unchanged(stub, stack_name(s, ENV))
    ai = stack_name("ai", ENV)

    def ai_update(i: int, current: dict[str, str]) -> None:
        stack(stub, ai, "UPDATE_COMPLETE", parameters=current)
        stub.add_response("create_change_set", {"Id": f"cs-ai{i}"}, {
            "StackName": ai, "ChangeSetName": ANY, "ChangeSetType": "UPDATE",
            "TemplateBody": ANY, "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
            {"Type": "Resource", "ResourceChange": {
                "Action": "Add" if i == 1 else "Remove", "LogicalResourceId":
                "Collection" if i == 1 else "VectorBucket",
                "ResourceType": "AWS::OpenSearchServerless::Collection" if i == 1
                else "AWS::S3Vectors::VectorBucket"}}]},
            {"StackName": ai, "ChangeSetName": ANY})
        stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": ai})
        stub.add_response("execute_change_set", {}, {"StackName": ai, "ChangeSetName": ANY})
        stub.add_response("describe_stack_events", {"StackEvents": [
            ev(10 + i, "UPDATE_COMPLETE", ai, "AWS::CloudFormation::Stack")]}, {"StackName": ai})
        stack(stub, ai, "UPDATE_COMPLETE")

    ai_update(1, {"VectorStore": "s3vectors", "KeepVectorStore": ""})
    both = {"security": {"ArtifactBucketName": ARTIFACTS},
            "ai": {"VectorBucketName": f"pai-vectors-{ACCOUNT}-{ENV}",
                   "VectorIndexName": "pai-memories", "CollectionEndpoint": endpoint}}
    described(stub, both)
    compute = stack_name("compute", ENV)
    stack(stub, compute, "UPDATE_COMPLETE")
    stub.add_response("create_change_set", {"Id": "cs-c"}, {
        "StackName": compute, "ChangeSetName": ANY, "ChangeSetType": "UPDATE",
        "TemplateBody": ANY, "Capabilities": ANY, "Tags": ANY, "Parameters": ANY})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Modify", "LogicalResourceId": "AgentFunction",
            "ResourceType": "AWS::Lambda::Function"}}]},
        {"StackName": compute, "ChangeSetName": ANY})
    run_change_set(stub, compute, 20)
    described(stub, DEPLOYED)
    plan_unchanged(stub, stack_name("monitoring", ENV))
    ai_update(2, {"VectorStore": "opensearch", "KeepVectorStore": "s3vectors"})
    described(stub, both)
    order: list[str] = []

    def reindex(store: str, note: Any) -> int:
        order.append(f"reindex into {store} after {len(seen)} change sets")
        return 42

    with stub:
        done = flow.deploy(flow.DeployOptions(ENV, vector_store="opensearch"), moto_aws,
                           **callbacks(calls), package=packager(tmp_path, calls),
                           deployer=Deployer(moto_aws, ENV, sleep=lambda s: None),
                           check_model=lambda aws, m: None, reindex=reindex)
        stub.assert_no_pending_responses()
    by_stack = [(p["StackName"], {x["ParameterKey"]: x["ParameterValue"] for x in p["Parameters"]})
                for p in seen]
    ai_runs = [v for n, v in by_stack if n == ai]
    assert [(v["VectorStore"], v["KeepVectorStore"]) for v in ai_runs] == [
        ("opensearch", "s3vectors"), ("opensearch", "")]  # both, then the old one retired
    (compute_params,) = [v for n, v in by_stack if n == compute]
    assert compute_params["VectorStore"] == "opensearch"
    assert compute_params["VectorSearchEndpoint"] == endpoint
    assert compute_params["VectorBucketName"] == ""
    # The functions moved to the new store, then it was filled, then the old one went.
    # (the fifth change set: the monitoring stack's, unchanged)
    assert order == ["reindex into opensearch after 5 change sets"]
    assert (done.switched_from, done.reindexed) == ("s3vectors", 42)
    assert calls.questions[-1].startswith("Retire the old vector store (s3vectors)")


def test_reindex_everyone_fills_the_new_store_for_every_user(monkeypatch, pai_home) -> None:
    """What `pai deploy` passes as `reindex`: every user of the AWS home (found by a Scan of
    the keys), re-embedded into the named store; the event and meta partitions are not users."""
    from fakes.aws_home import moto_aws_home
    from fakes.opensearch_server import aoss_fake

    from pai_cli.config import load_settings
    from pai_cli.wiring import Wiring, reindex_everyone

    pai_home.mkdir(parents=True, exist_ok=True)
    with aoss_fake() as (fake, server), moto_aws_home(monkeypatch) as _:
        (pai_home / "config.toml").write_text(
            f'embedder = "local"\n[aws_names]\nopensearch_endpoint = "{server.url}"\n')
        w = Wiring(load_settings("alice"))
        for user, text in (("alice", "the kayak is blue"), ("bob", "the canoe is red")):
            w.memories.add(user, text)
        w.close()
        notes: list[str] = []
        n = reindex_everyone("test", "opensearch", None, "us-east-1", notes.append)
    assert n == 2 and notes == ["  alice: 1 memories", "  bob: 1 memories"]
    users = sorted(d.source["user_id"] for d in fake.indexes["pai-memories"].values())
    assert users == ["alice", "bob"]


@pytest.mark.parametrize(("code", "message", "words"), [
    ("AccessDeniedException", "Model access is denied due to IAM user or service role is not "
     "authorized to perform the required AWS Marketplace actions (aws-marketplace:"
     "ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model.",
     "aws-marketplace:Subscribe"),
    ("ResourceNotFoundException", "Model use case details have not been submitted for this "
     "account. Fill out the Anthropic use case details form before using the model. If you "
     "have already filled out the form, try again in 15 minutes.", "use-case form"),
    ("ValidationException", "The provided model identifier is invalid.", "--model"),
])
def test_the_first_model_call_says_what_to_do(code: str, message: str, words: str,
                                              monkeypatch) -> None:
    """The errors Bedrock returns on an account's first call (the model-access page; the
    use-case message as reported in obot-platform/obot#6747), through Stubber."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws = Aws("us-east-1")
    model = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    with Stubber(aws.client("bedrock-runtime")) as stub:
        stub.add_client_error("converse", code, message, 400, expected_params={
            "modelId": model, "messages": [{"role": "user", "content": [{"text": "ping"}]}],
            "inferenceConfig": {"maxTokens": 1}})
        said = first_call(aws, model)
        stub.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [{"text": "O"}]}},
            "stopReason": "max_tokens", "usage": {"inputTokens": 8, "outputTokens": 1,
                                                  "totalTokens": 9},
            "metrics": {"latencyMs": 100}})
        assert first_call(aws, model) is None
    assert said is not None and words in said and "\n" not in said
    assert explain(code, message, model, "us-east-1") == said
