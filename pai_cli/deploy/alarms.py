"""The CloudWatch alarms of an environment and their states, for `pai status`.

The alarms are the ones pai's own stacks make (the monitoring stack's, and the storage
stack's dead-letter alarm): their names are read from the templates (each AlarmName is an
Fn::Sub of the environment), so an alarm someone else named pai-... is never shown, and an
alarm a deployed stack should have but CloudWatch lacks is shown as MISSING."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pai_cli.backends.aws.names import STACKS, stack_name
from pai_cli.backends.aws.session import Aws, call

STATES = ("ALARM", "MISSING", "INSUFFICIENT_DATA", "OK")
"""The alarm states, worst first (the order `pai status` lists them in)."""


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str
    """OK, ALARM or INSUFFICIENT_DATA (no data yet: a new alarm, or a function never run);
    MISSING: the stack is deployed but CloudWatch has no such alarm."""
    stack: str
    reason: str = ""
    since: str | None = None
    """When the alarm entered its state (ISO 8601, UTC)."""


def expected_alarms(env: str, stacks: Iterable[str] = STACKS) -> dict[str, str]:
    """Alarm name -> the stack whose template makes it."""
    import yaml

    from pai_cli.deploy.stacks import template

    found: dict[str, str] = {}
    for stack in stacks:
        resources = yaml.safe_load(template(stack)).get("Resources", {})
        for res in resources.values():
            if res.get("Type") not in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
                continue
            name = (res.get("Properties") or {}).get("AlarmName")
            if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
                found[name["Fn::Sub"].replace("${Env}", env)] = stack_name(stack, env)
    return found


def alarm_states(aws: Aws, env: str, deployed: Iterable[str] = STACKS) -> list[AlarmState]:
    """Every alarm of the environment's deployed stacks (short names) with its state, worst
    first, then by name."""
    owners = expected_alarms(env, deployed)
    if not owners:
        return []
    cw = aws.client("cloudwatch")
    names = sorted(owners)
    rows: list[AlarmState] = []
    for i in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
        batch = names[i:i + 100]
        page = call(lambda b=batch: cw.describe_alarms(
            AlarmNames=b, AlarmTypes=["MetricAlarm", "CompositeAlarm"], MaxRecords=100),
            "CloudWatch", env)
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            rows.append(AlarmState(alarm["AlarmName"], alarm.get("StateValue", "UNKNOWN"),
                                   owners.get(alarm["AlarmName"], ""),
                                   alarm.get("StateReason", ""),
                                   _iso(alarm.get("StateUpdatedTimestamp"))))
    missing = set(names) - {r.name for r in rows}
    rows += [AlarmState(n, "MISSING", owners[n], "in the stack, but CloudWatch has no such "
                        "alarm: redeploy the stack") for n in sorted(missing)]
    order = {s: i for i, s in enumerate(STATES)}
    return sorted(rows, key=lambda r: (order.get(r.state, -1), r.name))


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value) if value else None
