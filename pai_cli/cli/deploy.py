"""`pai deploy`, `pai status`, `pai destroy`: the AWS stacks from the command line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict
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


def _event_printer(out: Out) -> Callable[[dict[str, Any]], None]:
    def show(e: dict[str, Any]) -> None:
        when = e.get("Timestamp")
        stamp = when.strftime("%H:%M:%S") if isinstance(when, datetime) else str(when or "")
        reason = f"  {e['ResourceStatusReason']}" if e.get("ResourceStatusReason") else ""
        out.note(f"  {stamp}  {e['ResourceStatus']:<22} {e['LogicalResourceId']} "
                 f"({e['ResourceType']}){reason}")
    return show


def _confirmer(yes: bool) -> Callable[[str], bool]:
    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise InputError("No terminal to confirm on: pass --yes to go ahead.")
        return typer.confirm(question, err=True)
    return confirm


def deploy(
    env: EnvOpt = "dev",
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    vector_store: Annotated[
        str, typer.Option("--vector-store", help="s3vectors (default, no idle cost) or opensearch.")
    ] = "s3vectors",
    auth: Annotated[str, typer.Option("--auth", help="iam (SigV4, default), jwt (an OIDC "
                                      "issuer) or cognito (a user pool; `pai login`).")] = "iam",
    jwt_issuer: Annotated[str, typer.Option("--jwt-issuer", help="OIDC issuer URL (--auth jwt).")] = "",
    jwt_audience: Annotated[str, typer.Option("--jwt-audience", help="JWT audience(s).")] = "",
    model: Annotated[
        str, typer.Option("--model", help="Bedrock inference profile id of the chat model.")
    ] = "",
    deployer_arn: Annotated[
        str, typer.Option("--deployer-arn", help="IAM role or user to name in the key and "
                          "collection policies (default: the caller, from STS and IAM).")
    ] = "",
    principal_user: Annotated[
        list[str] | None, typer.Option("--principal-user", help="ARN=NAME: file the memories "
                                       "of this IAM principal (or jwt:ISSUER:SUBJECT) under "
                                       "NAME in the HTTP API (repeat it; once given, the list "
                                       "replaces the deployed one).")
    ] = None,
    alarm_topic: Annotated[
        str | None, typer.Option("--alarm-topic", help="SNS topic ARN every alarm notifies "
                                 "(default: the monitoring stack's own, pai-alarms-ENV; \"\" "
                                 "goes back to it).")
    ] = None,
    alarm_email: Annotated[
        str | None, typer.Option("--alarm-email", help="E-mail address subscribed to the "
                                 "alarms (AWS mails a link to confirm first; \"\" removes it).")
    ] = None,
    tracing: Annotated[
        bool | None, typer.Option("--tracing/--no-tracing", help="X-Ray active tracing of the "
                                  "functions (off unless asked; kept as deployed).")
    ] = None,
    user_rate: Annotated[
        int | None, typer.Option("--user-rate", min=0, max=6000, help="HTTP API requests a "
                                 "minute each user may make, on average (0: no per-user "
                                 "limit; default 60, then as deployed).")
    ] = None,
    user_burst: Annotated[
        int | None, typer.Option("--user-burst", min=1, max=1000, help="Requests a user may "
                                 "make at once (default 20, then as deployed).")
    ] = None,
    yes: YesOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would change.")] = False,
    estimate: Annotated[
        bool, typer.Option("--estimate", help="Print the monthly cost of this configuration.")
    ] = False,
    package_only: Annotated[
        bool, typer.Option("--package-only", help="Only build the Lambda artifact (into the "
                           "cache a deploy reuses) and print its path and sha256; no AWS call.")
    ] = False,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Provision (or update) the five stacks of an environment: security, storage, ai,
    compute, monitoring. Each stack's change set is shown and confirmed before it runs;
    events stream as they happen; the outputs (API URL, tables, bucket, dashboard) are
    printed at the end.

    Example: pai deploy --env dev --region eu-west-1
    """
    from pai_cli.config import AUTH_MODES, VECTOR_STORES
    if package_only:
        if dry_run or estimate:
            raise typer.BadParameter("builds the artifact only: drop --dry-run and --estimate.",
                                     param_hint="--package-only")
        _package(Out.choose(as_json, output))
        return
    from pai_cli.deploy import flow
    from pai_cli.deploy.stacks import check_env
    from pai_cli.wiring import deploy_session, reindex_everyone

    out = Out.choose(as_json, output)
    if vector_store not in VECTOR_STORES:
        raise typer.BadParameter(f"use {' or '.join(VECTOR_STORES)}.", param_hint="--vector-store")
    if auth not in AUTH_MODES:
        raise typer.BadParameter(f"use {', '.join(AUTH_MODES)}.", param_hint="--auth")
    if auth == "jwt" and not (jwt_issuer and jwt_audience):
        raise typer.BadParameter("--auth jwt needs --jwt-issuer and --jwt-audience.",
                                 param_hint="--auth")
    check_env(env)
    if alarm_email:
        _check_email(alarm_email)
    if estimate:
        _print_estimate(out, vector_store, prod=env == "prod", tracing=bool(tracing))
        return
    users = None
    if principal_user is not None:
        users = {}
        for pair in principal_user:
            arn, sep, name = pair.rpartition("=")
            if not sep or not arn or not name:
                raise typer.BadParameter(f"{pair!r}: use ARN=NAME.", param_hint="--principal-user")
            from pai_cli.config import check_user

            users[arn] = check_user(name)
    options = flow.DeployOptions(env, vector_store, auth, jwt_issuer, jwt_audience, model,
                                 deployer_arn, dry_run, principal_users=users,
                                 alarm_topic=alarm_topic, alarm_email=alarm_email,
                                 tracing=tracing, user_rate=user_rate, user_burst=user_burst)

    def reindex(store: str, note: Callable[[str], None]) -> int:
        return reindex_everyone(env, store, profile, region, note)

    done = flow.deploy(options, deploy_session(profile, region), _confirmer(yes),
                       _event_printer(out), out.note, reindex=reindex)
    if done.aborted:
        raise typer.Abort()
    if done.dry_run:
        out.emit({"dry_run": True}) if out.json else out.note("Dry run: nothing was changed.")
    elif out.json:
        out.emit({"env": done.env, "region": done.region, "changed": done.changed,
                  "outputs": done.outputs, "model_problem": done.model_problem,
                  "switched_from": done.switched_from, "reindexed": done.reindexed})
    else:
        out.table(None, ["output", "value"], sorted(done.outputs.items()))
        if done.model_problem:
            out.note(f"pai: the stacks are deployed, but the chat model is not usable yet: "
                     f"{done.model_problem}")
    if alarm_email and not done.dry_run:
        out.note(f"AWS mails {alarm_email} a link to confirm the alarms' subscription: no "
                 "alarm is delivered there until it is clicked.")


