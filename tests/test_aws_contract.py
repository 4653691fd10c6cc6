"""Contract tests against a real AWS account: deploy -> chat -> search -> destroy, and a
deploy after a plain destroy taking the kept tables, bucket and key over again.

Skipped unless PAI_TEST_AWS_ACCOUNT=1 and AWS credentials are set (AWS_PROFILE or keys, and
AWS_REGION): they create billed resources (a KMS key for 7+ days, Lambda, DynamoDB, S3,
S3 Vectors) in an environment named ct<random> and delete them at the end, data included.
The deploying identity needs CloudFormation, IAM, KMS, S3, DynamoDB, SQS, Lambda, API
Gateway, S3 Vectors, Bedrock and (for the account's first Claude call) the AWS Marketplace
subscription actions. Nothing here runs on moto: this is what only a real account shows
(RetainExceptOnCreate, ImportExistingResources, the key and bucket policies enforced,
Bedrock's model access, the SQS event source mapping, SigV4 on the HTTP API)."""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Any

import pytest
from conftest import pai_process

pytestmark = pytest.mark.skipif(
    os.environ.get("PAI_TEST_AWS_ACCOUNT") != "1"
    or not (os.environ.get("AWS_PROFILE") or os.environ.get("AWS_ACCESS_KEY_ID")),
    reason="real-account contract test: set PAI_TEST_AWS_ACCOUNT=1, AWS credentials and "
           "AWS_REGION to run it (it deploys and destroys billed resources)")


@pytest.fixture
def real_aws(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # conftest blanks the AWS variables for every test; put the caller's back.
    env = {k: v for k, v in os.environ.items()}
    for var in ("AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                "PAI_PROVIDER"):
        env.pop(var, None)
    return env


def run(env: dict[str, str], *args: str, timeout: float = 3600) -> Any:
    r = pai_process(*args, env=env, timeout=timeout)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return json.loads(r.stdout or b"null")


def signed(method: str, url: str, body: dict[str, Any] | None, region: str) -> Any:
    import boto3
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    data = json.dumps(body).encode() if body is not None else None
    request = AWSRequest(method=method, url=url, data=data,
                         headers={"content-type": "application/json"})
    SigV4Auth(boto3.Session().get_credentials(), "execute-api", region).add_auth(request)
    return httpx.request(method, url, content=data, headers=dict(request.headers), timeout=35)


def test_deploy_chat_search_destroy(real_aws: dict[str, str]) -> None:
    env_name = f"ct{secrets.token_hex(3)}"
    region = real_aws.get("AWS_REGION") or real_aws.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        out = run(real_aws, "deploy", "--env", env_name, "--yes", "--json")
        assert out["model_problem"] is None, out["model_problem"]
        api = out["outputs"]["ApiUrl"]
        said = f"My contract-test marker is {env_name}, a green heron"
        reply = signed("POST", f"{api}/chat", {"message": said}, region)
        assert reply.status_code == 200, reply.text
        assert reply.json()["reply"]
        # The memory writer drains the queue off the request: the fact appears shortly.
        deadline, found = time.time() + 180, []
        while time.time() < deadline and not found:
            time.sleep(10)
            hits = signed("POST", f"{api}/search", {"query": "contract-test marker heron"},
                          region).json()["results"]
            found = [h for h in hits if env_name in h["content"]]
        assert found, "the memory writer did not write the exchange within 3 minutes"
        # The CLI, as the same identity, sees the same memory (one identity).
        cli = run(real_aws, "--backend", "aws", "--env", env_name, "search",
                  "contract-test marker heron", "--json")
        assert any(env_name in h["content"] for h in cli)
        # Keyword evidence: the environment's name is a word only this memory holds.
        kw = run(real_aws, "--backend", "aws", "--env", env_name, "search", env_name,
                 "--mode", "keyword", "--json")
        assert kw and env_name in kw[0]["content"]
    finally:
        run(real_aws, "destroy", "--env", env_name, "--delete-data", "--yes", "--json")


def test_a_deploy_after_a_plain_destroy_takes_the_kept_data_over(real_aws: dict[str, str]) -> None:
    env_name = f"ct{secrets.token_hex(3)}"
    try:
        run(real_aws, "deploy", "--env", env_name, "--yes", "--json")
        added = run(real_aws, "--backend", "aws", "--env", env_name, "memory", "add",
                    "kept across a destroy", "--json")
        kept = run(real_aws, "destroy", "--env", env_name, "--yes", "--json")["kept"]
        assert len(kept) == 4  # two tables, the bucket, the key
        run(real_aws, "deploy", "--env", env_name, "--yes", "--json")  # imports, reuses the key
        again = run(real_aws, "--backend", "aws", "--env", env_name, "memory", "show",
                    added["id"], "--json")
        assert again["content"] == "kept across a destroy"
    finally:
        run(real_aws, "destroy", "--env", env_name, "--delete-data", "--yes", "--json")
