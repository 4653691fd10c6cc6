"""`pai status` as a function: each stack's state, drift and outputs, and its alarms.

    status(env, aws, drift) -> StatusOutcome"""

from __future__ import annotations

from dataclasses import dataclass, field

from pai_cli.backends.aws.session import Aws
from pai_cli.deploy.alarms import AlarmState, alarm_states
from pai_cli.deploy.stacks import STACKS, Deployer, StackState, check_env


@dataclass(frozen=True)
class StatusOutcome:
    env: str
    region: str
    stacks: list[StackState]
    alarms: list[AlarmState] = field(default_factory=list)
    """The stacks' CloudWatch alarms, worst state first."""


def status(env: str, aws: Aws, drift: bool = True) -> StatusOutcome:
    """Each stack's state, its drift (optional: detection takes a while) and its outputs,
    and the state of every alarm the stacks made."""
    stacks = Deployer(aws, check_env(env)).status(drift=drift)
    deployed = [s for s, row in zip(STACKS, stacks, strict=True) if row.status != "NOT_DEPLOYED"]
    return StatusOutcome(env, aws.region, stacks, alarm_states(aws, env, deployed))
