"""One environment's stacks through CloudFormation: change sets, events, outputs, drift, delete.

No Rich, no Typer here: callers pass a callback for the stack events (deploy_flow.py,
destroy_flow.py and restore.py run the commands). Polling is our own (an injectable sleep),
not boto3's waiters, so the flow is testable with botocore's Stubber and prints every stack
event as it arrives."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pai_cli.backends.aws.names import STACKS, stack_name
from pai_cli.backends.aws.session import Aws, call
from pai_cli.errors import BackendError, InputError

TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
TERMINAL_BAD = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_FAILED",
                "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED",
                "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"}
Event = dict[str, Any]
Parameters = dict[str, str] | Callable[[dict[str, str] | None], dict[str, str]]
"""A stack's parameter values, or a function of its current ones (None: it does not exist
yet), for values that must stay as they are (a kept key) or depend on what is deployed."""
RETAINED = ("Retain", "RetainExceptOnCreate")
_PSEUDO = re.compile(r"\$\{([A-Za-z0-9_:]+)\}")


def template(stack: str) -> str:
    """The stack's template, from the installed package (infra/ in a checkout)."""
    return resources.files("pai_cli.infra").joinpath(f"{stack}.yaml").read_text("utf-8")


def template_parameters(stack: str) -> set[str]:
    """The parameter names the stack's template declares."""
    import yaml

    return set(yaml.safe_load(template(stack)).get("Parameters", {}))


def static_names(text: str, values: dict[str, str]) -> str:
    """The template with the names of what it keeps (DeletionPolicy Retain or
    RetainExceptOnCreate) written out: CloudFormation imports an existing resource into a new
    stack (ImportExistingResources) only when its name in the template is static, not an
    Fn::Sub. values: Env and the pseudo parameters (AWS::AccountId, AWS::Region,
    AWS::Partition). A Ref to a resource whose name was written out becomes that name, with
    a DependsOn in its place. Returned as JSON, which CloudFormation reads as well as YAML."""
    import json

    import yaml

    doc = yaml.safe_load(text)
    resources = doc.get("Resources", {})
    named: dict[str, str] = {}

    def literal(value: Any) -> str | None:
        if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            used = set(_PSEUDO.findall(value["Fn::Sub"]))
            if used <= set(values):
                return _PSEUDO.sub(lambda m: values[m.group(1)], value["Fn::Sub"])
        return None

    for logical, res in resources.items():
        if res.get("DeletionPolicy") not in RETAINED:
            continue
        for prop, value in list((res.get("Properties") or {}).items()):
            if prop.endswith("Name") and (name := literal(value)) is not None:
                res["Properties"][prop] = name
                named[logical] = name
    for res in resources.values():
        if res.get("DeletionPolicy") not in RETAINED:
            continue
        for prop, value in list((res.get("Properties") or {}).items()):
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in named:
                res["Properties"][prop] = named[value["Ref"]]
                depends = res.get("DependsOn", [])
                depends = [depends] if isinstance(depends, str) else list(depends)
                res["DependsOn"] = [*depends, value["Ref"]]
    return json.dumps(doc, indent=1)


