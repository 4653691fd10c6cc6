"""`pai deploy`, `pai status` and `pai destroy` as functions: options in, an outcome out.

    deploy(options, aws, confirm, on_event, on_note) -> DeployOutcome
    status(env, aws, drift) -> StatusOutcome
    destroy(env, aws, confirm, on_event, on_note, delete_data=...) -> DestroyOutcome

The caller (the CLI) builds the AWS session through the wiring, asks the questions
(`confirm(question) -> bool`), shows CloudFormation's stack events (`on_event`) and the
progress lines (`on_note`), and renders the outcome. Everything that talks to AWS or knows
about botocore is here or below: stacks.py (CloudFormation), package.py (the Lambda
artifact), data.py (what the stacks keep)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.package import Artifact
from pai_cli.deploy.stacks import (
    STACKS,
    Deployer,
    Event,
    Planned,
    StackState,
    check_env,
    deployer_arn,
    stack_name,
    template_parameters,
)
from pai_cli.errors import ConfigError

Confirm = Callable[[str], bool]
"""Asked before anything is changed; False stops the command with nothing more done."""
OnEvent = Callable[[Event], None]
OnNote = Callable[[str], None]
Package = Callable[[OnNote], Artifact]
"""Builds (or finds in its cache) the Lambda artifact, reporting progress."""

GEO_PREFIXES = ("us", "eu", "apac", "global")
"""Inference profile ids are a geography prefix and a foundation model id."""


@dataclass(frozen=True)
class DeployOptions:
    env: str
    vector_store: str = "s3vectors"
    auth: str = "iam"
    jwt_issuer: str = ""
    jwt_audience: str = ""
    model: str = ""
    """Bedrock inference profile id of the chat model; empty: the region's default."""
    deployer_arn: str = ""
    """The principal the key and collection policies name; empty: the caller's (STS, IAM)."""
    dry_run: bool = False


@dataclass(frozen=True)
class DeployOutcome:
    env: str
    region: str
    account: str
    caller_arn: str
    dry_run: bool = False
    changed_stacks: list[str] = field(default_factory=list)
    """Stacks whose change sets ran (in a dry run: were shown, then thrown away)."""
    unchanged_stacks: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    """Every stack's outputs after the run; empty for a dry run or an aborted one."""
    aborted: bool = False
    """The user said no: the stack asked about was left as it was, and those after it."""

    @property
    def changed(self) -> bool:
        return bool(self.changed_stacks)


@dataclass(frozen=True)
class StatusOutcome:
    env: str
    region: str
    stacks: list[StackState]


@dataclass(frozen=True)
class DestroyOutcome:
    env: str
    region: str
    deleted_stacks: list[str] = field(default_factory=list)
    deleted_data: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """What stays (and is still billed): the tables, the memory bucket, the key."""
    aborted: bool = False


def model_parameters(model: str, region: str) -> dict[str, str]:
    """The chat model the functions call and the foundation model IAM must allow with it: an
    inference profile's without its geography prefix, else the model itself."""
    from pai_cli.backends.llm.bedrock import default_model

    chat = model or default_model(region)
    geo, _, foundation = chat.partition(".")
    return {"ChatModelId": chat, "ChatFoundationModelId": foundation if geo in GEO_PREFIXES else chat}


def stack_parameters(stack: str, values: dict[str, str]) -> dict[str, str]:
    """Only what the stack's template declares: each template takes its own subset."""
    declared = template_parameters(stack)
    return {k: v for k, v in values.items() if k in declared}


def build_in_cache(on_note: OnNote) -> Artifact:
    """The Lambda artifact, built in the user's cache dir, where the wheelhouse is kept."""
    from platformdirs import user_cache_dir

    from pai_cli.deploy.package import build_artifact

    return build_artifact(Path(user_cache_dir("pai", appauthor=False)) / "lambda-build",
                          progress=on_note)


def deploy(options: DeployOptions, aws: Aws, confirm: Confirm, on_event: OnEvent,
           on_note: OnNote, *, package: Package = build_in_cache,
           deployer: Deployer | None = None) -> DeployOutcome:
    """Plan each stack's change set in order, show it, ask, run it and stream its events."""
    from pai_cli.backends.aws.titan_embedder import MODEL as EMBEDDING_MODEL
    from pai_cli.backends.aws.titan_embedder import TitanEmbedder

    env = check_env(options.env)
    stacks = deployer or Deployer(aws, env)
    caller = call(lambda: aws.client("sts").get_caller_identity(), "STS", env)
    values = {
        "Env": env, "DeployerArn": options.deployer_arn or deployer_arn(aws, caller["Arn"]),
        "VectorStore": options.vector_store, **model_parameters(options.model, aws.region),
        "EmbeddingModelId": EMBEDDING_MODEL, "Dimension": str(TitanEmbedder.dim),
        "AuthMode": options.auth, "JwtIssuer": options.jwt_issuer,
        "JwtAudience": options.jwt_audience,
    }
    on_note(f"Deploying pai env {env!r} to account {caller['Account']} in {aws.region} "
            f"as {caller['Arn']}.")
    applied: list[str] = []
    unchanged: list[str] = []

    def outcome(**more: Any) -> DeployOutcome:
        return DeployOutcome(env, aws.region, caller["Account"], caller["Arn"], options.dry_run,
                             applied, unchanged, **more)

    for stack in STACKS:
        if stack == "compute":
            values["CodeKey"] = _upload_code(aws, stacks, options.dry_run, package, on_note)
        planned = stacks.plan(stack, stack_parameters(stack, values))
        if planned.note == "no changes":
            on_note(f"{planned.name}: no changes.")
            unchanged.append(planned.name)
            continue
        _show(planned, on_note)
        if options.dry_run:
            stacks.discard(planned)
            applied.append(planned.name)
            if not planned.exists and stack != STACKS[-1]:
                on_note("Dry run: the stacks after this one import its outputs, so their "
                        "changes can be shown once it exists.")
                break
            continue
        if not _asked(confirm, f"Apply these changes to {planned.name} in {aws.region}?",
                      lambda p=planned: stacks.discard(p)):
            return outcome(aborted=True)
        stacks.execute(planned, on_event)
        on_note(f"{planned.name}: done.")
        applied.append(planned.name)
    if options.dry_run:
        return outcome()
    if not applied:
        on_note("No changes: every stack is up to date.")
    return outcome(outputs=stacks.outputs())


