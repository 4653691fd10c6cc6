"""Pointing the stacks at the restored tables: each stack updated with its own deployed
template and parameters, only the table names changed."""

from __future__ import annotations

from pai_cli.backends.aws.session import call
from pai_cli.deploy.callbacks import OnEvent, OnNote
from pai_cli.deploy.stacks import Deployer, stack_name


def point_stack(stacks: Deployer, stack: str, names: dict[str, str], on_event: OnEvent,
                on_note: OnNote) -> None:
    """An update of the stack as deployed (its own template, its parameters) with only the
    table names changed: nothing else about it moves."""
    name = stack_name(stack, stacks.env)
    body = call(lambda: stacks.cfn.get_template(StackName=name, TemplateStage="Original"),
                "CloudFormation", stacks.env)["TemplateBody"]
    if not isinstance(body, str):  # a JSON template comes back parsed
        import json

        body = json.dumps(body)

    def parameters(current: dict[str, str] | None) -> dict[str, str]:
        return {**(current or {}), **{k: v for k, v in names.items()}}

    planned = stacks.plan(stack, parameters, body=body)
    if planned.note == "no changes":
        on_note(f"{name}: already names the restored table(s).")
        return
    on_note(f"{name}: update, {len(planned.changes)} change(s) (table parameters).")
    stacks.execute(planned, on_event)
    on_note(f"{name}: done.")
