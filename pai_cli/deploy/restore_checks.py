"""The checks after a restore: items in the old and the restored tables, each restored
table active, encrypted with the pai key, with PITR on, named by both stacks; vectors
against memories per user."""

from __future__ import annotations

from dataclasses import dataclass

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.restore_plan import PARAMETER, RestorePlan, outputs_of, parameters_of
from pai_cli.deploy.stacks import Deployer, stack_name


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str


def verify(aws: Aws, plan: RestorePlan, stacks: Deployer, items: dict[str, dict[str, int]],
           index: dict[str, tuple[int, int]], rebuilt: bool) -> list[Check]:
    env, checks = plan.env, []
    ddb = aws.client("dynamodb")
    storage = outputs_of(call(lambda: stacks.describe(stack_name("storage", env)),
                              "CloudFormation", env))
    compute = parameters_of(call(lambda: stacks.describe(stack_name("compute", env)),
                                 "CloudFormation", env) or {})
    for t in plan.tables:
        table = call(lambda t=t: ddb.describe_table(TableName=t.target), "DynamoDB", env)["Table"]
        sse = table.get("SSEDescription") or {}
        pitr = call(lambda t=t: ddb.describe_continuous_backups(TableName=t.target), "DynamoDB",
                    env)["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        n = items[t.kind]
        checks.append(Check(f"{t.target} items", n["restored"] > 0 or n["before"] == 0,
                            f"{n['restored']} restored, {n['before']} in {t.source} when the "
                            "restore began"))
        checks.append(Check(f"{t.target} active and encrypted with the pai key",
                            table.get("TableStatus") == "ACTIVE"
                            and sse.get("SSEType") == "KMS"
                            and sse.get("KMSMasterKeyArn", plan.key_arn) == plan.key_arn,
                            f"{table.get('TableStatus')}, {sse.get('SSEType', 'no SSE')} "
                            f"{sse.get('KMSMasterKeyArn', '')}".strip()))
        checks.append(Check(f"{t.target} PITR", pitr.get("PointInTimeRecoveryStatus") ==
                            "ENABLED", str(pitr.get("PointInTimeRecoveryStatus", "unknown"))))
        param = PARAMETER[t.kind]
        checks.append(Check(f"stacks use {t.target}",
                            storage.get(param) == t.target and compute.get(param) == t.target,
                            f"storage output {storage.get(param)}, compute parameter "
                            f"{compute.get(param)}"))
    if rebuilt:
        short = {u: mv for u, mv in index.items() if mv[0] != mv[1]}
        checks.append(Check("vectors match memories", not short,
                            f"{sum(m for m, _ in index.values())} memories, "
                            f"{sum(v for _, v in index.values())} vectors"
                            + ("; differ for " + ", ".join(f"{u} ({m} vs {v})" for u, (m, v)
                                                           in sorted(short.items()))
                               if short else "")))
    return checks
