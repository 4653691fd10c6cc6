"""`pai deploy`, `pai status` and `pai destroy` as functions: options in, an outcome out.

    deploy(options, aws, confirm, on_event, on_note, reindex=...) -> DeployOutcome
    status(env, aws, drift) -> StatusOutcome
    destroy(env, aws, confirm, on_event, on_note, delete_data=...) -> DestroyOutcome

The caller (the CLI) builds the AWS session through the wiring, asks the questions
(`confirm(question) -> bool`), shows CloudFormation's stack events (`on_event`) and the
progress lines (`on_note`), and renders the outcome; for a --vector-store switch it passes
`reindex`, which fills the new store from the tables (the core's reindex, through the
wiring: deploy imports no core). Everything that talks to AWS or knows about botocore is
here or below: stacks.py (CloudFormation), package.py (the Lambda artifact), data.py (what
the stacks keep), model_access.py (the account's first call to the chat model)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.alarms import AlarmState, alarm_states
from pai_cli.deploy.package import Artifact
from pai_cli.deploy.stacks import (
    STACKS,
    Deployer,
    Event,
    Parameters,
    Planned,
    StackState,
    check_env,
    deployer_arn,
    stack_name,
    static_names,
    template,
    template_parameters,
)
from pai_cli.errors import ConfigError

Confirm = Callable[[str], bool]
"""Asked before anything is changed; False stops the command with nothing more done."""
OnEvent = Callable[[Event], None]
OnNote = Callable[[str], None]
Package = Callable[[OnNote], Artifact]
"""Builds (or finds in its cache) the Lambda artifact, reporting progress."""
CheckModel = Callable[[Aws, str], str | None]
"""Makes the account's first call to the chat model as the deployer: None, or what to do."""
Reindex = Callable[[str, OnNote], int]
"""Re-embeds every user's memories into the named vector store; returns how many."""

GEO_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")
"""Inference profile ids are a geography prefix and a foundation model id (Bedrock's
geographic and global cross-Region inference profiles)."""


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
    principal_users: dict[str, str] | None = None
    """Principal ARN -> pai user for the functions (PrincipalUsers); None: as deployed."""
    alarm_topic: str | None = None
    """SNS topic every alarm notifies; None: as deployed (at first: the monitoring stack's
    own topic, pai-alarms-ENV)."""
    alarm_email: str | None = None
    """An address subscribed to the alarms' topic; None: as deployed, "": none."""
    tracing: bool | None = None
    """X-Ray active tracing of the functions; None: as deployed (off at first)."""
    user_rate: int | None = None
    """HTTP API requests a minute per user (UserRequestsPerMinute; 0: off); None: as deployed."""
    user_burst: int | None = None
    """Requests a user may make at once (UserBurst); None: as deployed."""


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
    model_problem: str | None = None
    """What the account's first call to the chat model said to do (None: it answered)."""
    switched_from: str | None = None
    """The vector store retired by a --vector-store switch (or kept, if not yet retired)."""
    reindexed: int | None = None
    """Memories re-embedded into the new vector store by that switch."""

    @property
    def changed(self) -> bool:
        return bool(self.changed_stacks)


