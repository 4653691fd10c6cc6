"""infra/github-oidc.yaml, the deploy workflow's role, read as data (checkov runs on it with
the other templates in test_static_checks.py): trusted for one repository's jobs in one
GitHub environment only; granting what pai deploy calls and what CloudFormation needs for
every resource type the four stacks create, on the names those resources carry; unable to
change its own permissions; each policy under IAM's size limit; left out of the wheel."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from pai_cli.backends.aws.names import STACKS

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "github-oidc.yaml"
PSEUDO = {"Env": "dev", "AWS::Partition": "aws", "AWS::Region": "us-east-1",
          "AWS::AccountId": "123456789012", "GitHubRepository": "octo-org/pai"}
ACCOUNT, REGION = PSEUDO["AWS::AccountId"], PSEUDO["AWS::Region"]

# What CloudFormation calls, as the deployer, to create, update and delete each resource
# type the stacks use (the types' handler permissions in the CloudFormation resource schema
# registry). A type missing here fails test_every_resource_type_of_the_stacks_is_covered:
# add its actions here and to the role.
REQUIRED: dict[str, list[str]] = {
    "AWS::KMS::Key": ["kms:CreateKey", "kms:DescribeKey", "kms:EnableKeyRotation",
                      "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:ListResourceTags",
                      "kms:TagResource", "kms:ScheduleKeyDeletion"],
    "AWS::KMS::Alias": ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:ListAliases"],
    "AWS::IAM::Role": ["iam:CreateRole", "iam:GetRole", "iam:PutRolePolicy", "iam:GetRolePolicy",
                       "iam:DeleteRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:TagRole",
                       "iam:DeleteRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"],
    "AWS::IAM::Policy": ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"],
    "AWS::IAM::ManagedPolicy": ["iam:CreatePolicy", "iam:GetPolicy", "iam:CreatePolicyVersion",
                                "iam:DeletePolicyVersion", "iam:ListPolicyVersions",
                                "iam:DeletePolicy"],
    "AWS::S3::Bucket": ["s3:CreateBucket", "s3:PutEncryptionConfiguration",
                        "s3:PutBucketVersioning", "s3:PutBucketPublicAccessBlock",
                        "s3:PutBucketTagging", "s3:PutLifecycleConfiguration",
                        "s3:PutBucketOwnershipControls", "s3:GetBucketLocation", "s3:DeleteBucket"],
    "AWS::S3::BucketPolicy": ["s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"],
    "AWS::DynamoDB::Table": ["dynamodb:CreateTable", "dynamodb:DescribeTable",
                             "dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive",
                             "dynamodb:DescribeTimeToLive", "dynamodb:UpdateContinuousBackups",
                             "dynamodb:DescribeContinuousBackups", "dynamodb:TagResource",
                             "dynamodb:ListTagsOfResource", "dynamodb:DeleteTable"],
    "AWS::SQS::Queue": ["sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
                        "sqs:GetQueueUrl", "sqs:TagQueue", "sqs:ListQueueTags", "sqs:DeleteQueue"],
    "AWS::CloudWatch::Alarm": ["cloudwatch:PutMetricAlarm", "cloudwatch:TagResource",
                               "cloudwatch:DeleteAlarms"],
    "AWS::CloudWatch::Dashboard": ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard",
                                   "cloudwatch:DeleteDashboards"],
    "AWS::SNS::Topic": ["sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                        "sns:TagResource", "sns:DeleteTopic"],
    "AWS::SNS::Subscription": ["sns:Subscribe", "sns:Unsubscribe"],
    "AWS::SNS::TopicPolicy": ["sns:SetTopicAttributes", "sns:GetTopicAttributes"],
    "AWS::S3Vectors::VectorBucket": ["s3vectors:CreateVectorBucket", "s3vectors:GetVectorBucket",
                                     "s3vectors:DeleteVectorBucket"],
    "AWS::S3Vectors::Index": ["s3vectors:CreateIndex", "s3vectors:GetIndex", "s3vectors:DeleteIndex"],
    "AWS::OpenSearchServerless::Collection": ["aoss:CreateCollection", "aoss:BatchGetCollection",
                                              "aoss:UpdateCollection", "aoss:DeleteCollection",
                                              "aoss:TagResource", "iam:CreateServiceLinkedRole"],
    "AWS::OpenSearchServerless::SecurityPolicy": ["aoss:CreateSecurityPolicy",
                                                  "aoss:GetSecurityPolicy",
                                                  "aoss:UpdateSecurityPolicy",
                                                  "aoss:DeleteSecurityPolicy"],
    "AWS::OpenSearchServerless::AccessPolicy": ["aoss:CreateAccessPolicy", "aoss:GetAccessPolicy",
                                                "aoss:UpdateAccessPolicy",
                                                "aoss:DeleteAccessPolicy"],
    "AWS::Lambda::Function": ["lambda:CreateFunction", "lambda:GetFunction",
                              "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                              "lambda:TagResource", "lambda:ListTags", "lambda:DeleteFunction",
                              "iam:PassRole"],
    "AWS::Lambda::Permission": ["lambda:AddPermission", "lambda:GetPolicy",
                                "lambda:RemovePermission"],
    "AWS::Lambda::Url": ["lambda:CreateFunctionUrlConfig", "lambda:GetFunctionUrlConfig",
                         "lambda:UpdateFunctionUrlConfig", "lambda:DeleteFunctionUrlConfig"],
    "AWS::Lambda::EventSourceMapping": ["lambda:CreateEventSourceMapping",
                                        "lambda:GetEventSourceMapping",
                                        "lambda:UpdateEventSourceMapping",
                                        "lambda:DeleteEventSourceMapping"],
    "AWS::Logs::LogGroup": ["logs:CreateLogGroup", "logs:PutRetentionPolicy",
                            "logs:TagResource", "logs:DeleteLogGroup"],
    "AWS::Logs::QueryDefinition": ["logs:PutQueryDefinition", "logs:DescribeQueryDefinitions",
                                   "logs:DeleteQueryDefinition"],
    "AWS::ApiGatewayV2::Api": ["apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                               "apigateway:DELETE"],
    "AWS::ApiGatewayV2::Authorizer": ["apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                      "apigateway:DELETE"],
    "AWS::ApiGatewayV2::Integration": ["apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                       "apigateway:DELETE"],
    "AWS::ApiGatewayV2::Route": ["apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                 "apigateway:DELETE"],
    # A stage with access logs: API Gateway sets up the log delivery as the caller.
    "AWS::ApiGatewayV2::Stage": ["apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                 "apigateway:DELETE", "logs:CreateLogDelivery",
                                 "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                                 "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                                 "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                                 "logs:DescribeLogGroups"],
    "AWS::Backup::BackupVault": ["backup:CreateBackupVault", "backup:DescribeBackupVault",
                                 "backup:DeleteBackupVault", "backup-storage:MountCapsule"],
    "AWS::Backup::BackupPlan": ["backup:CreateBackupPlan", "backup:GetBackupPlan",
                                "backup:UpdateBackupPlan", "backup:DeleteBackupPlan"],
    "AWS::Backup::BackupSelection": ["backup:CreateBackupSelection", "backup:GetBackupSelection",
                                     "backup:DeleteBackupSelection", "iam:PassRole"],
    "AWS::Cognito::UserPool": ["cognito-idp:CreateUserPool", "cognito-idp:DescribeUserPool",
                               "cognito-idp:UpdateUserPool", "cognito-idp:SetUserPoolMfaConfig",
                               "cognito-idp:DeleteUserPool"],
    "AWS::Cognito::UserPoolClient": ["cognito-idp:CreateUserPoolClient",
                                     "cognito-idp:DescribeUserPoolClient",
                                     "cognito-idp:UpdateUserPoolClient",
                                     "cognito-idp:DeleteUserPoolClient"],
}

# Where a resource's name is, and the ARN that name gives: the ARN each action above is
# checked against (a type not listed has no name of its own, or an id-based ARN).
NAMED = {
    "AWS::KMS::Alias": ("AliasName", "arn:aws:kms:{region}:{account}:{name}"),
    "AWS::IAM::Role": ("RoleName", "arn:aws:iam::{account}:role/{name}"),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", "arn:aws:iam::{account}:policy/{name}"),
    "AWS::S3::Bucket": ("BucketName", "arn:aws:s3:::{name}"),
    "AWS::DynamoDB::Table": ("TableName", "arn:aws:dynamodb:{region}:{account}:table/{name}"),
    "AWS::SQS::Queue": ("QueueName", "arn:aws:sqs:{region}:{account}:{name}"),
    "AWS::CloudWatch::Alarm": ("AlarmName", "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
    "AWS::CloudWatch::Dashboard": ("DashboardName", "arn:aws:cloudwatch::{account}:dashboard/{name}"),
    "AWS::SNS::Topic": ("TopicName", "arn:aws:sns:{region}:{account}:{name}"),
    "AWS::S3Vectors::VectorBucket": ("VectorBucketName",
                                     "arn:aws:s3vectors:{region}:{account}:bucket/{name}"),
    "AWS::Lambda::Function": ("FunctionName", "arn:aws:lambda:{region}:{account}:function:{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{region}:{account}:log-group:{name}"),
}

SERVICE = {"KMS": "kms", "IAM": "iam", "S3": "s3", "DynamoDB": "dynamodb", "SQS": "sqs",
           "CloudWatch": "cloudwatch", "SNS": "sns", "S3Vectors": "s3vectors",
           "OpenSearchServerless": "aoss", "Lambda": "lambda", "Logs": "logs",
           "ApiGatewayV2": "apigateway", "Backup": "backup", "Cognito": "cognito-idp"}


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def render(value: Any) -> Any:
    """A template value with Fn::Sub written out for PSEUDO (Ref of a parameter too)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        inner = value["Fn::Sub"]
        text = inner if isinstance(inner, str) else inner[0]
        return re.sub(r"\$\{([A-Za-z0-9_:.]+)\}", lambda m: PSEUDO.get(m[1], m[0]), text)
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in PSEUDO:
        return PSEUDO[value["Ref"]]
    if isinstance(value, list):
        return [render(v) for v in value]
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@functools.cache
def statements() -> tuple[dict[str, Any], ...]:
    """Every statement of the role's policies, rendered, with the policy's logical id
    (read once: granting() asks hundreds of times)."""
    res = load(TEMPLATE)["Resources"]
    out = []
    for ref in res["DeployRole"]["Properties"]["ManagedPolicyArns"]:
        doc = render(res[ref["Ref"]]["Properties"]["PolicyDocument"])
        out += [{**s, "_policy": ref["Ref"]} for s in doc["Statement"]]
    return tuple(out)


