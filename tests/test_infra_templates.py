"""The CloudFormation templates, read as data: what moto ignores (TTL, PITR, SSE, versioning,
public access blocks, lifecycle, bucket policies, key rotation, retain policies, ApiGatewayV2,
Lambda sizing, OpenSearch Serverless policies, IAM resource scoping), and cfn-lint on each."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pai_cli.backends.aws import schema
from pai_cli.backends.aws.memory_store import BY_CATEGORY, BY_TIME
from pai_cli.backends.aws.names import STACKS
from pai_cli.backends.aws.opensearch_index import INDEX as OPENSEARCH_INDEX

INFRA = Path(__file__).resolve().parent.parent / "infra"


def load(stack: str) -> dict[str, Any]:
    return yaml.safe_load((INFRA / f"{stack}.yaml").read_text())


def resources(stack: str, type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in load(stack)["Resources"].items() if v["Type"] == type_}


def one(stack: str, type_: str) -> dict[str, Any]:
    found = list(resources(stack, type_).values())
    assert len(found) == 1, (stack, type_, len(found))
    return found[0]


def sub(value: Any) -> str:
    """The template string of an Fn::Sub (either form)."""
    inner = value["Fn::Sub"]
    return inner if isinstance(inner, str) else inner[0]


def render(template: str, **values: str) -> str:
    return re.sub(r"\$\{([A-Za-z0-9_:.]+)\}", lambda m: values.get(m.group(1), m.group(0)),
                  template)


def walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def import_of(value: Any) -> str:
    return sub(value["Fn::ImportValue"])


# ------------------------------------------------------------------------ every stack

@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_env_description_and_long_form_intrinsics(stack: str) -> None:
    text = (INFRA / f"{stack}.yaml").read_text()
    assert not re.search(r"!(Ref|Sub|GetAtt|ImportValue|If|Join|Select|Split|Equals|Not)\b", text)
    tpl = load(stack)
    assert tpl["Description"].startswith(f"pai {stack} stack")
    assert tpl["Parameters"]["Env"]["AllowedPattern"] == "[a-z0-9][a-z0-9-]{0,19}"
    for output in tpl["Outputs"].values():
        if "Export" in output:
            assert sub(output["Export"]["Name"]).startswith("pai-${Env}-")
    for node in walk(tpl):
        if isinstance(node, dict) and "Fn::ImportValue" in node:
            assert sub(node["Fn::ImportValue"]).startswith("pai-${Env}-")


def test_imports_match_exports() -> None:
    exported = {sub(o["Export"]["Name"]) for s in STACKS for o in load(s)["Outputs"].values()
                if "Export" in o}
    for stack in STACKS:
        for node in walk(load(stack)):
            if isinstance(node, dict) and "Fn::ImportValue" in node:
                assert import_of(node) in exported, (stack, import_of(node))


def test_contract_outputs() -> None:
    assert {"KeyArn", "KeyAlias", "LambdaRoleArn", "LambdaRoleName",
            "ArtifactBucketName"} <= set(load("security")["Outputs"])
    assert {"ConversationsTableName", "MemoriesTableName",
            "MemoryBucketName"} <= set(load("storage")["Outputs"])
    assert {"MemoryQueueUrl", "MemoryQueueArn", "DeadLetterQueueUrl"} <= set(
        load("storage")["Outputs"])
    ai = load("ai")["Outputs"]
    assert {"VectorBucketName", "VectorIndexName", "CollectionName", "CollectionEndpoint"} <= set(ai)
    assert ai["CollectionName"]["Condition"] == ai["CollectionEndpoint"]["Condition"] == "UseOpenSearch"
    # The S3 Vectors index is "memories"; the OpenSearch adapter's index is pai-memories.
    assert ai["VectorIndexName"]["Value"] == {"Fn::If": ["CurrentIsOpenSearch", OPENSEARCH_INDEX,
                                                         "memories"]}
    assert {"ApiUrl", "AgentFunctionUrl", "AgentFunctionName", "MemoryFunctionName",
            "SearchFunctionName", "MemoryWriterFunctionName",
            "ApiCallerPolicyArn"} <= set(load("compute")["Outputs"])
    assert set(load("security")["Parameters"]) == {"Env", "DeployerArn", "ChatModelId",
                                                   "ChatFoundationModelId", "EmbeddingModelId",
                                                   "ExistingKeyArn", "AuthMode"}
    assert set(load("storage")["Parameters"]) == {"Env", "AlarmTopicArn",
                                                  "ConversationsTableName", "MemoriesTableName"}
    assert set(load("ai")["Parameters"]) == {"Env", "VectorStore", "KeepVectorStore",
                                             "DeployerArn", "Dimension"}
    assert set(load("compute")["Parameters"]) == {
        "Env", "CodeKey", "VectorStore", "VectorBucketName", "VectorIndexName",
        "VectorSearchEndpoint", "PrincipalUsers", "AuthMode", "JwtIssuer", "JwtAudience",
        "ChatModelId", "EmbeddingModelId", "LogRetentionDays", "Tracing",
        "ConversationsTableName", "MemoriesTableName", "UserRequestsPerMinute", "UserBurst"}
    assert set(load("monitoring")["Parameters"]) == {
        "Env", "AgentFunctionName", "MemoryFunctionName", "SearchFunctionName",
        "MemoryWriterFunctionName", "ApiId", "ConversationsTableName", "MemoriesTableName",
        "MemoryQueueName", "DeadLetterQueueName", "AlarmTopicArn", "AlarmEmail",
        "ApiLatencyP95Ms", "Api5xxPercent", "QueueAgeSeconds"}
    assert {"AlarmTopicArn", "DashboardName", "DashboardUrl"} <= set(load("monitoring")["Outputs"])


def test_nothing_imports_the_ai_stack_so_the_vector_store_can_be_switched() -> None:
    """A stack cannot change an export another stack imports: the ai stack exports nothing,
    and the compute stack takes the vector names as parameters."""
    assert not [k for k, o in load("ai")["Outputs"].items() if "Export" in o]
    for node in walk(load("compute")):
        if isinstance(node, dict) and "Fn::ImportValue" in node:
            assert "Vector" not in import_of(node) and "Collection" not in import_of(node)
    tpl = load("ai")
    assert tpl["Parameters"]["KeepVectorStore"]["AllowedValues"] == ["", "s3vectors", "opensearch"]
    # During a switch both stores exist; the outputs name the current one's index.
    for store, cond in (("s3vectors", "UseS3Vectors"), ("opensearch", "UseOpenSearch")):
        assert {"Fn::Equals": [{"Ref": "KeepVectorStore"}, store]} in tpl["Conditions"][cond]["Fn::Or"]
        assert {"Fn::Equals": [{"Ref": "VectorStore"}, store]} in tpl["Conditions"][cond]["Fn::Or"]


# ------------------------------------------------------------------------ storage

def test_tables_match_the_schema_module() -> None:
    tables = {sub(t["Properties"]["TableName"]): t["Properties"]
              for k, t in resources("storage", "AWS::DynamoDB::Table").items()
              if k != "LimitsTable"}  # the request buckets: tests/test_rate_limit.py
    expected = [schema.conversations_table("pai-conversations-${Env}"),
                schema.memories_table("pai-memories-${Env}")]
    assert set(tables) == {e["TableName"] for e in expected}
    for want in expected:
        got = tables[want["TableName"]]
        assert got["BillingMode"] == want["BillingMode"] == "PAY_PER_REQUEST"
        assert got["KeySchema"] == want["KeySchema"]
        key = lambda a: a["AttributeName"]  # noqa: E731
        assert sorted(got["AttributeDefinitions"], key=key) == sorted(
            want["AttributeDefinitions"], key=key)
        by_name = lambda i: i["IndexName"]  # noqa: E731
        assert sorted(got.get("GlobalSecondaryIndexes", []), key=by_name) == sorted(
            want.get("GlobalSecondaryIndexes", []), key=by_name)
    memories = tables["pai-memories-${Env}"]
    assert {i["IndexName"] for i in memories["GlobalSecondaryIndexes"]} == {BY_TIME, BY_CATEGORY}
    assert all(i["Projection"] == {"ProjectionType": "ALL"}
               for i in memories["GlobalSecondaryIndexes"])


@pytest.mark.parametrize("table", ["ConversationsTable", "MemoriesTable"])
def test_tables_ttl_pitr_kms_and_retained(table: str) -> None:
    res = load("storage")["Resources"][table]
    props = res["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    sse = props["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
    assert import_of(sse["KMSMasterKeyId"]) == "pai-${Env}-KeyArn"
    # Kept on destroy, deleted when the create that made it rolls back (so a retry works).
    assert res["DeletionPolicy"] == "RetainExceptOnCreate"
    assert res["UpdateReplacePolicy"] == "Retain"


def test_memory_bucket() -> None:
    res = load("storage")["Resources"]["MemoryBucket"]
    props = res["Properties"]
    assert res["DeletionPolicy"] == "RetainExceptOnCreate"
    assert res["UpdateReplacePolicy"] == "Retain"
    assert sub(props["BucketName"]) == "pai-long-term-memory-${AWS::AccountId}-${Env}"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["BucketKeyEnabled"] is True
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert import_of(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == "pai-${Env}-KeyArn"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}
    rules = [r for r in props["LifecycleConfiguration"]["Rules"] if r["Status"] == "Enabled"]
    transitions = [t for r in rules for t in r.get("Transitions", [])]
    assert {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 0} in transitions
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") for r in rules)


def _deny_statements(stack: str, policy: str) -> list[dict[str, Any]]:
    doc = load(stack)["Resources"][policy]["Properties"]["PolicyDocument"]
    return [s for s in doc["Statement"] if s["Effect"] == "Deny"]


def test_memory_bucket_policy_denies_plain_http_unencrypted_puts_and_other_keys() -> None:
    res = load("storage")["Resources"]["MemoryBucketPolicy"]
    pol = res["Properties"]
    # A plain destroy keeps the bucket: its TLS-only and encryption rules stay with it.
    assert res["DeletionPolicy"] == "RetainExceptOnCreate"
    assert pol["Bucket"] == {"Ref": "MemoryBucket"}
    denies = _deny_statements("storage", "MemoryBucketPolicy")
    tls = [s for s in denies if s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
    assert tls and tls[0]["Action"] == "s3:*" and len(as_list(tls[0]["Resource"])) == 2
    unencrypted = [s for s in denies if s["Action"] == "s3:PutObject"]
    assert unencrypted[0]["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    (other_keys,) = [s for s in denies if s.get("Sid") == "DenyOtherKeys"]
    cond = other_keys["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption-aws-kms-key-id"]
    assert other_keys["Action"] == "s3:PutObject" and import_of(cond) == "pai-${Env}-KeyArn"


def test_artifact_bucket() -> None:
    props = load("security")["Resources"]["ArtifactBucket"]["Properties"]
    assert sub(props["BucketName"]) == "pai-artifacts-${AWS::AccountId}-${Env}"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    denies = _deny_statements("security", "ArtifactBucketPolicy")
    assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


# ------------------------------------------------------------------------ security

def test_key_rotation_alias_and_retain() -> None:
    tpl = load("security")
    key = tpl["Resources"]["EncryptionKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "RetainExceptOnCreate"
    assert key["UpdateReplacePolicy"] == "Retain"
    # A key a plain destroy kept is used again rather than a new one made.
    assert key["Condition"] == "NewKey"
    assert tpl["Conditions"]["NewKey"] == {"Fn::Equals": [{"Ref": "ExistingKeyArn"}, ""]}
    assert tpl["Outputs"]["KeyArn"]["Value"] == {"Fn::If": [
        "NewKey", {"Fn::GetAtt": ["EncryptionKey", "Arn"]}, {"Ref": "ExistingKeyArn"}]}
    alias = one("security", "AWS::KMS::Alias")["Properties"]
    assert sub(alias["AliasName"]) == "alias/pai-encryption-${Env}"
    assert tpl["Outputs"]["KeyAlias"]["Value"] == {"Ref": "EncryptionKeyAlias"}


ENVELOPE_CONDITION = {
    "Null": {"kms:EncryptionContext:pai:user": "false", "kms:EncryptionContext:pai:purpose": "false"},
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["pai:user", "pai:purpose"]},
    "StringEquals": {"kms:EncryptionContext:pai:purpose": ["content", "index"]},
}


def test_key_policy_scopes_key_use_to_pais_contexts_and_services() -> None:
    statements = {s["Sid"]: s for s in load("security")["Resources"]["EncryptionKey"][
        "Properties"]["KeyPolicy"]["Statement"]}
    root = statements["AccountRootAdministers"]
    assert root["Principal"]["AWS"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    assert root["Action"] == "kms:*"
    users = [s for s in statements.values() if isinstance(s["Principal"]["AWS"], list)]
    for s in users:
        assert s["Principal"]["AWS"] == [{"Ref": "DeployerArn"},
                                         {"Fn::GetAtt": ["LambdaExecutionRole", "Arn"]}]
        assert "kms:Encrypt" not in as_list(s["Action"])  # pai never encrypts with the key itself
    envelope = statements["EnvelopeDataKeys"]
    assert set(envelope["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert envelope["Condition"] == ENVELOPE_CONDITION
    s3 = statements["MemoryBucketThroughS3"]
    assert sub(s3["Condition"]["StringEquals"]["kms:ViaService"]) == "s3.${AWS::Region}.amazonaws.com"
    assert [sub(a) for a in s3["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]] == [
        "arn:${AWS::Partition}:s3:::pai-long-term-memory-${AWS::AccountId}-${Env}",
        "arn:${AWS::Partition}:s3:::pai-long-term-memory-${AWS::AccountId}-${Env}/*"]
    ddb = statements["TablesThroughDynamoDB"]
    assert sub(ddb["Condition"]["StringEquals"]["kms:ViaService"]) == (
        "dynamodb.${AWS::Region}.amazonaws.com")
    assert statements["DescribeTheKey"]["Action"] == "kms:DescribeKey"
    assert all("Condition" in s for s in users if s["Sid"] != "DescribeTheKey")


def _policy_documents(stack: str) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM and bucket policy document of a stack. Key policies are not here: in a
    key policy, "Resource": "*" is the only form AWS accepts (it means the key itself)."""
    docs = []
    for name, res in load(stack)["Resources"].items():
        props = res["Properties"]
        if res["Type"] == "AWS::IAM::Role":
            docs += [(f"{name}/{p['PolicyName']}", p["PolicyDocument"])
                     for p in props.get("Policies", [])]
            docs.append((f"{name}/trust", props["AssumeRolePolicyDocument"]))
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy",
                             "AWS::S3::BucketPolicy"):
            docs.append((name, props["PolicyDocument"]))
    return docs


