"""`pai deploy`, `pai status`, `pai destroy`: the AWS stacks from the command line."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt
from pai_cli.cli.output import Out
from pai_cli.errors import InputError

EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment name, e.g. dev.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS profile.")]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="AWS region (> AWS_REGION > AWS_DEFAULT_REGION).")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _aws(profile: str | None, region: str | None) -> Any:
    from pai_cli.backends.aws.session import Aws, resolve_region
    from pai_cli.config import read_environment
    from pai_cli.errors import ConfigError

    env = read_environment()
    chosen = resolve_region(region, profile, env["aws_env_region"])
    if not chosen:
        raise ConfigError("No AWS region: pass --region or set AWS_REGION.")
    return Aws(chosen, profile, endpoint_url=env["aws_endpoint"])


def _event_printer(out: Out) -> Any:
    def show(e: dict[str, Any]) -> None:
        when = e.get("Timestamp")
        stamp = when.strftime("%H:%M:%S") if isinstance(when, datetime) else str(when or "")
        reason = f"  {e['ResourceStatusReason']}" if e.get("ResourceStatusReason") else ""
        out.note(f"  {stamp}  {e['ResourceStatus']:<22} {e['LogicalResourceId']} "
                 f"({e['ResourceType']}){reason}")
    return show


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError("No terminal to confirm on: pass --yes to go ahead.")
    typer.confirm(question, abort=True, err=True)


def _parameters(stack: str, values: dict[str, str]) -> dict[str, str]:
    """Only what the stack's template declares: each template takes its own subset."""
    import yaml

    from pai_cli.deploy.stacks import template

    declared = yaml.safe_load(template(stack)).get("Parameters", {})
    return {k: v for k, v in values.items() if k in declared}