def granting(action: str, arn: str = "*") -> list[dict[str, Any]]:
    """The Allow statements that grant `action` on `arn` (IAM's wildcards: * and ?).
    arn "*": on any resource of theirs (for actions on resources with random ids)."""
    found = []
    for s in statements():
        if s["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in as_list(s["Action"])):
            continue
        if arn == "*" or any(fnmatch.fnmatchcase(arn, r) for r in as_list(s["Resource"])):
            found.append(s)
    return found


def stack_resources() -> list[tuple[str, str, dict[str, Any]]]:
    return [(stack, logical, r) for stack in STACKS
            for logical, r in load(INFRA / f"{stack}.yaml")["Resources"].items()]


# ------------------------------------------------------------------------ the template

def test_cfn_lint_finds_no_error() -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1", "us-west-2"]))
    for m in matches:
        print(m)
    assert [str(m) for m in matches if m.rule.id.startswith(("E", "W"))] == []


def test_long_form_intrinsics_and_a_description_like_the_stacks() -> None:
    text = TEMPLATE.read_text()
    assert not re.search(r"!(Ref|Sub|GetAtt|ImportValue|If|Join|Select|Split|Equals|Not)\b", text)
    tpl = load(TEMPLATE)
    assert tpl["Description"].startswith("pai GitHub deploy role")
    assert tpl["Parameters"]["Env"]["AllowedPattern"] == "[a-z0-9][a-z0-9-]{0,19}"
    assert "Export" not in json.dumps(tpl["Outputs"])  # no stack may come to depend on it


def test_the_provider_is_githubs_for_sts_and_made_once_per_account() -> None:
    tpl = load(TEMPLATE)
    provider = tpl["Resources"]["GitHubProvider"]
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    assert provider["Condition"] == "NewProvider" and provider["DeletionPolicy"] == "Retain"
    assert tpl["Conditions"]["NewProvider"] == {"Fn::Equals": [{"Ref": "ExistingProviderArn"}, ""]}
    pattern = tpl["Parameters"]["ExistingProviderArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/"
    assert re.fullmatch(pattern, provider + "token.actions.githubusercontent.com")
    assert not re.fullmatch(pattern, provider + "accounts.google.com")


def test_the_role_trusts_one_repository_in_one_github_environment_only() -> None:
    role = load(TEMPLATE)["Resources"]["DeployRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"]["Federated"] == {"Fn::If": ["NewProvider", {"Ref": "GitHubProvider"},
                                                          {"Ref": "ExistingProviderArn"}]}
    assert set(trust["Condition"]) == {"StringEquals"}  # no StringLike: no wildcard subject
    cond = render(trust["Condition"]["StringEquals"])
    assert cond == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub":
                        "repo:octo-org/pai:environment:dev"}


def test_the_repository_parameter_takes_both_forms_of_githubs_subject() -> None:
    pattern = load(TEMPLATE)["Parameters"]["GitHubRepository"]["AllowedPattern"]
    for good in ("octo-org/pai", "octo-org@123456/pai@789012", "me/pai.cli_2"):
        assert re.fullmatch(pattern, good), good
    for bad in ("octo-org/*", "*", "octo-org", "octo-org/pai:ref:refs/heads/main", "a/b/c"):
        assert not re.fullmatch(pattern, bad), bad


def test_each_policy_is_under_iams_size_limit_for_a_managed_policy() -> None:
    res = load(TEMPLATE)["Resources"]
    for ref in res["DeployRole"]["Properties"]["ManagedPolicyArns"]:
        doc = render(res[ref["Ref"]]["Properties"]["PolicyDocument"])
        # 6,144 characters, whitespace not counted.
        assert len(json.dumps(doc, separators=(",", ":"))) < 6144, ref


# ------------------------------------------------------------------------ what it grants

def test_every_resource_type_of_the_stacks_is_covered() -> None:
    types = {r["Type"] for _, _, r in stack_resources()}
    assert types - set(REQUIRED) == set(), "add these types' actions to REQUIRED and the role"


@pytest.mark.parametrize("stack", STACKS)
def test_cloudformation_may_create_update_and_delete_each_resource_on_its_name(stack: str) -> None:
    for _, logical, r in [x for x in stack_resources() if x[0] == stack]:
        rtype = r["Type"]
        arn = "*"
        if rtype in NAMED:
            prop, form = NAMED[rtype]
            name = render(r.get("Properties", {}).get(prop))
            if isinstance(name, str) and "${" not in name:
                arn = form.format(region=REGION, account=ACCOUNT, name=name)
        service = SERVICE[rtype.split("::")[1]]
        for action in REQUIRED[rtype]:
            target = arn if action.split(":")[0] == service else "*"  # another service's
            if action == "iam:PassRole":
                target = f"arn:aws:iam::{ACCOUNT}:role/pai-lambda-execution-role-dev"
            assert granting(action, target), f"{stack}/{logical} ({rtype}): {action} on {target}"


def test_the_functions_role_may_be_passed_only_to_lambda_and_backup() -> None:
    (passing,) = granting("iam:PassRole")
    assert passing["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/pai-*-dev"
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": [
        "lambda.amazonaws.com", "backup.amazonaws.com"]}}