NO_RESOURCE_LEVEL = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
"""Actions that take no resource ARN (the service authorization reference lists none for
them), so "*" is the only Resource they can have."""


@pytest.mark.parametrize("stack", STACKS)
def test_no_wildcard_resource_or_action_in_iam(stack: str) -> None:
    for name, doc in _policy_documents(stack):
        for statement in doc["Statement"]:
            for resource in as_list(statement.get("Resource", [])):
                if resource == "*" and set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL:
                    continue
                assert resource != "*", (stack, name, statement)
            assert "*" not in as_list(statement["Action"]), (stack, name, statement)
            if statement["Effect"] == "Allow":
                assert statement.get("Principal") != "*", (stack, name)
                for action in as_list(statement["Action"]):
                    assert not action.endswith(":*"), (stack, name, action)


def _role_statements() -> dict[str, dict[str, Any]]:
    role = load("security")["Resources"]["LambdaExecutionRole"]["Properties"]
    assert sub(role["RoleName"]) == "pai-lambda-execution-role-${Env}"
    return {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}


def test_lambda_role_scoped_to_the_pai_resources() -> None:
    st = _role_statements()
    arn = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"
    assert {sub(r) for r in st["Tables"]["Resource"]} == {
        arn + "pai-conversations-${Env}", arn + "pai-conversations-${Env}/index/*",
        arn + "pai-memories-${Env}", arn + "pai-memories-${Env}/index/*",
        arn + "pai-conversations-${Env}.restore-*", arn + "pai-memories-${Env}.restore-*"}
    bucket = "arn:${AWS::Partition}:s3:::pai-long-term-memory-${AWS::AccountId}-${Env}"
    assert sub(st["ListTheBucket"]["Resource"]) == bucket
    assert sub(st["MemoryBodies"]["Resource"]) == bucket + "/memories/*"
    assert set(st["ListTheBucket"]["Action"]) | set(st["MemoryBodies"]["Action"]) == {
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
        "s3:ListBucket", "s3:ListBucketVersions"}
    vectors = ("arn:${AWS::Partition}:s3vectors:${AWS::Region}:${AWS::AccountId}:"
               "bucket/pai-vectors-${AWS::AccountId}-${Env}")
    assert {sub(r) for r in st["VectorIndex"]["Resource"]} == {vectors, vectors + "/index/*"}
    assert set(st["VectorIndex"]["Action"]) == {
        "s3vectors:PutVectors", "s3vectors:GetVectors", "s3vectors:QueryVectors",
        "s3vectors:DeleteVectors", "s3vectors:ListVectors"}
    assert sub(st["FunctionLogs"]["Resource"]) == (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
        "log-group:/aws/lambda/pai-*-${Env}:*")
    assert set(st["MemoryJobs"]["Action"]) == {
        "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
    assert sub(st["MemoryJobs"]["Resource"]) == (
        "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:pai-memory-jobs-${Env}")
    kms = load("security")["Resources"]["LambdaKmsPolicy"]["Properties"]
    assert kms["Roles"] == [{"Ref": "LambdaExecutionRole"}]
    statements = {s["Sid"]: s for s in kms["PolicyDocument"]["Statement"]}
    assert set(statements) == {"EnvelopeEncryption", "MemoryBucketThroughS3",
                               "TablesThroughDynamoDB"}
    for s in statements.values():
        assert s["Resource"] == {"Fn::If": ["NewKey", {"Fn::GetAtt": ["EncryptionKey", "Arn"]},
                                            {"Ref": "ExistingKeyArn"}]}
        assert "kms:Encrypt" not in s["Action"] and s["Condition"]
    assert statements["EnvelopeEncryption"]["Condition"] == ENVELOPE_CONDITION


def test_bedrock_allows_inference_profile_and_foundation_models() -> None:
    st = _role_statements()
    cond, on_demand, profile = st["ChatModel"]["Resource"]["Fn::If"]
    assert cond == "OnDemandChatModel"
    assert set(st["ChatModel"]["Action"]) == {"bedrock:InvokeModel",
                                             "bedrock:InvokeModelWithResponseStream"}
    assert [sub(r) for r in profile] == [
        "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:"
        "inference-profile/${ChatModelId}",
        "arn:${AWS::Partition}:bedrock:*::foundation-model/${ChatFoundationModelId}"]
    # A model called by its own id: that model, here; never a name cut out of the id.
    assert [sub(r) for r in on_demand] == [
        "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${ChatModelId}"]
    assert "Fn::Split" not in json.dumps(load("security"))
    assert [sub(r) for r in st["EmbeddingModel"]["Resource"]] == [
        "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${EmbeddingModelId}"]
    params = load("security")["Parameters"]
    assert params["ChatModelId"]["Default"] == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert params["EmbeddingModelId"]["Default"] == "amazon.titan-embed-text-v2:0"


# ------------------------------------------------------------------------ ai

def test_s3_vectors_bucket_and_index() -> None:
    tpl = load("ai")
    assert tpl["Parameters"]["VectorStore"]["AllowedValues"] == ["s3vectors", "opensearch"]
    assert tpl["Parameters"]["VectorStore"]["Default"] == "s3vectors"
    assert tpl["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Env"}, "prod"]}
    bucket = tpl["Resources"]["VectorBucket"]
    assert bucket["Condition"] == "UseS3Vectors"
    assert sub(bucket["Properties"]["VectorBucketName"]) == "pai-vectors-${AWS::AccountId}-${Env}"
    index = tpl["Resources"]["VectorIndex"]
    props = index["Properties"]
    assert index["Condition"] == "UseS3Vectors"
    assert props["IndexName"] == "memories"
    assert props["DataType"] == schema.VECTOR_INDEX["dataType"]
    assert props["DistanceMetric"] == schema.VECTOR_INDEX["distanceMetric"]
    assert props["Dimension"] == {"Ref": "Dimension"}
    assert tpl["Parameters"]["Dimension"]["Default"] == 1024
    # user_id and category stay filterable: no key is declared non-filterable.
    assert not props.get("MetadataConfiguration", {}).get("NonFilterableMetadataKeys")