def check_env(env: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", env):
        raise InputError(f"--env {env!r} is not valid: use 1-20 of a-z, 0-9 and '-'.")
    return env


SSO_PATH = "aws-reserved/sso.amazonaws.com/"


def principal_arn(caller_arn: str, role_arn: str | None = None) -> str:
    """A key or data-access policy must name a role, not one of its sessions:
    arn:aws:sts::1:assumed-role/Name/session -> arn:aws:iam::1:role/[path/]Name. The path
    is not in the session ARN: role_arn (from iam:GetRole) supplies it; without it, IAM
    Identity Center's known path is used for its roles."""
    if ":assumed-role/" not in caller_arn:
        return caller_arn
    if role_arn:
        return role_arn
    head, rest = caller_arn.split(":assumed-role/", 1)
    name = rest.split("/", 1)[0]
    path = SSO_PATH if name.startswith("AWSReservedSSO_") else ""
    return f"{head.replace(':sts:', ':iam:')}:role/{path}{name}"


def deployer_arn(aws: Aws, caller_arn: str) -> str:
    if ":assumed-role/" not in caller_arn:
        return caller_arn
    from botocore.exceptions import ClientError

    name = caller_arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    try:
        return principal_arn(caller_arn, aws.client("iam").get_role(RoleName=name)["Role"]["Arn"])
    except ClientError:
        return principal_arn(caller_arn)  # no iam:GetRole: the best guess, --deployer-arn wins


@dataclass(frozen=True)
class Change:
    action: str
    logical_id: str
    resource_type: str
    replacement: str


@dataclass(frozen=True)
class StackState:
    stack: str
    status: str
    drift: str | None
    outputs: dict[str, str]


@dataclass
class Planned:
    stack: str
    name: str
    change_set: str | None
    changes: list[Change] = field(default_factory=list)
    exists: bool = False
    note: str | None = None


@dataclass
class Deployer:
    aws: Aws
    env: str
    sleep: Callable[[float], None] = time.sleep
    poll_s: float = 2.0
    timeout_s: float = 3600.0

    @property
    def cfn(self) -> Any:
        return self.aws.client("cloudformation")

    def _call(self, fn: Any) -> Any:
        return call(fn, "CloudFormation", self.env)

    def describe(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.cfn.describe_stacks(StackName=name)["Stacks"][0]
        except ClientError as e:
            if "does not exist" in str(e):
                return None
            raise

    # -- deploy --------------------------------------------------------------------------
    def plan(self, stack: str, parameters: Parameters, body: str | None = None) -> Planned:
        """Create a change set and wait until CloudFormation has worked it out. A new stack's
        change set imports the named resources that already exist (what a plain destroy
        kept, or a rolled-back create could not delete) instead of failing on them."""
        name = stack_name(stack, self.env)
        current = self._call(lambda: self.describe(name))
        if current is not None and current["StackStatus"] == "ROLLBACK_COMPLETE":
            # A failed first create: CloudFormation deleted what it made (RetainExceptOnCreate)
            # and wants the stack deleted before it can be created again. Only this stack:
            # the others keep their data.
            self._call(lambda: self.cfn.delete_stack(StackName=name))
            self._follow(name, set(), lambda e: None, deleting=True)
            current = None
        exists = current is not None and current["StackStatus"] != "REVIEW_IN_PROGRESS"
        if callable(parameters):
            parameters = parameters({p["ParameterKey"]: p.get("ParameterValue", "")
                                     for p in current.get("Parameters", [])} if exists and current
                                    else None)
        cs_name = f"pai-{int(time.time())}"
        values = parameters
        more: dict[str, Any] = {} if exists else {"ImportExistingResources": True}
        self._call(lambda: self.cfn.create_change_set(
            StackName=name, ChangeSetName=cs_name, ChangeSetType="UPDATE" if exists else "CREATE",
            TemplateBody=body or template(stack), Capabilities=["CAPABILITY_NAMED_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
            Tags=[{"Key": "app", "Value": "pai"}, {"Key": "pai:env", "Value": self.env}],
            **more))
        deadline = time.monotonic() + 600
        while True:
            cs = self._call(lambda: self.cfn.describe_change_set(StackName=name,
                                                                 ChangeSetName=cs_name))
            status, reason = cs["Status"], cs.get("StatusReason", "")
            if status == "CREATE_COMPLETE":
                changes = [Change(c["ResourceChange"]["Action"],
                                  c["ResourceChange"]["LogicalResourceId"],
                                  c["ResourceChange"]["ResourceType"],
                                  c["ResourceChange"].get("Replacement") or "")
                           for c in cs.get("Changes", [])]
                return Planned(stack, name, cs_name, changes, exists)
            if status == "FAILED":
                self._call(lambda: self.cfn.delete_change_set(StackName=name,
                                                              ChangeSetName=cs_name))
                if "didn't contain changes" in reason or "No updates" in reason:
                    return Planned(stack, name, None, [], exists, note="no changes")
                raise BackendError(f"CloudFormation refused the change set for {name}: {reason}")
            if time.monotonic() > deadline:
                raise BackendError(f"The change set for {name} did not finish in 10 minutes.")
            self.sleep(self.poll_s)

    def discard(self, planned: Planned) -> None:
        """Throw a change set away (dry run, or the user said no)."""
        if not planned.change_set:
            return
        self._call(lambda: self.cfn.delete_change_set(StackName=planned.name,
                                                      ChangeSetName=planned.change_set))
        if not planned.exists:  # a CREATE change set leaves an empty stack behind
            self._call(lambda: self.cfn.delete_stack(StackName=planned.name))

    def execute(self, planned: Planned, on_event: Callable[[Event], None]) -> dict[str, Any]:
        """Run the change set and stream its events; returns the final stack description."""
        if not planned.change_set:
            stack = self._call(lambda: self.describe(planned.name))
            assert stack is not None
            return stack
        seen = {e["EventId"] for e in self._events(planned.name)}
        self._call(lambda: self.cfn.execute_change_set(StackName=planned.name,
                                                       ChangeSetName=planned.change_set))
        return self._follow(planned.name, seen, on_event)

    def _follow(self, name: str, seen: set[str], on_event: Callable[[Event], None],
                deleting: bool = False) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        history = set(seen)  # events from before this run: never the reason for its failure
        while True:
            self._emit(name, seen, on_event)
            stack = self._call(lambda: self.describe(name))
            status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
            if stack is None and not deleting:
                raise BackendError(f"Stack {name} disappeared while deploying.")
            if status in TERMINAL_OK or (deleting and status == "DELETE_COMPLETE"):
                return stack or {"StackName": name, "StackStatus": status}
            if status in TERMINAL_BAD:
                self._emit(name, seen, on_event)
                raise BackendError(self._failure(name, status, history))
            if time.monotonic() > deadline:
                raise BackendError(f"Stack {name} is still {status} after "
                                   f"{self.timeout_s / 60:.0f} minutes.")
            self.sleep(self.poll_s)

    def _events(self, name: str) -> list[Event]:
        from botocore.exceptions import ClientError

        try:
            return self.cfn.describe_stack_events(StackName=name)["StackEvents"]
        except ClientError:
            return []  # the stack is gone (a delete finished) or not there yet

    def _emit(self, name: str, seen: set[str], on_event: Callable[[Event], None]) -> None:
        fresh = [e for e in self._events(name) if e["EventId"] not in seen]
        seen.update(e["EventId"] for e in fresh)
        for e in reversed(fresh):  # the API lists newest first
            on_event(e)

    def _failure(self, name: str, status: str, earlier: set[str] | None = None) -> str:
        """The first resource that failed in this run, and why; then where the stack is."""
        failed = [e for e in reversed(self._events(name))
                  if e["ResourceStatus"].endswith("_FAILED") and e.get("ResourceStatusReason")
                  and e["LogicalResourceId"] != name and e["EventId"] not in (earlier or ())]
        why = (f"{failed[0]['LogicalResourceId']} ({failed[0]['ResourceType']}): "
               f"{failed[0]['ResourceStatusReason']}") if failed else "no resource reported why"
        return f"Stack {name} failed: {why}. It is now {status}."

    # -- status / outputs / destroy -------------------------------------------------------
    def outputs(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for stack in STACKS:
            described = self._call(lambda s=stack: self.describe(stack_name(s, self.env)))
            for out in (described or {}).get("Outputs", []):
                found[out["OutputKey"]] = out["OutputValue"]
        return found

    def status(self, drift: bool = True) -> list[StackState]:
        rows = []
        for stack in STACKS:
            name = stack_name(stack, self.env)
            described = self._call(lambda n=name: self.describe(n))
            rows.append(StackState(
                stack=name,
                status=described["StackStatus"] if described else "NOT_DEPLOYED",
                drift=self._drift(name) if described and drift else None,
                outputs={o["OutputKey"]: o["OutputValue"]
                         for o in (described or {}).get("Outputs", [])},
            ))
        return rows

    def _drift(self, name: str) -> str:
        detection = self._call(lambda: self.cfn.detect_stack_drift(StackName=name))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            out = self._call(lambda: self.cfn.describe_stack_drift_detection_status(
                StackDriftDetectionId=detection["StackDriftDetectionId"]))
            if out["DetectionStatus"] != "DETECTION_IN_PROGRESS":
                return out.get("StackDriftStatus", "UNKNOWN")
            self.sleep(self.poll_s)
        return "UNKNOWN (detection still running)"

    def delete(self, stack: str, on_event: Callable[[Event], None]) -> bool:
        name = stack_name(stack, self.env)
        if self._call(lambda: self.describe(name)) is None:
            return False
        seen = {e["EventId"] for e in self._events(name)}
        self._call(lambda: self.cfn.delete_stack(StackName=name))
        self._follow(name, seen, on_event, deleting=True)
        return True
