"""The security and storage stacks created by moto's CloudFormation, wired by their exports.

moto creates the KMS key and alias (keeping key rotation), the IAM role and its inline
policies, the DynamoDB tables with their keys and indexes, and the buckets, and resolves
Fn::ImportValue, Fn::Sub, Fn::If, Fn::Select and Fn::Split. It ignores TTL, PITR, SSE and
bucket versioning, and has no CloudFormation support for AWS::S3::BucketPolicy (skipped with
a warning): test_infra_templates.py asserts those on the templates. The ai and compute
stacks are not created here: moto's CloudFormation has no AWS::S3Vectors::*,
AWS::OpenSearchServerless::* or AWS::ApiGatewayV2::* resources (create_stack fails on
their Fn::GetAtt), so they are checked as data and with cfn-lint only.
"""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from pai_cli.backends.aws import schema
from pai_cli.backends.aws.kms_cipher import KmsCipher
from pai_cli.backends.aws.names import resolve_names, stack_outputs
from pai_cli.backends.aws.session import Aws

INFRA = Path(__file__).resolve().parent.parent / "infra"
REGION = "us-east-1"
ENV = "test"


@pytest.fixture(autouse=True)
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def create(aws: Aws, stack: str, **params: str) -> dict[str, Any]:
    cfn = aws.client("cloudformation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not supported by moto": see docstring
        cfn.create_stack(
            StackName=f"pai-{stack}-{ENV}", TemplateBody=(INFRA / f"{stack}.yaml").read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"], Tags=[{"Key": "Project", "Value": "pai"}])
    return cfn.describe_stacks(StackName=f"pai-{stack}-{ENV}")["Stacks"][0]


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        aws = Aws(REGION)
        account = aws.account_id()
        aws.client("iam").create_user(UserName="deployer")
        deployer = f"arn:aws:iam::{account}:user/deployer"
        security = create(aws, "security", Env=ENV, DeployerArn=deployer)
        storage = create(aws, "storage", Env=ENV)
        assert security["StackStatus"] == storage["StackStatus"] == "CREATE_COMPLETE"
        yield aws


def exports(aws: Aws) -> dict[str, str]:
    # moto ignores an output's Condition and lists its export without a value (CloudFormation
    # leaves it out): the user pool's, when AuthMode is not cognito.
    return {e["Name"]: e["Value"] for e in aws.client("cloudformation").list_exports()["Exports"]
            if "Value" in e}


def test_exports_of_security_and_storage(aws: Aws) -> None:
    account = aws.account_id()
    ex = exports(aws)
    assert ex["pai-test-KeyArn"].startswith(f"arn:aws:kms:{REGION}:{account}:key/")
    assert ex["pai-test-KeyArn"].endswith(ex["pai-test-KeyId"])
    assert ex["pai-test-KeyAlias"] == "alias/pai-encryption-test"
    assert ex["pai-test-LambdaRoleArn"] == f"arn:aws:iam::{account}:role/pai-lambda-execution-role-test"
    assert ex["pai-test-LambdaRoleName"] == "pai-lambda-execution-role-test"
    assert ex["pai-test-ArtifactBucketName"] == f"pai-artifacts-{account}-test"
    assert ex["pai-test-ConversationsTableName"] == "pai-conversations-test"
    assert ex["pai-test-MemoriesTableName"] == "pai-memories-test"
    assert ex["pai-test-MemoryBucketName"] == f"pai-long-term-memory-{account}-test"


def test_kms_key_and_alias(aws: Aws) -> None:
    kms = aws.client("kms")
    ex = exports(aws)
    aliases = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/pai-encryption-test"]["TargetKeyId"] == ex["pai-test-KeyId"]
    assert kms.get_key_rotation_status(KeyId=ex["pai-test-KeyId"])["KeyRotationEnabled"] is True
    # The CLI's cipher works through the alias the stack exports.
    cipher = KmsCipher(aws, ex["pai-test-KeyAlias"], ENV)
    blob = cipher.seal("alice", "memory", "mem-1", "the cat is called Miso")
    assert KmsCipher(aws, ex["pai-test-KeyAlias"], ENV).open("alice", "memory", "mem-1",
                                                              blob) == "the cat is called Miso"


def test_lambda_role_and_inline_policies(aws: Aws) -> None:
    iam = aws.client("iam")
    account = aws.account_id()
    role = "pai-lambda-execution-role-test"
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    names = set(iam.list_role_policies(RoleName=role)["PolicyNames"])
    assert names == {"pai-dynamodb", "pai-s3-memories", "pai-s3vectors", "pai-sqs",
                     "pai-bedrock", "pai-logs", "pai-kms"}

    def statements(policy: str) -> dict[str, dict[str, Any]]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        if isinstance(doc, str):  # moto 5.2 keeps a template's inline policy as a Python repr
            doc = json.loads(doc) if doc.startswith('{"') else ast.literal_eval(doc)
        return {s.get("Sid"): s for s in doc["Statement"]}

    tables = f"arn:aws:dynamodb:{REGION}:{account}:table/"
    assert set(statements("pai-dynamodb")["Tables"]["Resource"]) == {
        tables + "pai-conversations-test", tables + "pai-conversations-test/index/*",
        tables + "pai-memories-test", tables + "pai-memories-test/index/*",
        tables + "pai-conversations-test.restore-*", tables + "pai-memories-test.restore-*"}
    assert statements("pai-dynamodb")["RequestLimits"]["Resource"] == [tables + "pai-limits-test"]
    bedrock = statements("pai-bedrock")
    assert set(bedrock["ChatModel"]["Resource"]) == {
        f"arn:aws:bedrock:{REGION}:{account}:inference-profile/"
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        # the default profile's foundation model, in every region the profile routes to
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"}
    assert bedrock["EmbeddingModel"]["Resource"] == [
        f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"]
    assert statements("pai-kms")["EnvelopeEncryption"]["Resource"] == exports(aws)["pai-test-KeyArn"]
    assert statements("pai-s3-memories")["MemoryBodies"]["Resource"] == (
        f"arn:aws:s3:::pai-long-term-memory-{account}-test/memories/*")


def test_tables_have_the_schema_modules_keys(aws: Aws) -> None:
    ddb = aws.client("dynamodb")
    for want in (schema.conversations_table("pai-conversations-test"),
                 schema.memories_table("pai-memories-test")):
        got = ddb.describe_table(TableName=want["TableName"])["Table"]
        assert got["KeySchema"] == want["KeySchema"]
        assert sorted(got["AttributeDefinitions"], key=str) == sorted(
            want["AttributeDefinitions"], key=str)
        assert got["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert {(i["IndexName"], str(i["KeySchema"]), i["Projection"]["ProjectionType"])
                for i in got.get("GlobalSecondaryIndexes", [])} == {
            (i["IndexName"], str(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in want.get("GlobalSecondaryIndexes", [])}


def test_buckets_exist(aws: Aws) -> None:
    account = aws.account_id()
    buckets = {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}
    assert {f"pai-long-term-memory-{account}-test", f"pai-artifacts-{account}-test"} <= buckets


def test_names_come_from_the_stacks_outputs(aws: Aws) -> None:
    account = aws.account_id()
    found = stack_outputs(Aws(REGION), ENV)
    assert found == {"conversations_table": "pai-conversations-test",
                     "memories_table": "pai-memories-test",
                     "memory_bucket": f"pai-long-term-memory-{account}-test",
                     "key_alias": "alias/pai-encryption-test",
                     "key_arn": exports(aws)["pai-test-KeyArn"]}
    names = resolve_names(Aws(REGION), ENV, {})
    assert names.memories_table == "pai-memories-test"
    assert names.vector_bucket == f"pai-vectors-{account}-test"  # no ai stack: the reference name


def test_backup_role_limits_table_and_the_tables_in_use(aws: Aws) -> None:
    """What moto's CloudFormation makes of the backup and limit resources: the backup role
    (trusted by AWS Backup) and the limits table with its
    key. moto has no AWS::Backup::* resources (the vault, plan and selection are skipped
    with a warning): test_restore.py asserts them on the template. A storage stack given a
    restore's table names outputs those (its own tables stay)."""
    iam = aws.client("iam")
    role = iam.get_role(RoleName="pai-backup-role-test")["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"}
    # moto's CloudFormation does not attach a role's ManagedPolicyArns (no error either):
    # the two policies are asserted on the template (test_restore.py).
    table = aws.client("dynamodb").describe_table(TableName="pai-limits-test")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "user_id", "KeyType": "HASH"}]
    assert exports(aws)["pai-test-LimitsTableName"] == "pai-limits-test"
    storage = aws.client("cloudformation").describe_stacks(StackName="pai-storage-test")
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in storage["Stacks"][0]["Outputs"]}
    assert outputs["BackupRoleArn"] == role["Arn"]
    assert outputs["ConversationsTableName"] == "pai-conversations-test"
    restored = "pai-memories-test2.restore-20261201-090000"
    account = aws.account_id()
    cfn = aws.client("cloudformation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cfn.create_stack(StackName="pai-security-test2",
                         TemplateBody=(INFRA / "security.yaml").read_text(),
                         Parameters=[{"ParameterKey": "Env", "ParameterValue": "test2"},
                                     {"ParameterKey": "DeployerArn", "ParameterValue":
                                      f"arn:aws:iam::{account}:user/deployer"}],
                         Capabilities=["CAPABILITY_NAMED_IAM"])
        cfn.create_stack(StackName="pai-storage-test2",
                         TemplateBody=(INFRA / "storage.yaml").read_text(),
                         Parameters=[{"ParameterKey": "Env", "ParameterValue": "test2"},
                                     {"ParameterKey": "MemoriesTableName",
                                      "ParameterValue": restored}],
                         Capabilities=["CAPABILITY_NAMED_IAM"])
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in
               cfn.describe_stacks(StackName="pai-storage-test2")["Stacks"][0]["Outputs"]}
    assert outputs["MemoriesTableName"] == restored
    assert outputs["ConversationsTableName"] == "pai-conversations-test2"
    assert "pai-memories-test2" in aws.client("dynamodb").list_tables()["TableNames"]
