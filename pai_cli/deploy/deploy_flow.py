"""`pai deploy` as a function: each stack's change set planned in order, shown, asked
about, run, its events streamed; then the account's first call to the chat model, and a
--vector-store switch's reindex and retirement of the old store.

    deploy(options, aws, confirm, on_event, on_note, reindex=...) -> DeployOutcome"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.callbacks import Confirm, OnEvent, OnNote
from pai_cli.deploy.code_upload import Package, build_in_cache, upload_code
from pai_cli.deploy.deploy_parameters import (
    model_parameters,
    monitored_names,
    stack_parameters,
    table_names,
    vector_names,
    vector_names_known,
)
from pai_cli.deploy.stacks import (
    STACKS,
    Deployer,
    Parameters,
    Planned,
    check_env,
    deployer_arn,
    static_names,
    template,
)
from pai_cli.errors import ConfigError

CheckModel = Callable[[Aws, str], str | None]
"""Makes the account's first call to the chat model as the deployer: None, or what to do."""
Reindex = Callable[[str, OnNote], int]
"""Re-embeds every user's memories into the named vector store; returns how many."""


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
            values["CodeKey"] = upload_code(aws, deployed, options.dry_run, package, on_note)
            values.update(vector_names(options.vector_store, deployed))
            values.update(table_names(env, deployed))
            if options.auth == "cognito":  # the security stack's pool authorizes the API
                values["JwtIssuer"] = deployed.get("UserPoolIssuer", "")
                values["JwtAudience"] = deployed.get("UserPoolClientId", "")
                if not values["JwtIssuer"] and options.dry_run:
                    on_note("Dry run: the compute stack's authorizer takes the user pool "
                            "from the security stack, so its changes can be shown once "
                            "that is applied.")
                    break
            if options.dry_run and not vector_names_known(values):
                on_note("Dry run: the compute stack takes the new vector store's names from "
                        "the ai stack, so its changes can be shown once that is applied.")
                break
        if stack == "monitoring":
            watched = monitored_names(stacks.outputs())
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