def deploy(
    env: EnvOpt = "dev",
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    vector_store: Annotated[
        str, typer.Option("--vector-store", help="s3vectors (default, no idle cost) or opensearch.")
    ] = "s3vectors",
    auth: Annotated[str, typer.Option("--auth", help="iam (SigV4, default) or jwt.")] = "iam",
    jwt_issuer: Annotated[str, typer.Option("--jwt-issuer", help="OIDC issuer URL (--auth jwt).")] = "",
    jwt_audience: Annotated[str, typer.Option("--jwt-audience", help="JWT audience(s).")] = "",
    model: Annotated[
        str, typer.Option("--model", help="Bedrock inference profile id of the chat model.")
    ] = "",
    deployer_arn: Annotated[
        str, typer.Option("--deployer-arn", help="IAM role or user to name in the key and "
                          "collection policies (default: the caller, from STS and IAM).")
    ] = "",
    yes: YesOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would change.")] = False,
    estimate: Annotated[
        bool, typer.Option("--estimate", help="Print the monthly cost of this configuration.")
    ] = False,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Provision (or update) the four stacks of an environment: security, storage, ai,
    compute. Each stack's change set is shown and confirmed before it runs; events stream
    as they happen; the outputs (API URL, tables, bucket) are printed at the end.

    Example: pai deploy --env dev --region eu-west-1
    """
    from pai_cli.deploy.stacks import check_env

    out = Out.choose(as_json, output)
    if vector_store not in ("s3vectors", "opensearch"):
        raise typer.BadParameter("use s3vectors or opensearch.", param_hint="--vector-store")
    if auth not in ("iam", "jwt"):
        raise typer.BadParameter("use iam or jwt.", param_hint="--auth")
    if auth == "jwt" and not (jwt_issuer and jwt_audience):
        raise typer.BadParameter("--auth jwt needs --jwt-issuer and --jwt-audience.",
                                 param_hint="--auth")
    check_env(env)
    if estimate:
        _print_estimate(out, vector_store)
        return
    _deploy(out, env, profile, region, vector_store, auth, jwt_issuer, jwt_audience, model,
            yes, dry_run, deployer_arn)


def _print_estimate(out: Out, vector_store: str) -> None:
    from pai_cli.deploy.estimate import Usage, as_dict, estimate

    usage = Usage()
    lines = estimate(vector_store, usage)
    summary = as_dict(lines, vector_store, usage)
    if out.json:
        out.emit(summary)
        return
    out.note(f"Usage profile: {usage.turns:,} chat turns, {usage.searches:,} searches a month, "
             f"{usage.memories:,} memories stored.")
    out.table(None, ["item", "USD/month", "fixed", "what"],
              [(x.item, f"{x.monthly_usd:.2f}", "yes" if x.fixed else "", x.note) for x in lines])
    out.note(f"Total ~${summary['monthly_usd']}/month, of which ${summary['fixed_floor_usd']} "
             "is billed even with no use.")


def _deploy(out: Out, env: str, profile: str | None, region: str | None, vector_store: str,
            auth: str, jwt_issuer: str, jwt_audience: str, model: str, yes: bool,
            dry_run: bool, deployer: str = "") -> None:
    from pai_cli.backends.aws.session import call
    from pai_cli.backends.llm.bedrock import DEFAULT_MODEL, default_model
    from pai_cli.deploy.stacks import Deployer, deployer_arn

    aws = _aws(profile, region)
    stacks = Deployer(aws, env)
    caller = call(lambda: aws.client("sts").get_caller_identity(), "STS", env)
    chat_model = model or default_model(aws.region)
    values = {
        "Env": env, "DeployerArn": deployer or deployer_arn(aws, caller["Arn"]),
        "VectorStore": vector_store,
        "ChatModelId": chat_model, "ChatFoundationModelId": chat_model.split(".", 1)[1]
        if chat_model.split(".", 1)[0] in ("us", "eu", "apac", "global") else DEFAULT_MODEL,
        "EmbeddingModelId": "amazon.titan-embed-text-v2:0", "Dimension": "1024",
        "AuthMode": auth, "JwtIssuer": jwt_issuer, "JwtAudience": jwt_audience,
    }
    out.note(f"Deploying pai env {env!r} to account {caller['Account']} in {aws.region} "
             f"as {caller['Arn']}.")
    changed = False
    for stack in ("security", "storage", "ai", "compute"):
        if stack == "compute":
            values["CodeKey"] = _upload_code(out, aws, stacks, dry_run)
        planned = stacks.plan(stack, _parameters(stack, values))
        if planned.note == "no changes":
            out.note(f"{planned.name}: no changes.")
            continue
        changed = True
        out.note(f"{planned.name}: {'update' if planned.exists else 'create'}, "
                 f"{len(planned.changes)} change(s):")
        for c in planned.changes:
            extra = f" (replacement: {c.replacement})" if c.replacement else ""
            out.note(f"  {c.action:<7} {c.logical_id} ({c.resource_type}){extra}")
        if dry_run:
            stacks.discard(planned)
            if not planned.exists and stack != "compute":
                out.note("Dry run: the stacks after this one import its outputs, so their "
                         "changes can be shown once it exists.")
                break
            continue
        _confirm(f"Apply these changes to {planned.name} in {aws.region}?", yes)
        stacks.execute(planned, _event_printer(out))
        out.note(f"{planned.name}: done.")
    if dry_run:
        out.emit({"dry_run": True}) if out.json else out.note("Dry run: nothing was changed.")
        return
    if not changed:
        out.note("No changes: every stack is up to date.")
    outputs = stacks.outputs()
    if out.json:
        out.emit({"env": env, "region": aws.region, "changed": changed, "outputs": outputs})
    else:
        out.table(None, ["output", "value"], sorted(outputs.items()))


def _upload_code(out: Out, aws: Any, deployer: Any, dry_run: bool) -> str:
    """Build the Lambda artifact (cached) and put it in the artifact bucket; the key names
    the artifact's hash, so an unchanged build is an unchanged stack."""
    from pathlib import Path

    from platformdirs import user_cache_dir

    from pai_cli.backends.aws.session import call
    from pai_cli.deploy.package import build_artifact

    build_dir = Path(user_cache_dir("pai", appauthor=False)) / "lambda-build"
    out.note("Packaging the Lambda code for arm64 (cached after the first build)...")
    artifact = build_artifact(build_dir, progress=out.note)
    key = f"lambda/pai-{artifact.sha256[:20]}.zip"
    out.note(f"Artifact {artifact.size_bytes / 1e6:.1f} MB zipped, "
             f"{artifact.unzipped_bytes / 1e6:.1f} MB unzipped -> {key}")
    if dry_run:
        return key
    bucket = deployer.outputs().get("ArtifactBucketName")
    if not bucket:
        from pai_cli.errors import ConfigError

        raise ConfigError("The security stack has no ArtifactBucketName output: redeploy it.")
    s3 = aws.client("s3")
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        call(lambda: s3.upload_file(str(artifact.path), bucket, key), f"S3 bucket {bucket}")
    return key


def status(
    env: EnvOpt = "dev", profile: ProfileOpt = None, region: RegionOpt = None,
    drift: Annotated[bool, typer.Option("--drift/--no-drift", help="Run drift detection.")] = True,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Each stack's state, its drift, and its outputs.

    Example: pai status --env dev --no-drift
    """
    from pai_cli.deploy.stacks import Deployer, check_env

    out = Out.choose(as_json, output)
    aws = _aws(profile, region)
    rows = Deployer(aws, check_env(env)).status(drift=drift)
    if out.json:
        out.emit({"env": env, "region": aws.region, "stacks": rows})
        return
    out.table(None, ["stack", "status", "drift"],
              [(r["stack"], r["status"], r["drift"] or "") for r in rows])
    outputs = sorted((k, v) for r in rows for k, v in r["outputs"].items())
    if outputs:
        out.table(None, ["output", "value"], outputs)


def destroy(
    env: EnvOpt = "dev", profile: ProfileOpt = None, region: RegionOpt = None, yes: YesOpt = False,
    delete_data: Annotated[
        bool, typer.Option("--delete-data", help="Also delete the tables, the memory bucket "
                           "(every version) and schedule the key for deletion.")
    ] = False,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Delete the environment's stacks. By default the data stays: the two tables, the
    memory bucket and the KMS key are kept (and keep costing what they cost).

    Example: pai destroy --env dev
    """
    from pai_cli.deploy import data
    from pai_cli.deploy.stacks import Deployer, check_env, stack_name

    out = Out.choose(as_json, output)
    aws = _aws(profile, region)
    deployer = Deployer(aws, check_env(env))
    outputs = deployer.outputs()
    if delete_data:
        outputs = {**_kept_by_reference(aws, env), **outputs}
    names = [stack_name(s, env) for s in ("compute", "ai", "storage", "security")]
    kept = [outputs.get("ConversationsTableName"), outputs.get("MemoriesTableName"),
            outputs.get("MemoryBucketName"), outputs.get("KeyArn")]
    kept = [k for k in kept if k]
    out.note(f"This deletes stacks {', '.join(names)} in {aws.region}.")
    if not delete_data:
        out.note("Kept (and still billed): " + (", ".join(kept) or "nothing found") +
                 ". Use --delete-data to delete them too. While they exist, a new deploy of "
                 f"{env!r} cannot create resources of the same names: use another --env, or "
                 "import them into the storage stack.")
    _confirm(f"Delete the pai stacks of {env!r} in {aws.region}?", yes)
    if delete_data:
        out.note("--delete-data ALSO deletes, with no way back: " + ", ".join(kept) +
                 " (the key after a 30-day waiting period).")
        _confirm("Delete these memories for good?", yes)
    show = _event_printer(out)
    deleted = []
    for stack in ("compute", "ai", "storage", "security"):
        if stack == "security" and outputs.get("ArtifactBucketName"):
            data.delete_bucket(aws, outputs["ArtifactBucketName"])  # not data: code only
        if deployer.delete(stack, show):
            deleted.append(stack_name(stack, env))
            out.note(f"{stack_name(stack, env)}: deleted.")
    removed: list[str] = []
    if delete_data:
        if outputs.get("MemoryBucketName"):
            data.delete_bucket(aws, outputs["MemoryBucketName"])
            removed.append(outputs["MemoryBucketName"])
        for table in (outputs.get("ConversationsTableName"), outputs.get("MemoriesTableName")):
            if table and data.delete_table(aws, table):
                removed.append(table)
        if outputs.get("KeyArn"):
            when = data.schedule_key_deletion(aws, outputs["KeyArn"])
            if when:
                removed.append(f"{outputs['KeyArn']} (deleted on {when})")
    summary = {"env": env, "region": aws.region, "deleted_stacks": deleted,
               "deleted_data": removed, "kept": [] if delete_data else kept}
    out.emit(summary) if out.json else out.note(
        "Done." + (f" Kept: {', '.join(kept)}." if kept and not delete_data else ""))


def _kept_by_reference(aws: Any, env: str) -> dict[str, str]:
    """What a plain destroy left behind, found by the reference names (the stacks, and so
    their outputs, may be gone already); the key by its tag, since its alias went with them."""
    from pai_cli.backends.aws.names import reference_names
    from pai_cli.backends.aws.session import call

    names = reference_names(env, aws.account_id())
    found = {"ConversationsTableName": names.conversations_table,
             "MemoriesTableName": names.memories_table,
             "MemoryBucketName": names.memory_bucket}
    kms = aws.client("kms")
    for page in call(lambda: list(kms.get_paginator("list_keys").paginate()), "KMS", env):
        for key in page["Keys"]:
            try:
                tags = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
            except Exception:  # noqa: BLE001 - keys we may not read are not ours
                continue
            if {"TagKey": "pai:env", "TagValue": env} in tags:
                found["KeyArn"] = key["KeyArn"]
    return found
