"""Every AWS call the adapters make on Lambda, found allowed by the role the templates give
the functions, with its conditions; the same calls against the key policy and the memory
bucket's policy; and the calls they must refuse.

The calls are not listed by hand: a chat turn, a search, the memory routes and the memory
writer run on moto (tests/test_aws_memory_queue.py's two containers), and every request
botocore builds is recorded (provide-client-params on the session, so DynamoDB's resource
clients are seen too). Each becomes the IAM request AWS would authorize (the service
authorization reference's actions and resources: TransactWriteItems is authorized per item,
DeleteObjects per key and version, a Query on an index against the index's ARN). What the
services do on the role's behalf, which no client call shows, is added by rule: S3's and
DynamoDB's use of the key (kms:ViaService), the SQS event source mapping's polling (Lambda's
SQS page), the runtime's log writes, and Bedrock's (through an inference profile the
foundation model in each destination region). moto does not enforce IAM: the evaluation is
tests/fakes/iam_policy.py, over the parsed templates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.iam_policy import Request, Values, conditions_of, decide, render
from fakes.openai_server import Reply, openai_fake
from test_api_handlers import Context, event
from test_aws_memory_queue import UID, Lambda, facts, model

from pai_cli.api import lambda_handlers
from pai_cli.backends.aws.session import Aws

INFRA = Path(__file__).resolve().parent.parent / "infra"
REGION, ACCOUNT, ENV = "us-east-1", "123456789012", "test"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pai-lambda-execution-role-{ENV}"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:user/deployer"
US_PROFILE_REGIONS = ("us-east-1", "us-east-2", "us-west-2")  # the us. profile's destinations


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]


def load(stack: str) -> dict[str, Any]:
    return yaml.safe_load((INFRA / f"{stack}.yaml").read_text())


def security_values(key_arn: str, chat: str = "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                    foundation: str = "anthropic.claude-haiku-4-5-20251001-v1:0") -> Values:
    v = Values(refs={"Env": ENV, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                     "AWS::Partition": "aws", "DeployerArn": DEPLOYER, "ChatModelId": chat,
                     "ChatFoundationModelId": foundation,
                     "EmbeddingModelId": "amazon.titan-embed-text-v2:0", "ExistingKeyArn": "",
                     "AuthMode": "iam",
                     "LambdaExecutionRole": ROLE.rsplit("/", 1)[1], "EncryptionKey": key_arn},
               attrs={"EncryptionKey.Arn": key_arn, "LambdaExecutionRole.Arn": ROLE})
    v.conditions = conditions_of(load("security"), v)
    return v


def role_policies(key_arn: str, **models: str) -> list[dict[str, Any]]:
    res = load("security")["Resources"]
    v = security_values(key_arn, **models)
    docs = [render(p["PolicyDocument"], v) for p in res["LambdaExecutionRole"]["Properties"]["Policies"]]
    return [*docs, render(res["LambdaKmsPolicy"]["Properties"]["PolicyDocument"], v)]


def key_policy(key_arn: str) -> dict[str, Any]:
    res = load("security")["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"]
    return render(res, security_values(key_arn))


def bucket_policy(key_arn: str, bucket: str) -> dict[str, Any]:
    res = load("storage")["Resources"]["MemoryBucketPolicy"]["Properties"]["PolicyDocument"]
    return render(res, Values(refs={"Env": ENV, "AWS::AccountId": ACCOUNT},
                              attrs={"MemoryBucket.Arn": f"arn:aws:s3:::{bucket}"},
                              exports={f"pai-{ENV}-KeyArn": key_arn}))


# ----------------------------------------------------------------- calls -> IAM requests

def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def queue_arn(url: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{url.rstrip('/').rsplit('/', 1)[1]}"


def via(service: str, key_arn: str, action: str, why: str, **context: str) -> Request:
    ctx = {"kms:ViaService": f"{service}.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
    ctx.update({f"kms:EncryptionContext:{k.replace('__', ':')}": v for k, v in context.items()})
    ctx["kms:EncryptionContextKeys"] = [k.replace("__", ":") for k in context]
    return Request(action, key_arn, ctx, why)


def iam_requests(call: Call, key_arn: str) -> list[Request]:
    p, op, why = call.params, call.operation, f"{call.service}.{call.operation}"
    if call.service == "dynamodb":
        if op == "TransactWriteItems":
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem"}
            return [Request(f"dynamodb:{kinds[k]}", table_arn(v["TableName"]), why=why)
                    for item in p["TransactItems"] for k, v in item.items()]
        if op in ("BatchGetItem", "BatchWriteItem"):
            return [Request(f"dynamodb:{op}", table_arn(t), why=why) for t in p["RequestItems"]]
        arn = table_arn(p["TableName"])
        if p.get("IndexName"):
            arn += f"/index/{p['IndexName']}"
        return [Request(f"dynamodb:{op}", arn, why=why)]
    if call.service == "s3":
        bucket = f"arn:aws:s3:::{p['Bucket']}"
        if op == "ListObjectVersions":
            return [Request("s3:ListBucketVersions", bucket, why=why)]
        if op == "ListObjectsV2":
            return [Request("s3:ListBucket", bucket, why=why)]
        if op == "DeleteObjects":
            return [Request("s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject",
                            f"{bucket}/{o['Key']}", why=why) for o in p["Delete"]["Objects"]]
        obj = f"{bucket}/{p['Key']}"
        if op == "PutObject":
            ctx = {"aws:SecureTransport": "true"}
            if p.get("ServerSideEncryption"):
                ctx["s3:x-amz-server-side-encryption"] = p["ServerSideEncryption"]
            if p.get("SSEKMSKeyId"):
                ctx["s3:x-amz-server-side-encryption-aws-kms-key-id"] = p["SSEKMSKeyId"]
            return [Request("s3:PutObject", obj, ctx, why),
                    via("s3", key_arn, "kms:GenerateDataKey", f"S3 for {why}", aws__s3__arn=bucket)]
        if op in ("GetObject", "HeadObject"):
            action = "s3:GetObjectVersion" if p.get("VersionId") else "s3:GetObject"
            return [Request(action, obj, why=why),
                    via("s3", key_arn, "kms:Decrypt", f"S3 for {why}", aws__s3__arn=bucket)]
        if op == "DeleteObject":
            return [Request("s3:DeleteObjectVersion" if p.get("VersionId") else "s3:DeleteObject",
                            obj, why=why)]
    if call.service == "kms":
        ctx: dict[str, Any] = {}
        for k, v in (p.get("EncryptionContext") or {}).items():
            ctx[f"kms:EncryptionContext:{k}"] = v
        ctx["kms:EncryptionContextKeys"] = sorted(p.get("EncryptionContext") or {})
        if op in ("GenerateDataKey", "Decrypt", "DescribeKey"):
            return [Request(f"kms:{op}", key_arn, ctx, why)]
    if call.service == "s3vectors":
        arn = (f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{p['vectorBucketName']}"
               f"/index/{p['indexName']}")
        return [Request(f"s3vectors:{op}", arn, why=why)]
    if call.service == "sqs":
        return [Request(f"sqs:{op}", queue_arn(p["QueueUrl"]), why=why)]
    raise AssertionError(f"no IAM mapping for {why}: add one (and the permission, if needed)")


def service_side(calls: list[Call], key_arn: str, queue_url: str) -> list[Request]:
    """What AWS does as the role that no client call shows."""
    tables = sorted({p for c in calls if c.service == "dynamodb"
                     for p in ([c.params["TableName"]] if "TableName" in c.params else
                               [i[k]["TableName"] for i in c.params.get("TransactItems", [])
                                for k in i] + list(c.params.get("RequestItems", {})))})
    out = [via("dynamodb", key_arn, action, f"DynamoDB's table key for {t}",
               aws__dynamodb__tableName=t)
           for t in tables for action in ("kms:Decrypt", "kms:GenerateDataKey")]
    out += [Request(f"sqs:{a}", queue_arn(queue_url), why="the SQS event source mapping")
            for a in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes",
                      "ChangeMessageVisibility")]
    for fn in ("agent", "memory", "search", "memory-writer"):
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/pai-{fn}-{ENV}"
        out += [Request("logs:CreateLogStream", f"{group}:log-stream:2026/12/02/[$LATEST]x",
                        why=f"the {fn} runtime's log"),
                Request("logs:PutLogEvents", f"{group}:log-stream:2026/12/02/[$LATEST]x",
                        why=f"the {fn} runtime's log")]
    return out


def bedrock_requests(chat: str, foundation: str) -> list[Request]:
    """BedrockModel.stream (ConverseStream), MemoryWriter's extraction (the same) and
    TitanEmbedder (InvokeModel): the calls the model adapters make with the deployed ids."""
    from pai_cli.backends.aws.titan_embedder import MODEL

    out = [Request("bedrock:InvokeModel",
                   f"arn:aws:bedrock:{REGION}::foundation-model/{MODEL}", why="Titan embed")]
    action = "bedrock:InvokeModelWithResponseStream"
    if chat == foundation:
        return [*out, Request(action, f"arn:aws:bedrock:{REGION}::foundation-model/{chat}",
                              why="on-demand chat")]
    out.append(Request(action, f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{chat}",
                       why="chat through the profile"))
    regions = ("",) if chat.startswith("global.") else US_PROFILE_REGIONS
    out += [Request(action, f"arn:aws:bedrock:{r}::foundation-model/{foundation}",
                    why=f"the profile's foundation model in {r or '(global)'}") for r in regions]
    return out


# ----------------------------------------------------------------- the run

def record(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    calls: list[Call] = []
    original = Aws.session

    def session(self: Aws) -> Any:
        made = "_session" not in self._clients
        s = original(self)
        if made:
            def seen(params: dict[str, Any], event_name: str, **_: Any) -> None:
                _, service, operation = event_name.split(".")
                calls.append(Call(service, operation, json.loads(json.dumps(params, default=str))))
            s.events.register("provide-client-params.*.*", seen)
        return s

    monkeypatch.setattr(Aws, "session", session)
    return calls


@pytest.fixture
def lambda_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[list[Call], dict]]:
    from fakes.aws_home import moto_aws_home

    calls = record(monkeypatch)
    with moto_aws_home(monkeypatch, queue_visibility_s=1) as info:
        lam = Lambda(monkeypatch, info, tmp_path / "containers")
        lam.env["PAI_MEMORY_MODE"] = "distill"
        with openai_fake(Reply(["Noted."]), Reply(["Porto, then."])) as (fake, server):
            fake.memory_script = [facts("The user lives in Lisbon."),
                                  Reply([json.dumps({"memories": [{
                                      "text": "The user lives in Porto.", "action": "supersede",
                                      "target": 1, "category": "fact"}]})])]
            model(lam, server.url)
            lam.chat("I live in Lisbon")
            lam.writer().run(10)
            status, turn = lam.chat("I moved to Porto")
            lam.writer().run(10)
        assert status == 200
        w = lam.container("agent")
        (porto,) = w.memories.list(UID)
        for ev in (event("POST", "/search", {"query": "where do I live"}),
                   event("GET", "/memories"), event("GET", f"/memories/{porto.id}"),
                   event("GET", f"/memory/{turn['conversation_id']}"),
                   event("DELETE", f"/memories/{porto.id}")):
            out = lambda_handlers.agent_handler(ev, Context())
            assert out["statusCode"] == 200, out
        yield calls, info
    lambda_handlers.services.cache_clear()


def test_every_call_the_functions_make_is_allowed_by_their_role(lambda_calls) -> None:
    calls, info = lambda_calls
    key = info["key_arn"]
    ops = {(c.service, c.operation) for c in calls}
    # The run went through every path: turn, memory writer (add, supersede), search, forget.
    assert {("dynamodb", "TransactWriteItems"), ("sqs", "SendMessage"), ("s3", "PutObject"),
            ("s3vectors", "QueryVectors"), ("s3vectors", "PutVectors"), ("kms", "Decrypt"),
            ("kms", "GenerateDataKey"), ("s3", "DeleteObjects"), ("dynamodb", "Query"),
            ("s3vectors", "DeleteVectors")} <= ops, ops
    assert not {c.service for c in calls} - {"dynamodb", "s3", "kms", "s3vectors", "sqs"}
    requests = [r for c in calls for r in iam_requests(c, key)]
    requests += service_side(calls, key, info["queue_url"])
    requests += bedrock_requests("us.anthropic.claude-haiku-4-5-20251001-v1:0",
                                 "anthropic.claude-haiku-4-5-20251001-v1:0")
    policies = role_policies(key)
    refused = [f"{r.why}: {r.action} on {r.resource}" for r in requests
               if decide(policies, r) != "allow"]
    assert refused == []
    # The key's own policy names the role for each KMS use too (not only the account's
    # delegation to IAM), with the same conditions.
    kms = [r for r in requests if r.action.startswith("kms:")]
    assert kms and [r.why for r in kms if decide([key_policy(key)], r, ROLE) != "allow"] == []


def test_every_memory_body_put_names_the_pai_key_and_passes_the_bucket_policy(lambda_calls) -> None:
    calls, info = lambda_calls
    puts = [c for c in calls if (c.service, c.operation) == ("s3", "PutObject")]
    assert puts and all(c.params["Bucket"] == info["bucket"] for c in puts)
    for c in puts:
        assert c.params["ServerSideEncryption"] == "aws:kms"
        assert c.params["SSEKMSKeyId"] == info["key_arn"]  # the ARN: the policy compares it
        assert c.params["BucketKeyEnabled"] is True
    policy = bucket_policy(info["key_arn"], info["bucket"])
    for r in (r for c in puts for r in iam_requests(c, info["key_arn"]) if r.action == "s3:PutObject"):
        assert decide([policy], r) != "deny", r
    obj = f"arn:aws:s3:::{info['bucket']}/memories/x/mem-1.json"
    aws_managed = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/aws-s3-managed"
    for ctx in ({"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms"},
                {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms",
                 "s3:x-amz-server-side-encryption-aws-kms-key-id": aws_managed},
                {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "AES256"},
                {"aws:SecureTransport": "false", "s3:x-amz-server-side-encryption": "aws:kms",
                 "s3:x-amz-server-side-encryption-aws-kms-key-id": info["key_arn"]}):
        assert decide([policy], Request("s3:PutObject", obj, ctx)) == "deny", ctx


def test_key_use_outside_pais_contexts_is_refused() -> None:
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    policies = role_policies(key)
    pai = {"kms:EncryptionContext:pai:user": "alice", "kms:EncryptionContext:pai:purpose":
           "content", "kms:EncryptionContextKeys": ["pai:purpose", "pai:user"]}
    assert decide(policies, Request("kms:GenerateDataKey", key, pai)) == "allow"
    denied = [
        Request("kms:Encrypt", key, pai, "plain Encrypt, dropped"),
        Request("kms:Decrypt", key, {"kms:EncryptionContextKeys": []}, "no context at all"),
        Request("kms:Decrypt", key, {**pai, "kms:EncryptionContext:other": "x",
                                     "kms:EncryptionContextKeys": ["other", "pai:purpose",
                                                                   "pai:user"]}, "an extra key"),
        Request("kms:GenerateDataKey", key, {**pai, "kms:EncryptionContext:pai:purpose":
                                             "backup"}, "a purpose pai does not use"),
        via("s3", key, "kms:Decrypt", "another bucket through S3",
            aws__s3__arn="arn:aws:s3:::someone-elses-bucket"),
        via("sqs", key, "kms:Decrypt", "another service", aws__sqs__arn="arn:aws:sqs:x"),
        Request("kms:ReEncryptFrom", key, pai, "not granted"),
    ]
    assert [r.why for r in denied if decide(policies, r) == "allow"] == []
    assert [r.why for r in denied if decide([key_policy(key)], r, ROLE) == "allow"] == []
    # The deployer (the CLI) gets exactly the envelope use too, from the key policy.
    assert decide([key_policy(key)], Request("kms:GenerateDataKey", key, pai), DEPLOYER) == "allow"
    assert decide([key_policy(key)], denied[0], DEPLOYER) == "implicit deny"


@pytest.mark.parametrize(("chat", "foundation"), [
    ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
])
def test_the_chat_model_is_allowed_as_deploy_names_it(chat: str, foundation: str) -> None:
    """With the parameters `pai deploy` derives (flow.model_parameters), the role may call
    the profile and its foundation model, or the on-demand model itself, and no other."""
    from pai_cli.deploy.flow import model_parameters

    assert model_parameters(chat, REGION) == {"ChatModelId": chat,
                                              "ChatFoundationModelId": foundation}
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"
    policies = role_policies(key, chat=chat, foundation=foundation)
    assert [r.why for r in bedrock_requests(chat, foundation)
            if decide(policies, r) != "allow"] == []
    other = Request("bedrock:InvokeModelWithResponseStream",
                    f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-opus-4-1-v1:0")
    assert decide(policies, other) == "implicit deny"


def test_the_opensearch_calls_are_allowed_by_the_collection_policies(monkeypatch) -> None:
    """The OpenSearch adapter's HTTP requests (against the local stand-in), each needing
    aoss:APIAccessAll from IAM (the ai stack's policy) and the data-access permission its
    API needs (OpenSearch Serverless's data access policy page) for the role."""
    from fakes.opensearch_server import aoss_fake

    from pai_cli.backends.aws.opensearch_index import INDEX, OpenSearchIndex

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with aoss_fake() as (_, server):
        idx = OpenSearchIndex(Aws(REGION), server.url, dim=4)
        idx.upsert("alice", [("mem-a", "pets", [1.0, 0, 0, 0])])
        idx.query("alice", [1.0, 0, 0, 0], 3, "pets")
        list(idx.keys_of("alice"))
        idx.delete("alice", ["mem-a"])
    needs = {("PUT", ""): "aoss:CreateIndex", ("GET", "_mapping"): "aoss:DescribeIndex",
             ("POST", "_bulk"): "aoss:WriteDocument", ("GET", "_search"): "aoss:ReadDocument",
             ("POST", "_search"): "aoss:ReadDocument"}
    wanted = set()
    for s in server.seen:
        parts = s.path.split("?")[0].strip("/").split("/")
        wanted.add(needs[(s.method, parts[-1] if parts[-1].startswith("_") else "")])
    ai = load("ai")["Resources"]
    v = Values(refs={"Env": ENV, "DeployerArn": DEPLOYER},
               exports={f"pai-{ENV}-LambdaRoleArn": ROLE})
    rules = json.loads(render(ai["DataAccessPolicy"]["Properties"]["Policy"], v))
    granted = {perm for rule_set in rules if ROLE in rule_set["Principal"]
               for rule in rule_set["Rules"] if rule["ResourceType"] == "index"
               and f"index/pai-vectors-{ENV}/{INDEX}" in rule["Resource"]
               for perm in rule["Permission"]}
    assert wanted and wanted <= granted, wanted - granted
    collection = f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/abc123"
    iam = render(ai["LambdaAossPolicy"]["Properties"]["PolicyDocument"],
                 Values(refs={}, attrs={"Collection.Arn": collection}))
    assert decide([iam], Request("aoss:APIAccessAll", collection)) == "allow"