def _oss_policy(name: str) -> tuple[dict[str, Any], Any]:
    res = load("ai")["Resources"][name]
    assert res["Condition"] == "UseOpenSearch"
    text = render(sub(res["Properties"]["Policy"]), Env="dev",
                  LambdaRoleArn="arn:aws:iam::1:role/pai-lambda-execution-role-dev",
                  DeployerArn="arn:aws:iam::1:user/me")
    return res["Properties"], json.loads(text)


def test_opensearch_security_policies() -> None:
    props, enc = _oss_policy("EncryptionPolicy")
    assert props["Type"] == "encryption" and enc["AWSOwnedKey"] is True
    assert enc["Rules"] == [{"ResourceType": "collection", "Resource": ["collection/pai-vectors-dev"]}]
    props, net = _oss_policy("NetworkPolicy")
    assert props["Type"] == "network"
    assert net[0]["Rules"] == [{"ResourceType": "collection",
                                "Resource": ["collection/pai-vectors-dev"]}]
    assert net[0]["AllowFromPublic"] is True  # the MVP: SigV4 + data access policy only


def test_opensearch_data_access_names_the_role_and_the_deployer() -> None:
    props, data = _oss_policy("DataAccessPolicy")
    assert props["Type"] == "data"
    variables = props["Policy"]["Fn::Sub"][1]
    assert import_of(variables["LambdaRoleArn"]) == "pai-${Env}-LambdaRoleArn"
    both = data[0]
    assert set(both["Principal"]) == {"arn:aws:iam::1:role/pai-lambda-execution-role-dev",
                                      "arn:aws:iam::1:user/me"}
    index_rule = [r for r in both["Rules"] if r["ResourceType"] == "index"][0]
    assert index_rule["Resource"] == [f"index/pai-vectors-dev/{OPENSEARCH_INDEX}"]
    assert {"aoss:ReadDocument", "aoss:WriteDocument", "aoss:CreateIndex",
            "aoss:DescribeIndex"} <= set(index_rule["Permission"])
    collection_rule = [r for r in both["Rules"] if r["ResourceType"] == "collection"][0]
    assert collection_rule["Resource"] == ["collection/pai-vectors-dev"]