@dataclass(frozen=True)
class StatusOutcome:
    env: str
    region: str
    stacks: list[StackState]
    alarms: list[AlarmState] = field(default_factory=list)
    """The stacks' CloudWatch alarms, worst state first."""


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
           deployer: Deployer | None = None, check_model: CheckModel | None = None,
           reindex: Reindex | None = None) -> DeployOutcome:
    """Plan each stack's change set in order, show it, ask, run it and stream its events.
    A --vector-store switch keeps the old store while `reindex` fills the new one, then
    retires it (without `reindex` both stay, and the outcome says so)."""
    from pai_cli.backends.aws.titan_embedder import MODEL as EMBEDDING_MODEL
    from pai_cli.backends.aws.titan_embedder import TitanEmbedder
    from pai_cli.deploy import data
    from pai_cli.deploy.model_access import first_call

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
    pseudo = {"Env": env, "AWS::AccountId": caller["Account"], "AWS::Region": aws.region,
              "AWS::Partition": caller["Arn"].split(":")[1]}
    own_topic = (f"arn:{pseudo['AWS::Partition']}:sns:{aws.region}:{caller['Account']}:"
                 f"pai-alarms-{env}")
    on_note(f"Deploying pai env {env!r} to account {caller['Account']} in {aws.region} "
            f"as {caller['Arn']}.")
    applied: list[str] = []
    unchanged: list[str] = []
    state: dict[str, Any] = {"keep": "", "retire": False, "model_problem": None}

    def outcome(**more: Any) -> DeployOutcome:
        return DeployOutcome(env, aws.region, caller["Account"], caller["Arn"], options.dry_run,
                             applied, unchanged, model_problem=state["model_problem"],
                             **more)

    def parameters(stack: str) -> Parameters:
        def resolve(current: dict[str, str] | None) -> dict[str, str]:
            given = stack_parameters(stack, values)
            now = current or {}
            if stack == "security":
                if current is not None:
                    given["ExistingKeyArn"] = now.get("ExistingKeyArn", "")
                else:
                    kept = data.kept_key(aws, env) or ""
                    if kept:
                        on_note(f"Using the key {kept} a plain destroy kept: it wraps every "
                                "record stored before.")
                    given["ExistingKeyArn"] = kept
            elif stack == "storage":
                # The dead-letter alarm tells the same topic as the monitoring stack's alarms:
                # yours (--alarm-topic), else that stack's own, whose ARN its name fixes.
                chosen = (options.alarm_topic if options.alarm_topic is not None
                          else now.get("AlarmTopicArn", "")) or own_topic
                state["alarm_topic"] = chosen
                given["AlarmTopicArn"] = chosen
                # Tables a `pai restore` put in use stay in use (empty: the stack's own).
                for table in ("ConversationsTableName", "MemoriesTableName"):
                    given[table] = now.get(table, "")
            elif stack == "ai":
                old, keep = now.get("VectorStore", ""), now.get("KeepVectorStore", "")
                if old and old != options.vector_store:
                    keep = old
                if keep == options.vector_store or state["retire"]:
                    keep = ""
                if keep and not state["retire"]:
                    on_note(f"Switching the vector store from {keep} to "
                            f"{options.vector_store}: both exist while every memory is "
                            f"reindexed into {options.vector_store}, then {keep} is retired.")
                state["keep"] = keep
                given["KeepVectorStore"] = keep
            elif stack == "compute":
                given["PrincipalUsers"] = (
                    json.dumps(options.principal_users, sort_keys=True)
                    if options.principal_users is not None else now.get("PrincipalUsers", "{}"))
                given["Tracing"] = ({True: "Active", False: "PassThrough"}[options.tracing]
                                    if options.tracing is not None
                                    else now.get("Tracing", "PassThrough"))
                # A limit set once stays set (an update without a value would take the default).
                for param, value in (("UserRequestsPerMinute", options.user_rate),
                                     ("UserBurst", options.user_burst)):
                    if value is not None:
                        given[param] = str(value)
                    elif param in now:
                        given[param] = now[param]
            elif stack == "monitoring":
                topic = state.get("alarm_topic") or own_topic
                given["AlarmTopicArn"] = "" if topic == own_topic else topic
                given["AlarmEmail"] = (options.alarm_email if options.alarm_email is not None
                                       else now.get("AlarmEmail", ""))
            return given
        return resolve

    def run(stack: str, question: str | None = None) -> bool | None:
        """Plan, show, ask, apply one stack: True applied, False unchanged, None stop."""
        planned = stacks.plan(stack, parameters(stack),
                              body=static_names(template(stack), pseudo))
        if planned.note == "no changes":
            on_note(f"{planned.name}: no changes.")
            unchanged.append(planned.name)
            return False
        _show(planned, on_note)
        if options.dry_run:
            stacks.discard(planned)
            applied.append(planned.name)
            if not planned.exists and stack != STACKS[-1]:
                on_note("Dry run: the stacks after this one import its outputs, so their "
                        "changes can be shown once it exists.")
                return None
            return True
        if not _asked(confirm, question or f"Apply these changes to {planned.name} in "
                      f"{aws.region}?", lambda p=planned: stacks.discard(p)):
            state["aborted"] = True
            return None
        stacks.execute(planned, on_event)
        on_note(f"{planned.name}: done.")
        applied.append(planned.name)
        return True

    for stack in STACKS:
        if stack == "compute":
            deployed = stacks.outputs()
            values["CodeKey"] = _upload_code(aws, deployed, options.dry_run, package, on_note)
            values.update(_vector_names(options.vector_store, deployed))
            values.update(_table_names(env, deployed))
            if options.auth == "cognito":  # the security stack's pool authorizes the API
                values["JwtIssuer"] = deployed.get("UserPoolIssuer", "")
                values["JwtAudience"] = deployed.get("UserPoolClientId", "")
                if not values["JwtIssuer"] and options.dry_run:
                    on_note("Dry run: the compute stack's authorizer takes the user pool "
                            "from the security stack, so its changes can be shown once "
                            "that is applied.")
                    break
            if options.dry_run and not _vector_names_known(values):
                on_note("Dry run: the compute stack takes the new vector store's names from "
                        "the ai stack, so its changes can be shown once that is applied.")
                break
        if stack == "monitoring":
            watched = _monitored_names(stacks.outputs())
            if watched is None:
                if not options.dry_run:
                    raise ConfigError("The compute and storage stacks lack outputs the "
                                      "monitoring stack needs: run `pai deploy` again.")
                on_note("Dry run: the monitoring stack watches the compute stack's functions "
                        "and API, so its changes can be shown once that is applied.")
                break
            values.update(watched)
        if run(stack) is None:
            if state.get("aborted"):
                return outcome(aborted=True)
            break
    if options.dry_run:
        return outcome(switched_from=state["keep"] or None)
    # The account's first call to a third-party model subscribes it, which the functions'
    # role may not do: the deployer makes that call (model_access.py), once the stacks stand.
    problem = (check_model or first_call)(aws, values["ChatModelId"])
    if problem:
        state["model_problem"] = problem
        on_note(f"Warning: {problem}")
    reindexed = None
    switched = state["keep"] or None
    if switched:
        old = switched
        if reindex is None:
            on_note(f"The old vector store ({old}) is kept: reindex every user into "
                    f"{options.vector_store} (`pai memory reindex --backend aws`), then run "
                    "`pai deploy` again to retire it.")
            return outcome(outputs=stacks.outputs(), switched_from=old)
        on_note(f"Reindexing every memory into {options.vector_store}...")
        reindexed = reindex(options.vector_store, on_note)
        on_note(f"{reindexed} memories reindexed into {options.vector_store}.")
        state["retire"] = True
        if run("ai", f"Retire the old vector store ({old}) of {env!r}? Its vectors are "
                     f"deleted; {options.vector_store} holds them all now.") is None:
            return outcome(aborted=True, switched_from=old, reindexed=reindexed)
    if not applied:
        on_note("No changes: every stack is up to date.")
    return outcome(outputs=stacks.outputs(), switched_from=switched, reindexed=reindexed)


