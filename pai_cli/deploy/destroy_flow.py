"""`pai destroy` as a function: the stacks deleted last first; the data kept unless asked
twice.

    destroy(env, aws, confirm, on_event, on_note, delete_data=...) -> DestroyOutcome"""

from __future__ import annotations

from dataclasses import dataclass, field

from pai_cli.backends.aws.session import Aws
from pai_cli.deploy.callbacks import Confirm, OnEvent, OnNote
from pai_cli.deploy.stacks import STACKS, Deployer, check_env, stack_name


@dataclass(frozen=True)
class DestroyOutcome:
    env: str
    region: str
    deleted_stacks: list[str] = field(default_factory=list)
    deleted_data: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """What stays (and is still billed): the tables, the memory bucket, the key."""
    aborted: bool = False


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