def test_what_pai_deploy_calls_is_granted() -> None:
    """From pai_cli/deploy's own code: every CloudFormation call of the Deployer on pai's
    stack names, and the other calls of deploy and its first model call."""
    source = (ROOT / "pai_cli" / "deploy" / "stacks.py").read_text()
    calls = sorted(set(re.findall(r"\bcfn\.(\w+)\(", source)))
    assert {"create_change_set", "execute_change_set", "describe_stacks"} <= set(calls)
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/pai-security-dev/0a1b2c3d"
    for call in calls:
        action = "cloudformation:" + "".join(p.title() for p in call.split("_"))
        where = "*" if call == "describe_stack_drift_detection_status" else stack
        assert granting(action, where), action
    for action, arn in [
        ("cloudformation:TagResource", stack),  # the stacks' tags (app, pai:env)
        ("s3:GetObject", f"arn:aws:s3:::pai-artifacts-{ACCOUNT}-dev/lambda/pai-0123.zip"),
        ("s3:PutObject", f"arn:aws:s3:::pai-artifacts-{ACCOUNT}-dev/lambda/pai-0123.zip"),
        ("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/github-pai-deploy-dev"),
        ("kms:ListKeys", "*"),
        ("kms:ListResourceTags", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("kms:DescribeKey", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("bedrock:InvokeModel", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/"
                                "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("bedrock:InvokeModel", "arn:aws:bedrock:us-west-2::foundation-model/"
                                "anthropic.claude-haiku-4-5-20251001-v1:0"),
    ]:
        assert granting(action, arn), (action, arn)


def test_smoke_and_a_reindex_reach_this_environments_data_and_api() -> None:
    mem = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/pai-memories-dev"
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"):
        assert granting(action, mem) and granting(action, mem + "/index/user-created-index")
    body = f"arn:aws:s3:::pai-long-term-memory-{ACCOUNT}-dev/memories/alice/mem-1.json"
    assert granting("s3:PutObject", body) and granting("s3:DeleteObjectVersion", body)
    index = f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/pai-vectors-{ACCOUNT}-dev/index/memories"
    assert granting("s3vectors:QueryVectors", index) and granting("s3vectors:PutVectors", index)
    route = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3/$default/POST/search"
    assert granting("execute-api:Invoke", route)
    assert granting("lambda:InvokeFunctionUrl", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pai-agent-dev")
    # pai's data keys only: the key policy's encryption context, as the functions' role.
    (keys,) = [s for s in granting("kms:Decrypt") if s["Sid"] == "PaiDataKeys"]
    assert keys["Condition"]["StringEquals"] == {"kms:EncryptionContext:pai:purpose": ["content", "index"]}
    assert all("Condition" in s for s in granting("kms:GenerateDataKey"))


def test_nothing_of_another_environment_or_application_is_reachable_by_name() -> None:
    for arn in (f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/pai-memories-prod",
                f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders",
                f"arn:aws:s3:::pai-long-term-memory-{ACCOUNT}-prod/memories/a.json",
                f"arn:aws:s3:::payroll-{ACCOUNT}-dev/x",
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pai-agent-prod",
                f"arn:aws:iam::{ACCOUNT}:role/admin",
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/pai-security-prod/1",
                f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/pai-memories-dev"):
        named = [s["Sid"] for s in statements() if s["Effect"] == "Allow"
                 and "*" not in as_list(s["Resource"])
                 and any(fnmatch.fnmatchcase(arn, r) for r in as_list(s["Resource"]))
                 and not any(r.endswith((":key/*", ":collection/*", "::/apis/*", ":*/*"))
                             for r in as_list(s["Resource"]))]
        assert named == [], (arn, named)


def test_the_role_cannot_change_its_own_permissions() -> None:
    """Nothing the role owns is named pai-*, the pattern its IAM statements are scoped to."""
    res = load(TEMPLATE)["Resources"]
    own = [f"arn:aws:iam::{ACCOUNT}:role/{render(res['DeployRole']['Properties']['RoleName'])}"]
    own += [f"arn:aws:iam::{ACCOUNT}:policy/{render(r['Properties']['ManagedPolicyName'])}"
            for r in res.values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert all(not a.split("/", 1)[1].startswith("pai-") for a in own), own
    writes = ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
              "iam:DeleteRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:CreatePolicyVersion",
              "iam:SetDefaultPolicyVersion", "iam:DeletePolicy", "iam:DeleteRole",
              "iam:TagRole", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"]
    for arn in own:
        for action in writes:
            assert granting(action, arn) == [], (action, arn)


def test_no_statement_grants_a_whole_service() -> None:
    for s in statements():
        for action in as_list(s["Action"]):
            assert "*" not in action, (s["Sid"], action)


# ------------------------------------------------------------------------ how it is deployed

def test_the_readme_deploy_command_matches_the_template() -> None:
    text = (ROOT / "README.md").read_text()
    commands = re.findall(r"aws cloudformation deploy (?:[^\n]*\\\n)*[^\n]*", text)
    assert commands, "README: the OIDC role's deploy command"
    declared = set(load(TEMPLATE)["Parameters"])
    for cmd in commands:
        words = cmd.replace("\\\n", " ").split()
        assert words[words.index("--template-file") + 1] == "infra/github-oidc.yaml"
        assert words[words.index("--capabilities") + 1] == "CAPABILITY_NAMED_IAM"
        given = {w.split("=", 1)[0] for w in words[words.index("--parameter-overrides") + 1:]
                 if "=" in w}
        assert {"Env", "GitHubRepository"} <= given <= declared, given


def test_the_template_is_not_in_the_wheel(arm64: Any) -> None:
    own = [w for w in arm64.first.wheels if w.startswith("pai_cli-")]
    with zipfile.ZipFile(arm64.first.wheelhouse / own[0]) as zf:
        names = set(zf.namelist())
    assert "pai_cli/infra/github-oidc.yaml" not in names
    assert {f"pai_cli/infra/{s}.yaml" for s in STACKS} <= names
