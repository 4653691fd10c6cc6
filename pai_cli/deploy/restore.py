"""`pai restore` as functions: the reference's recovery procedure, driven end to end.

    plan_restore(options, aws) -> RestorePlan
    restore(options, aws, confirm, on_event, on_note, rebuild=...) -> RestoreOutcome
    recovery_points(env, aws) -> list[RecoveryPoint]

1. Restore each table to a NEW table (pai-memories-<env>.restore-<time>): from its
   point-in-time recovery (RestoreTableToPointInTime) or from an AWS Backup recovery point
   (StartRestoreJob, as the storage stack's backup role). The tables in use are never
   written: whatever goes wrong, they are still there, as they were.
2. Wait for the new tables (a restore takes minutes to hours), saying how it goes; then
   give them what a restore does not carry over: PITR, TTL, the pai tags.
3. Point the stacks at them by parameters: the compute stack (the functions' table names)
   then the storage stack (its outputs, which the CLI reads, and the backup selection),
   then the monitoring stack where there is one (its table alarms), each an update with
   its own deployed template and only the table names changed.
4. Rebuild the vector index from the restored memories (DynamoDB + the S3 bodies): the
   core's reindex for every user, through `rebuild` (deploy imports no core).
5. Verify: items in the old and the restored tables, each restored table active, encrypted
   with the pai key, with PITR on, named by both stacks; vectors against memories per user.

No Rich, no Typer: the CLI (cli/restore.py) asks, prints the notes and renders the outcome.
moto implements RestoreTableToPointInTime and the table calls; AWS Backup's recovery points
and restore jobs are tested with botocore's Stubber.

This module runs the steps in order; each has its own module: restore_plan.py (the plan,
checked before anything changes), restore_tables.py (steps 1-2), repoint_stacks.py (step
3), restore_checks.py (step 5) and recovery_points.py (`--list`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.callbacks import Confirm, OnEvent, OnNote
from pai_cli.deploy.recovery_points import RecoveryPoint, recovery_points
from pai_cli.deploy.repoint_stacks import point_stack
from pai_cli.deploy.restore_checks import Check, verify
from pai_cli.deploy.restore_plan import (
    KINDS,
    LATEST,
    PARAMETER,
    STAMP,
    SUFFIX,
    RestoreOptions,
    RestorePlan,
    TablePlan,
    kind_of,
    own_table,
    plan_restore,
)
from pai_cli.deploy.restore_tables import (
    NOTE_EVERY_S,
    POLL_S,
    TIMEOUT_S,
    Waiter,
    count_items,
    finish_table,
    start_restore,
)
from pai_cli.deploy.stacks import Deployer, check_env, stack_name

__all__ = ["KINDS", "LATEST", "NOTE_EVERY_S", "PARAMETER", "POLL_S", "STAMP", "SUFFIX",
           "TIMEOUT_S", "Check", "Confirm", "OnEvent", "OnNote", "Rebuild", "RecoveryPoint",
           "RestoreOptions", "RestoreOutcome", "RestorePlan", "TablePlan", "count_items",
           "own_table", "plan_restore", "recovery_points", "restore"]

Rebuild = Callable[[dict[str, str], str, str, OnNote], dict[str, tuple[int, int]]]
"""(tables in use {"conversations_table", "memories_table"}, vector store, the memories
table used before, on_note) -> per user (memories reindexed, vectors in the index)."""


@dataclass(frozen=True)
class RestoreOutcome:
    plan: RestorePlan
    dry_run: bool = False
    aborted: bool = False
    done: list[str] = field(default_factory=list)
    """What was done, in order, one line each."""
    items: dict[str, dict[str, int]] = field(default_factory=dict)
    """kind -> {"before": items in the old table, "restored": items in the new one}."""
    index: dict[str, tuple[int, int]] = field(default_factory=dict)
    """user -> (memories reindexed, vectors in the index)."""
    checks: list[Check] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def restore(options: RestoreOptions, aws: Aws, confirm: Confirm, on_event: OnEvent,
            on_note: OnNote, *, rebuild: Rebuild | None, deployer: Deployer | None = None,
            sleep: Callable[[float], None] = time.sleep, poll_s: float = POLL_S,
            timeout_s: float = TIMEOUT_S) -> RestoreOutcome:
    """Plan, show, ask, then run the five steps of the module docstring."""
    stacks = deployer or Deployer(aws, check_env(options.env))
    plan = plan_restore(options, aws, stacks)
    for line in plan.lines():
        on_note(line)
    if options.dry_run:
        return RestoreOutcome(plan, dry_run=True)
    if not confirm(f"Restore pai env {plan.env!r} in {plan.region} as planned?"):
        return RestoreOutcome(plan, aborted=True)
    env, done = plan.env, []
    items = {t.kind: {"before": count_items(aws, t.source, env)} for t in plan.tables}

    # 1. restores to new tables, all started before any is waited for
    jobs: dict[str, str | None] = {}
    for t in plan.tables:
        if t.resume:
            jobs[t.target] = None
            done.append(f"carried on with {t.target}, restored from {t.source} before")
        else:
            jobs[t.target] = start_restore(aws, plan, t)
            done.append(f"started the restore of {t.source} into {t.target} ({t.method}, "
                        f"{t.point})")
        on_note(done[-1] + ".")
    # 2. wait, then what a restored table does not carry over
    on_note("Waiting for the restored table(s) (minutes to hours, with their size)...")
    Waiter(aws, env, on_note, sleep, poll_s, timeout_s).until_active(jobs)
    for t in plan.tables:
        finish_table(aws, env, t)
        # Counted now: the index rebuild adds its own bookkeeping items to the table.
        items[t.kind]["restored"] = count_items(aws, t.target, env)
    done.append("turned on PITR and TTL on " + ", ".join(t.target for t in plan.tables))
    on_note(done[-1] + ".")
    # 3. the stacks, by parameters: compute (what the functions use) first
    names = {PARAMETER[t.kind]: t.target for t in plan.tables}
    # The monitoring stack's table alarms watch tables by name too: left alone they would
    # watch the old tables (an environment deployed before it existed has none).
    monitored = call(lambda: stacks.describe(stack_name("monitoring", env)), "CloudFormation",
                     env) is not None
    for stack in ("compute", "storage") + (("monitoring",) if monitored else ()):
        point_stack(stacks, stack, names, on_event, on_note)
        done.append(f"updated {stack_name(stack, env)}: " +
                    ", ".join(f"{k}={v}" for k, v in names.items()))
    # 4. the vector index
    in_use = {f"{kind}_table": next((t.target for t in plan.tables if t.kind == kind), None)
              or _in_use(plan, kind) for kind in KINDS}
    previous = next((t.source for t in plan.tables if t.kind == "memories"), "")
    index: dict[str, tuple[int, int]] = {}
    if rebuild is not None:
        on_note(f"Rebuilding the {plan.vector_store} index from {in_use['memories_table']}...")
        index = rebuild(in_use, plan.vector_store, previous, on_note)
        done.append(f"rebuilt the {plan.vector_store} index: "
                    f"{sum(m for m, _ in index.values())} memories of {len(index)} user(s)")
        on_note(done[-1] + ".")
    # 5. verify
    checks = verify(aws, plan, stacks, items, index, rebuild is not None)
    return RestoreOutcome(plan, done=done, items=items, index=index, checks=checks)


def _in_use(plan: RestorePlan, kind: str) -> str:
    for kept in plan.kept:
        if kind_of(kept, plan.env) == kind:
            return kept
    return own_table(kind, plan.env)