def _package(out: Out) -> None:
    """The artifact `pai deploy` would upload, built where it looks for it: the same
    sources give the same bytes, so a deploy after this one uploads exactly this zip."""
    from pai_cli.deploy import flow

    art = flow.build_in_cache(out.note)
    fields = {"path": str(art.path), "sha256": art.sha256, "size_bytes": art.size_bytes,
              "unzipped_bytes": art.unzipped_bytes, "wheels": len(art.wheels),
              "dropped": art.dropped}
    if out.json:
        out.emit(fields)
    else:
        out.table(None, ["artifact", "value"], [(k, v) for k, v in fields.items() if k != "dropped"])


def _check_email(address: str) -> None:
    import re

    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
        raise typer.BadParameter(f"{address!r} is not an e-mail address.",
                                 param_hint="--alarm-email")


def _print_estimate(out: Out, vector_store: str, prod: bool = False,
                    tracing: bool = False) -> None:
    from pai_cli.deploy.estimate import Usage, as_dict, estimate

    usage = Usage()
    lines = estimate(vector_store, usage, prod=prod, tracing=tracing)
    summary = as_dict(lines, vector_store, usage, tracing=tracing)
    if out.json:
        out.emit(summary)
        return
    out.note(f"Usage profile: {usage.turns:,} chat turns, {usage.searches:,} searches a month, "
             f"{usage.memories:,} memories stored.")
    out.table(None, ["item", "USD/month", "fixed", "what"],
              [(x.item, f"{x.monthly_usd:.2f}", "yes" if x.fixed else "", x.note) for x in lines])
    out.note(f"Total ~${summary['monthly_usd']}/month, of which ${summary['fixed_floor_usd']} "
             "is billed even with no use.")


def status(
    env: EnvOpt = "dev", profile: ProfileOpt = None, region: RegionOpt = None,
    drift: Annotated[bool, typer.Option("--drift/--no-drift", help="Run drift detection.")] = True,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Each stack's state, its drift, its outputs, and the state of its alarms.

    Example: pai status --env dev --no-drift
    """
    from pai_cli.deploy import flow
    from pai_cli.wiring import deploy_session

    out = Out.choose(as_json, output)
    done = flow.status(env, deploy_session(profile, region), drift=drift)
    if out.json:
        out.emit({"env": done.env, "region": done.region,
                  "stacks": [asdict(s) for s in done.stacks],
                  "alarms": [asdict(a) for a in done.alarms]})
        return
    out.table(None, ["stack", "status", "drift"],
              [(s.stack, s.status, s.drift or "") for s in done.stacks])
    if done.alarms:
        out.table(None, ["alarm", "state", "since", "stack"],
                  [(a.name, a.state, a.since or "", a.stack) for a in done.alarms])
        firing = [a for a in done.alarms if a.state == "ALARM"]
        out.note(f"{len(firing)} of {len(done.alarms)} alarms firing"
                 + (": " + "; ".join(f"{a.name}: {a.reason}" for a in firing) if firing else "."))
    outputs = sorted((k, v) for s in done.stacks for k, v in s.outputs.items())
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
    from pai_cli.deploy import flow
    from pai_cli.wiring import deploy_session

    out = Out.choose(as_json, output)
    done = flow.destroy(env, deploy_session(profile, region), _confirmer(yes),
                        _event_printer(out), out.note, delete_data=delete_data)
    if done.aborted:
        raise typer.Abort()
    if out.json:
        out.emit({"env": done.env, "region": done.region, "deleted_stacks": done.deleted_stacks,
                  "deleted_data": done.deleted_data, "kept": done.kept})
    else:
        out.note("Done." + (f" Kept: {', '.join(done.kept)}." if done.kept else ""))