def test_opensearch_collection_and_its_iam_policy() -> None:
    res = load("ai")["Resources"]
    coll = res["Collection"]
    assert coll["Condition"] == "UseOpenSearch"
    assert set(coll["DependsOn"]) >= {"EncryptionPolicy", "NetworkPolicy"}
    assert sub(coll["Properties"]["Name"]) == "pai-vectors-${Env}"
    assert coll["Properties"]["Type"] == "VECTORSEARCH"
    assert coll["Properties"]["StandbyReplicas"] == {"Fn::If": ["IsProd", "ENABLED", "DISABLED"]}
    pol = res["LambdaAossPolicy"]
    assert pol["Type"] == "AWS::IAM::Policy" and pol["Condition"] == "UseOpenSearch"
    assert [import_of(r) for r in pol["Properties"]["Roles"]] == ["pai-${Env}-LambdaRoleName"]
    (statement,) = pol["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "aoss:APIAccessAll"
    assert statement["Resource"] == {"Fn::GetAtt": ["Collection", "Arn"]}


# ------------------------------------------------------------------------ compute

FUNCTIONS = {"AgentFunction": ("agent", 512, 60), "MemoryFunction": ("memory", 256, 30),
             "SearchFunction": ("search", 512, 30),
             "MemoryWriterFunction": ("memory_writer", 512, 120)}


@pytest.mark.parametrize("logical", FUNCTIONS)
def test_functions(logical: str) -> None:
    short, memory, timeout = FUNCTIONS[logical]
    res = load("compute")["Resources"]
    props = res[logical]["Properties"]
    assert sub(props["FunctionName"]) == f"pai-{short.replace('_', '-')}-${{Env}}"
    assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)
    assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"]
    assert props["Handler"] == f"pai_cli.api.lambda_handlers.{short}_handler"
    assert import_of(props["Role"]) == "pai-${Env}-LambdaRoleArn"
    assert import_of(props["Code"]["S3Bucket"]) == "pai-${Env}-ArtifactBucketName"
    assert props["Code"]["S3Key"] == {"Ref": "CodeKey"}
    env = props["Environment"]["Variables"]
    assert {"PAI_BACKEND": "aws", "PAI_HOME": "/tmp/pai", "POWERTOOLS_SERVICE_NAME": "pai",
            "LOG_LEVEL": "INFO"}.items() <= env.items()
    assert env["PAI_ENV"] == {"Ref": "Env"} and env["VECTOR_STORE"] == {"Ref": "VectorStore"}
    # Parameters (pai deploy passes the storage stack's outputs): `pai restore` changes them.
    assert env["CONVERSATIONS_TABLE"] == {"Ref": "ConversationsTableName"}
    assert env["MEMORIES_TABLE"] == {"Ref": "MemoriesTableName"}
    assert import_of(env["MEMORY_BUCKET"]) == "pai-${Env}-MemoryBucketName"
    assert import_of(env["KMS_KEY_ID"]) == "pai-${Env}-KeyAlias"
    assert import_of(env["KMS_KEY_ARN"]) == "pai-${Env}-KeyArn"
    assert env["VECTOR_INDEX"] == {"Ref": "VectorIndexName"}
    assert env["VECTOR_SEARCH_ENDPOINT"] == {"Ref": "VectorSearchEndpoint"}
    assert env["VECTOR_BUCKET"] == {"Ref": "VectorBucketName"}
    assert env["AI_MODEL_ID"] == {"Ref": "ChatModelId"}
    assert env["EMBEDDING_MODEL_ID"] == {"Ref": "EmbeddingModelId"}
    # Only the agent sends memory jobs; the writer receives them through its subscription.
    assert ("MEMORY_QUEUE_URL" in env) == (short == "agent")
    if short == "agent":
        assert import_of(env["MEMORY_QUEUE_URL"]) == "pai-${Env}-MemoryQueueUrl"
    if short != "memory_writer":
        assert env["PAI_PRINCIPAL_USERS"] == {"Ref": "PrincipalUsers"}
    log_group = res[props["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    assert sub(log_group["LogGroupName"]) == f"/aws/lambda/pai-{short.replace('_', '-')}-${{Env}}"
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_http_api_throttling_cors_and_access_logs() -> None:
    tpl = load("compute")
    api = one("compute", "AWS::ApiGatewayV2::Api")["Properties"]
    assert api["ProtocolType"] == "HTTP"
    cors = api["CorsConfiguration"]
    assert {"GET", "POST", "DELETE"} <= set(cors["AllowMethods"])
    assert "authorization" in cors["AllowHeaders"] and cors["AllowCredentials"] is False
    stage = one("compute", "AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 10
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 20
    logs = stage["AccessLogSettings"]
    assert logs["DestinationArn"]["Fn::GetAtt"][0] in tpl["Resources"]
    fmt = json.loads(logs["Format"])
    assert fmt["requestId"] == "$context.requestId" and fmt["status"] == "$context.status"


ROUTES = {"POST /chat": "Agent", "POST /search": "Search", "GET /memory/{id}": "Memory",
          "GET /memories": "Memory", "POST /memories": "Memory", "GET /memories/{id}": "Memory",
          "DELETE /memories/{id}": "Memory"}


def test_routes_integrations_and_auth() -> None:
    res = load("compute")["Resources"]
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in resources("compute", "AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == set(ROUTES)
    for key, target in ROUTES.items():
        route = routes[key]
        assert sub(route["Target"]) == f"integrations/${{{target}Integration}}"
        # AWS_IAM unless AuthMode is jwt or cognito; the JWT authorizer only exists under that condition.
        assert route["AuthorizationType"] == {"Fn::If": ["UseJwt", "JWT", "AWS_IAM"]}
        assert route["AuthorizerId"] == {"Fn::If": ["UseJwt", {"Ref": "JwtAuthorizer"},
                                                    {"Ref": "AWS::NoValue"}]}
        integration = res[f"{target}Integration"]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        assert integration["TimeoutInMillis"] == 30000
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [f"{target}Function", "Arn"]}
    tpl = load("compute")
    assert tpl["Parameters"]["AuthMode"]["Default"] == "iam"
    assert tpl["Conditions"]["UseJwt"] == {"Fn::Or": [
        {"Fn::Equals": [{"Ref": "AuthMode"}, "jwt"]},
        {"Fn::Equals": [{"Ref": "AuthMode"}, "cognito"]}]}
    auth = res["JwtAuthorizer"]
    assert auth["Condition"] == "UseJwt" and auth["Properties"]["AuthorizerType"] == "JWT"
    assert auth["Properties"]["JwtConfiguration"]["Issuer"] == {"Ref": "JwtIssuer"}
    assert "Audience" in auth["Properties"]["JwtConfiguration"]


def test_api_may_invoke_each_function_and_only_from_this_api() -> None:
    perms = resources("compute", "AWS::Lambda::Permission").values()
    by_function = {p["Properties"]["FunctionName"]["Ref"]: p["Properties"] for p in perms}
    assert set(by_function) == {f"{t}Function" for t in set(ROUTES.values())}
    for props in by_function.values():
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert props["Action"] == "lambda:InvokeFunction"
        assert sub(props["SourceArn"]).startswith(
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/")


def test_agent_function_url_is_buffered_with_iam_auth_and_a_caller_policy() -> None:
    url = one("compute", "AWS::Lambda::Url")["Properties"]
    assert url["TargetFunctionArn"] == {"Fn::GetAtt": ["AgentFunction", "Arn"]}
    # Lambda's Python managed runtime cannot stream a response: BUFFERED says so.
    assert url["AuthType"] == "AWS_IAM" and url["InvokeMode"] == "BUFFERED"
    caller = one("compute", "AWS::IAM::ManagedPolicy")["Properties"]
    statements = {s["Sid"]: s for s in caller["PolicyDocument"]["Statement"]}
    assert statements["HttpApi"]["Action"] == "execute-api:Invoke"
    # New function URLs need both actions (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
    assert statements["FunctionUrl"]["Action"] == "lambda:InvokeFunctionUrl"
    assert statements["FunctionUrl"]["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    assert statements["FunctionUrlInvoke"]["Action"] == "lambda:InvokeFunction"
    assert statements["FunctionUrlInvoke"]["Condition"] == {
        "Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    for s in statements.values():
        if s["Sid"] != "HttpApi":
            assert s["Resource"] == {"Fn::GetAtt": ["AgentFunction", "Arn"]}


def test_memory_queue_dead_letters_and_alarm() -> None:
    res = load("storage")["Resources"]
    queue, dlq = res["MemoryJobsQueue"]["Properties"], res["MemoryJobsDeadLetterQueue"]["Properties"]
    assert sub(queue["QueueName"]) == "pai-memory-jobs-${Env}"
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {
        "Fn::GetAtt": ["MemoryJobsDeadLetterQueue", "Arn"]}, "maxReceiveCount": 5}
    # A dead letter keeps its first enqueue time: the DLQ must keep messages longer.
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["SqsManagedSseEnabled"] is dlq["SqsManagedSseEnabled"] is True
    writer = load("compute")["Resources"]["MemoryWriterFunction"]["Properties"]
    # Lambda's SQS guidance: a visibility timeout of at least six times the function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * writer["Timeout"]
    alarm = res["MemoryJobsDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {
        "Fn::GetAtt": ["MemoryJobsDeadLetterQueue", "QueueName"]}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    mapping = one("compute", "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["FunctionName"] == {"Ref": "MemoryWriterFunction"}
    assert import_of(mapping["EventSourceArn"]) == "pai-${Env}-MemoryQueueArn"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# ------------------------------------------------------------------------ cfn-lint

@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_has_no_errors(stack: str) -> None:
    # Not importorskip: cfn-lint is in the test extra, a missing one is a failure.
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(INFRA / f"{stack}.yaml",
                        config=ManualArgs(regions=["us-east-1", "us-west-2"]))
    for m in matches:
        print(m)
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert errors == []