def _vector_names(store: str, deployed: dict[str, str]) -> dict[str, str]:
    """The compute stack's vector parameters, from the ai stack's outputs."""
    opensearch = store == "opensearch"
    return {"VectorBucketName": "" if opensearch else deployed.get("VectorBucketName", ""),
            "VectorIndexName": deployed.get("VectorIndexName")
            or ("pai-memories" if opensearch else "memories"),
            "VectorSearchEndpoint": deployed.get("CollectionEndpoint", "") if opensearch else ""}


_MONITORED = ("AgentFunctionName", "MemoryFunctionName", "SearchFunctionName",
              "MemoryWriterFunctionName", "ApiId", "ConversationsTableName", "MemoriesTableName")


def _monitored_names(deployed: dict[str, str]) -> dict[str, str] | None:
    """The monitoring stack's parameters: what it watches, from the other stacks' outputs
    (parameters, not imports, so it never pins an export another change must move)."""
    names = {k: deployed.get(k, "") for k in _MONITORED}
    names["MemoryQueueName"] = deployed.get("MemoryQueueUrl", "").rstrip("/").rsplit("/", 1)[-1]
    names["DeadLetterQueueName"] = (
        deployed.get("DeadLetterQueueUrl", "").rstrip("/").rsplit("/", 1)[-1])
    return names if all(names.values()) else None


def _table_names(env: str, deployed: dict[str, str]) -> dict[str, str]:
    """The compute stack's table parameters, from the storage stack's outputs (the tables in
    use, which a restore changes): parameters, because an export another stack imports
    cannot change."""
    return {"ConversationsTableName": deployed.get("ConversationsTableName")
            or f"pai-conversations-{env}",
            "MemoriesTableName": deployed.get("MemoriesTableName") or f"pai-memories-{env}"}


def _vector_names_known(values: dict[str, str]) -> bool:
    if values["VectorStore"] == "opensearch":
        return bool(values["VectorSearchEndpoint"])
    return bool(values["VectorBucketName"])


def status(env: str, aws: Aws, drift: bool = True) -> StatusOutcome:
    """Each stack's state, its drift (optional: detection takes a while) and its outputs,
    and the state of every alarm the stacks made."""
    stacks = Deployer(aws, check_env(env)).status(drift=drift)
    deployed = [s for s, row in zip(STACKS, stacks, strict=True) if row.status != "NOT_DEPLOYED"]
    return StatusOutcome(env, aws.region, stacks, alarm_states(aws, env, deployed))


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
                f". Use --delete-data to delete them too. A new deploy of {env!r} takes them "
                "over again (the tables and bucket are imported, the key is reused).")
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


def _upload_code(aws: Aws, deployed: dict[str, str], dry_run: bool, package: Package,
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
    bucket = deployed.get("ArtifactBucketName")
    if not bucket:
        raise ConfigError("The security stack has no ArtifactBucketName output: redeploy it.")
    from botocore.exceptions import ClientError

    s3 = aws.client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        call(lambda: s3.upload_file(str(artifact.path), bucket, key), f"S3 bucket {bucket}")
    return key