def status(env: str, aws: Aws, drift: bool = True) -> StatusOutcome:
    """Each stack's state, its drift (optional: detection takes a while) and its outputs."""
    return StatusOutcome(env, aws.region, Deployer(aws, check_env(env)).status(drift=drift))


def destroy(env: str, aws: Aws, confirm: Confirm, on_event: OnEvent, on_note: OnNote, *,
            delete_data: bool = False, deployer: Deployer | None = None) -> DestroyOutcome:
    """Delete the stacks, last first. The data (tables, memory bucket, key) stays unless
    `delete_data`, which asks a second time, naming what goes."""
    from pai_cli.deploy import data

    env = check_env(env)
    stacks = deployer or Deployer(aws, env)
    outputs = stacks.outputs()
    if delete_data:
        outputs = {**data.kept_resources(aws, env), **outputs}
    order = tuple(reversed(STACKS))
    kept = [v for v in (outputs.get("ConversationsTableName"), outputs.get("MemoriesTableName"),
                        outputs.get("MemoryBucketName"), outputs.get("KeyArn")) if v]
    on_note(f"This deletes stacks {', '.join(stack_name(s, env) for s in order)} in {aws.region}.")
    if not delete_data:
        on_note("Kept (and still billed): " + (", ".join(kept) or "nothing found") +
                ". Use --delete-data to delete them too. While they exist, a new deploy of "
                f"{env!r} cannot create resources of the same names: use another --env, or "
                "import them into the storage stack.")
    aborted = DestroyOutcome(env, aws.region, aborted=True)
    if not confirm(f"Delete the pai stacks of {env!r} in {aws.region}?"):
        return aborted
    if delete_data:
        on_note("--delete-data ALSO deletes, with no way back: " + ", ".join(kept) +
                " (the key after a 30-day waiting period).")
        if not confirm("Delete these memories for good?"):
            return aborted
    deleted = []
    for stack in order:
        if stack == "security" and outputs.get("ArtifactBucketName"):
            data.delete_bucket(aws, outputs["ArtifactBucketName"])  # not data: code only
        if stacks.delete(stack, on_event):
            deleted.append(stack_name(stack, env))
            on_note(f"{stack_name(stack, env)}: deleted.")
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
    return DestroyOutcome(env, aws.region, deleted, removed, [] if delete_data else kept)


# --- steps -------------------------------------------------------------------------------

def _show(planned: Planned, on_note: OnNote) -> None:
    on_note(f"{planned.name}: {'update' if planned.exists else 'create'}, "
            f"{len(planned.changes)} change(s):")
    for c in planned.changes:
        extra = f" (replacement: {c.replacement})" if c.replacement else ""
        on_note(f"  {c.action:<7} {c.logical_id} ({c.resource_type}){extra}")


def _asked(confirm: Confirm, question: str, discard: Callable[[], None]) -> bool:
    """The answer; a change set nobody said yes to (no, Ctrl-C, no terminal) is thrown away,
    so no half-planned stack is left behind."""
    ok = False
    try:
        ok = confirm(question)
    finally:
        if not ok:
            discard()
    return ok


def _upload_code(aws: Aws, stacks: Deployer, dry_run: bool, package: Package,
                 on_note: OnNote) -> str:
    """Build the Lambda artifact (cached) and put it in the artifact bucket; the key names
    the artifact's hash, so an unchanged build is an unchanged stack."""
    on_note("Packaging the Lambda code for arm64 (cached after the first build)...")
    artifact = package(on_note)
    key = f"lambda/pai-{artifact.sha256[:20]}.zip"
    on_note(f"Artifact {artifact.size_bytes / 1e6:.1f} MB zipped, "
            f"{artifact.unzipped_bytes / 1e6:.1f} MB unzipped -> {key}")
    if dry_run:
        return key
    bucket = stacks.outputs().get("ArtifactBucketName")
    if not bucket:
        raise ConfigError("The security stack has no ArtifactBucketName output: redeploy it.")
    from botocore.exceptions import ClientError

    s3 = aws.client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        call(lambda: s3.upload_file(str(artifact.path), bucket, key), f"S3 bucket {bucket}")
    return key

