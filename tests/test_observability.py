"""Observability: the monitoring stack (as data, with cfn-lint in test_infra_templates.py, and
created by moto's CloudFormation), tracing in the compute stack, the handlers' JSON logs and
embedded-metric-format lines (captured from real invocations against moto), `pai status`
with the alarms' states on moto's CloudWatch, and `pai logs` on moto's CloudWatch Logs.

moto ignores what an alarm watches, dashboards' bodies, saved queries and JSON filter
patterns (its FilterLogEvents returns every line for a `{ $.field = ... }` pattern): those
are asserted on the template, and the pattern pai sends with botocore's Stubber."""

from __future__ import annotations

import io
import json
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber
from conftest import pai

from pai_cli.api import observe

INFRA = Path(__file__).resolve().parent.parent / "infra"
ENV = "test"
REGION = "us-east-1"
FUNCTIONS = {"Agent": ("agent", "AgentFunction"), "Memory": ("memory", "MemoryFunction"),
             "Search": ("search", "SearchFunction"),
             "MemoryWriter": ("memory-writer", "MemoryWriterFunction")}


def load(stack: str) -> dict[str, Any]:
    return yaml.safe_load((INFRA / f"{stack}.yaml").read_text())


def sub(value: Any) -> str:
    inner = value["Fn::Sub"]
    return inner if isinstance(inner, str) else inner[0]


def alarms(stack: str = "monitoring") -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in load(stack)["Resources"].items()
            if v["Type"] == "AWS::CloudWatch::Alarm"}


TOPIC = [{"Fn::If": ["OwnTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]


# ------------------------------------------------------------------ the monitoring stack

@pytest.mark.parametrize("short", FUNCTIONS)
def test_each_function_has_errors_throttles_and_duration_alarms(short: str) -> None:
    name, logical = FUNCTIONS[short]
    timeout_s = load("compute")["Resources"][logical]["Properties"]["Timeout"]
    found = alarms()
    for kind, metric in (("Errors", "Errors"), ("Throttles", "Throttles"), ("Duration", "Duration")):
        a = found[f"{short}{kind}Alarm"]
        assert sub(a["AlarmName"]) == f"pai-{name}-{kind.lower()}-${{Env}}"
        assert (a["Namespace"], a["MetricName"]) == ("AWS/Lambda", metric)
        assert a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": f"{short}FunctionName"}}]
        assert a["Period"] == 300 and a["EvaluationPeriods"] == 1
        assert a["TreatMissingData"] == "notBreaching" and a["AlarmActions"] == TOPIC
        if kind == "Duration":
            # "Near the timeout": 80% of the compute stack's own Timeout, in milliseconds.
            assert a["Statistic"] == "Maximum"
            assert a["Threshold"] == timeout_s * 1000 * 0.8
            assert a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        else:
            assert a["Statistic"] == "Sum" and a["Threshold"] == 0
            assert a["ComparisonOperator"] == "GreaterThanThreshold"


def test_api_alarms_5xx_share_and_p95_latency() -> None:
    found = alarms()
    rate = found["Api5xxAlarm"]
    metrics = {m["Id"]: m for m in rate["Metrics"]}
    for mid, name in (("errors", "5xx"), ("requests", "Count")):
        stat = metrics[mid]["MetricStat"]
        assert stat["Metric"] == {"Namespace": "AWS/ApiGateway", "MetricName": name,
                                  "Dimensions": [{"Name": "ApiId", "Value": {"Ref": "ApiId"}}]}
        assert stat["Stat"] == "Sum" and metrics[mid]["ReturnData"] is False
    assert metrics["rate"]["ReturnData"] is True
    assert metrics["rate"]["Expression"] == "IF(requests >= 5, 100 * FILL(errors, 0) / requests, 0)"
    assert rate["Threshold"] == {"Ref": "Api5xxPercent"} and rate["AlarmActions"] == TOPIC
    latency = found["ApiLatencyAlarm"]
    assert (latency["Namespace"], latency["MetricName"]) == ("AWS/ApiGateway", "Latency")
    assert latency["ExtendedStatistic"] == "p95" and "Statistic" not in latency
    assert latency["Threshold"] == {"Ref": "ApiLatencyP95Ms"}
    params = load("monitoring")["Parameters"]
    # API Gateway cuts at 30 s: a threshold above that could never fire.
    assert params["ApiLatencyP95Ms"]["MaxValue"] == 30000 >= params["ApiLatencyP95Ms"]["Default"]


@pytest.mark.parametrize(("logical", "table"), [("ConversationsThrottlesAlarm", "ConversationsTableName"),
                                                ("MemoriesThrottlesAlarm", "MemoriesTableName")])
def test_table_throttle_alarms(logical: str, table: str) -> None:
    a = alarms()[logical]
    metrics = {m["Id"]: m for m in a["Metrics"]}
    assert {metrics[i]["MetricStat"]["Metric"]["MetricName"] for i in ("reads", "writes")} == {
        "ReadThrottleEvents", "WriteThrottleEvents"}
    for i in ("reads", "writes"):
        assert metrics[i]["MetricStat"]["Metric"]["Namespace"] == "AWS/DynamoDB"
        assert metrics[i]["MetricStat"]["Metric"]["Dimensions"] == [
            {"Name": "TableName", "Value": {"Ref": table}}]
    assert metrics["throttled"]["Expression"] == "FILL(reads, 0) + FILL(writes, 0)"
    assert a["Threshold"] == 0 and a["ComparisonOperator"] == "GreaterThanThreshold"


def test_queue_age_alarms_and_the_dead_letter_depth_alarm() -> None:
    found = alarms()
    age = found["MemoryJobsAgeAlarm"]
    assert (age["Namespace"], age["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert age["Dimensions"] == [{"Name": "QueueName", "Value": {"Ref": "MemoryQueueName"}}]
    storage = load("storage")["Resources"]
    queue = storage["MemoryJobsQueue"]["Properties"]
    receives = queue["RedrivePolicy"]["maxReceiveCount"]
    # Past every retry a failing job gets (5 receives, a visibility timeout apart), a job
    # still waiting means the writer is not draining.
    assert load("monitoring")["Parameters"]["QueueAgeSeconds"]["Default"] > (
        receives * queue["VisibilityTimeout"])
    dlq_age = found["DeadLetterAgeAlarm"]
    assert dlq_age["Dimensions"] == [{"Name": "QueueName", "Value": {"Ref": "DeadLetterQueueName"}}]
    retention = storage["MemoryJobsDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert dlq_age["Threshold"] == retention - 2 * 86400  # two days' warning before SQS drops it
    # The depth alarm is the storage stack's, on the topic pai deploy points it at.
    depth = alarms("storage")["MemoryJobsDeadLetterAlarm"]
    assert depth["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}],
                                                {"Ref": "AWS::NoValue"}]}


def test_topic_email_subscription_and_outputs() -> None:
    tpl = load("monitoring")
    res = tpl["Resources"]
    assert tpl["Conditions"]["OwnTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    topic = res["AlarmTopic"]
    assert topic["Condition"] == "OwnTopic" and sub(topic["Properties"]["TopicName"]) == "pai-alarms-${Env}"
    policy = res["AlarmTopicPolicy"]
    assert policy["Condition"] == "OwnTopic"
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish" and statement["Resource"] == {"Ref": "AlarmTopic"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert sub(statement["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(":alarm:pai-*")
    mail = res["AlarmEmailSubscription"]
    assert mail["Condition"] == "HasEmail"
    assert mail["Properties"]["Protocol"] == "email"
    assert mail["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert mail["Properties"]["TopicArn"] == TOPIC[0]
    pattern = re.compile(tpl["Parameters"]["AlarmEmail"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("ops@example.com")
    assert not pattern.fullmatch("not an address")
    assert tpl["Outputs"]["AlarmTopicArn"]["Value"] == TOPIC[0]
    assert "DashboardUrl" in tpl["Outputs"]
    # Every name comes in as a parameter: the monitoring stack pins no export.
    assert "Fn::ImportValue" not in json.dumps(tpl)


def _dashboard() -> dict[str, Any]:
    body = sub(load("monitoring")["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    values = {"Env": ENV, "AWS::Region": REGION, "AWS::Partition": "aws",
              "AWS::AccountId": "123456789012", "ApiId": "a1b2c3",
              "MemoryQueueName": "pai-memory-jobs-test",
              "DeadLetterQueueName": "pai-memory-jobs-dlq-test",
              "ConversationsTableName": "pai-conversations-test",
              "MemoriesTableName": "pai-memories-test",
              **{f"{k}FunctionName": f"pai-{v[0]}-test" for k, v in FUNCTIONS.items()}}
    rendered = re.sub(r"\$\{([A-Za-z0-9:]+)\}", lambda m: values[m.group(1)], body)
    return json.loads(rendered)


def test_dashboard_shows_every_alarm_and_the_functions_metrics() -> None:
    widgets = _dashboard()["widgets"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    shown = {a.rsplit(":", 1)[-1] for a in alarm_widget["properties"]["alarms"]}
    names = {sub(a["AlarmName"]).replace("${Env}", ENV) for a in alarms().values()}
    names |= {sub(a["AlarmName"]).replace("${Env}", ENV) for a in alarms("storage").values()}
    assert shown == names
    custom = {row[1] for w in widgets if w["type"] == "metric"
              for row in w["properties"]["metrics"] if row[0] == f"pai/{ENV}"}
    assert custom == {observe.RECALL_MS, observe.MODEL_MS, observe.WRITE_MS, observe.TOKENS_IN,
                      observe.TOKENS_OUT, observe.TURN_ERRORS, observe.MEMORIES_WRITTEN,
                      observe.JOBS_DONE, observe.JOBS_FAILED}
    for w in widgets:
        for row in w["properties"].get("metrics", []):
            if row[0] == f"pai/{ENV}":  # the dimension Powertools writes: service
                assert row[2:4] == ["service", "pai"]
    (logs,) = [w for w in widgets if w["type"] == "log"]
    for short, _ in FUNCTIONS.values():
        assert f"SOURCE '/aws/lambda/pai-{short}-test'" in logs["properties"]["query"]


def test_saved_queries_read_the_functions_log_groups_and_the_logged_fields() -> None:
    res = load("monitoring")["Resources"]
    queries = {sub(v["Properties"]["Name"]): v["Properties"] for v in res.values()
               if v["Type"] == "AWS::Logs::QueryDefinition"}
    assert set(queries) == {"pai-${Env}/by-user", "pai-${Env}/by-conversation",
                            "pai-${Env}/slowest-turns", "pai-${Env}/errors"}
    compute = load("compute")["Resources"]
    groups = {sub(compute[f"{k}LogGroup"]["Properties"]["LogGroupName"]) for k in FUNCTIONS}
    for name, q in queries.items():
        used = {sub(g).replace("${AgentFunctionName}", "pai-agent-${Env}")
                .replace("${MemoryFunctionName}", "pai-memory-${Env}")
                .replace("${SearchFunctionName}", "pai-search-${Env}")
                .replace("${MemoryWriterFunctionName}", "pai-memory-writer-${Env}")
                for g in q["LogGroupNames"]}
        assert used <= groups and used, name
    assert "by user_id" in queries["pai-${Env}/by-user"]["QueryString"]
    assert "by conversation_id" in queries["pai-${Env}/by-conversation"]["QueryString"]
    slow = queries["pai-${Env}/slowest-turns"]["QueryString"]
    assert 'filter message = "turn"' in slow and "sort total_ms desc" in slow
    assert 'level = "ERROR"' in queries["pai-${Env}/errors"]["QueryString"]


def test_the_estimate_counts_the_alarm_metrics_the_templates_make() -> None:
    from pai_cli.deploy.estimate import ALARM_METRICS, CUSTOM_METRICS

    def metric_count(a: dict[str, Any]) -> int:
        return sum(1 for m in a.get("Metrics", []) if "MetricStat" in m) or 1
    made = sum(metric_count(a) for s in ("monitoring", "storage") for a in alarms(s).values())
    assert made == ALARM_METRICS
    assert CUSTOM_METRICS == len({observe.RECALL_MS, observe.MODEL_MS, observe.WRITE_MS,
                                  observe.TOTAL_MS, observe.TOKENS_IN, observe.TOKENS_OUT,
                                  observe.TURN_ERRORS, observe.MEMORIES_WRITTEN,
                                  observe.JOBS_DONE, observe.JOBS_FAILED})


def test_estimate_prices_tracing_only_when_asked() -> None:
    from pai_cli.deploy.estimate import PRICES, estimate

    off = {x.item: x for x in estimate()}
    on = {x.item: x for x in estimate(tracing=True)}
    assert "X-Ray traces (--tracing)" not in off
    xray = on["X-Ray traces (--tracing)"]
    assert xray.monthly_usd == pytest.approx(7000 * 5.0 / 1e6 + 1000 * 0.5 / 1e6)
    assert "xray/pricing" in PRICES["xray_recorded"].source
    assert off["CloudWatch dashboard"].fixed and off["CloudWatch alarms"].fixed
    doc = json.loads(pai("deploy", "--estimate", "--tracing", "--json").out)
    assert doc["tracing"] is True and "X-Ray traces (--tracing)" in {x["item"] for x in doc["lines"]}


# ------------------------------------------------------------------ tracing in compute

def test_tracing_is_a_parameter_off_by_default_with_its_permission() -> None:
    tpl = load("compute")
    assert tpl["Parameters"]["Tracing"]["AllowedValues"] == ["Active", "PassThrough"]
    assert tpl["Parameters"]["Tracing"]["Default"] == "PassThrough"
    res = tpl["Resources"]
    policy = res["TracingPolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert set(statement["Action"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert policy["Roles"] == [{"Fn::ImportValue": {"Fn::Sub": "pai-${Env}-LambdaRoleName"}}]
    for _, logical in FUNCTIONS.values():
        fn = res[logical]
        # Lambda refuses Active tracing on a role that may not send traces.
        assert fn["DependsOn"] == "TracingPolicy"
        assert fn["Properties"]["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingOn", "false", "true"]}
        assert sub(env["POWERTOOLS_METRICS_NAMESPACE"]) == "pai/${Env}"


# ------------------------------------------------------------------ moto: stack + status

MONITORED = {"Env": ENV, "ApiId": "a1b2c3", "ConversationsTableName": "pai-conversations-test",
             "MemoriesTableName": "pai-memories-test", "MemoryQueueName": "pai-memory-jobs-test",
             "DeadLetterQueueName": "pai-memory-jobs-dlq-test",
             **{f"{k}FunctionName": f"pai-{v[0]}-test" for k, v in FUNCTIONS.items()}}


def _create_monitoring(aws: Any, **more: str) -> dict[str, Any]:
    cfn = aws.client("cloudformation")
    params = {**MONITORED, **more}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # types moto does not model: see below
        cfn.create_stack(StackName=f"pai-monitoring-{ENV}",
                         TemplateBody=(INFRA / "monitoring.yaml").read_text(),
                         Parameters=[{"ParameterKey": k, "ParameterValue": v}
                                     for k, v in params.items()])
    return cfn.describe_stacks(StackName=f"pai-monitoring-{ENV}")["Stacks"][0]


def _resolve(node: Any, refs: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """CloudFormation's intrinsics as the monitoring template uses them."""
    if isinstance(node, list):
        return [_resolve(x, refs, conditions) for x in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return refs[node["Ref"]]
    if set(node) == {"Fn::Sub"}:
        return re.sub(r"\$\{([A-Za-z0-9:]+)\}", lambda m: str(refs[m.group(1)]), node["Fn::Sub"])
    if set(node) == {"Fn::If"}:
        cond, yes, no = node["Fn::If"]
        return _resolve(yes if conditions[cond] else no, refs, conditions)
    return {k: _resolve(v, refs, conditions) for k, v in node.items()}


def _put_alarms_as_cloudformation_would(aws: Any, topic: str, **more: str) -> int:
    """moto's CloudFormation skips AWS::CloudWatch::Alarm: each alarm of the template is made
    here with PutMetricAlarm from its resolved properties (which botocore checks against
    CloudWatch's model: a property CloudWatch would refuse fails here)."""
    tpl = load("monitoring")
    params = {k: v.get("Default") for k, v in tpl["Parameters"].items()}
    params.update({**MONITORED, **more})
    refs = {**params, "AlarmTopic": topic, "AWS::Region": REGION, "AWS::Partition": "aws",
            "AWS::AccountId": "123456789012"}
    conditions = {"OwnTopic": not params["AlarmTopicArn"], "HasEmail": bool(params["AlarmEmail"])}
    cw = aws.client("cloudwatch")
    made = 0
    for props in alarms().values():
        cw.put_metric_alarm(**_resolve(props, refs, conditions))
        made += 1
    return made


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    from pai_cli.backends.aws.session import Aws

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_REGION", REGION)):
        monkeypatch.setenv(var, value)
    with mock_aws():
        yield Aws(REGION)


def test_monitoring_stack_on_moto_with_its_topic_and_alarms(moto_env) -> None:
    """moto's CloudFormation makes the topic and resolves the outputs (it skips the alarms,
    the subscription, the dashboard and the queries: asserted as data above)."""
    stack = _create_monitoring(moto_env, AlarmEmail="ops@example.com")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    sns = moto_env.client("sns")
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert topic.endswith(":pai-alarms-test")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["AlarmTopicArn"] == topic
    assert outputs["DashboardUrl"].endswith("#dashboards:name=pai-overview-test")
    assert _put_alarms_as_cloudformation_would(moto_env, topic) == len(alarms())
    made = {a["AlarmName"]: a for a in moto_env.client("cloudwatch").describe_alarms(
        MaxRecords=100)["MetricAlarms"]}
    assert set(made) == {sub(a["AlarmName"]).replace("${Env}", ENV) for a in alarms().values()}
    assert all(a["AlarmActions"] == [topic] for a in made.values())
    errors = made["pai-agent-errors-test"]
    assert (errors["Namespace"], errors["MetricName"], errors["Dimensions"]) == (
        "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": "pai-agent-test"}])
    assert made["pai-api-latency-test"]["Threshold"] == 20000
    # Your own topic instead: no topic made, every alarm tells yours.
    mine = "arn:aws:sns:us-east-1:123456789012:ops-pager"
    _put_alarms_as_cloudformation_would(moto_env, topic, AlarmTopicArn=mine)
    made = moto_env.client("cloudwatch").describe_alarms(MaxRecords=100)["MetricAlarms"]
    assert all(a["AlarmActions"] == [mine] for a in made)


def test_status_shows_the_alarm_states_next_to_the_stacks(moto_env) -> None:
    _create_monitoring(moto_env)
    topic = moto_env.client("sns").list_topics()["Topics"][0]["TopicArn"]
    _put_alarms_as_cloudformation_would(moto_env, topic)
    cw = moto_env.client("cloudwatch")
    cw.set_alarm_state(AlarmName="pai-agent-errors-test", StateValue="ALARM",
                       StateReason="Threshold Crossed: 1 datapoint [3.0] > 0.0")
    cw.set_alarm_state(AlarmName="pai-search-duration-test", StateValue="OK",
                       StateReason="back to normal")
    cw.delete_alarms(AlarmNames=["pai-memory-jobs-age-test"])  # deleted by hand
    # An alarm no pai stack made is not pai's to show, whatever its name.
    cw.put_metric_alarm(AlarmName="pai-agent-errors-other", MetricName="Errors",
                        Namespace="AWS/Lambda", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
    r = pai("status", "--env", ENV, "--no-drift", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    stacks = {s["stack"]: s["status"] for s in doc["stacks"]}
    assert stacks["pai-monitoring-test"] == "CREATE_COMPLETE"
    assert stacks["pai-storage-test"] == "NOT_DEPLOYED"
    states = [(a["name"], a["state"]) for a in doc["alarms"]]
    assert states[0] == ("pai-agent-errors-test", "ALARM")  # the worst first
    assert ("pai-search-duration-test", "OK") in states
    assert ("pai-memory-jobs-age-test", "MISSING") in states
    assert "pai-agent-errors-other" not in {n for n, _ in states}
    # Only the deployed stacks' alarms: the storage stack's dead-letter alarm is not expected.
    assert len(states) == len(alarms())
    assert all(a["stack"] == "pai-monitoring-test" for a in doc["alarms"])
    assert doc["alarms"][0]["reason"].startswith("Threshold Crossed")
    text = pai("status", "--env", ENV, "--no-drift", "--output", "table")
    assert text.code == 0 and "pai-agent-errors-test" in text.out and "ALARM" in text.out
    assert "1 of " in text.err and "alarms firing: pai-agent-errors-test" in text.err


# ------------------------------------------------------------------ moto: pai logs

def _log(logs: Any, function: str, when_ms: int, record: dict[str, Any] | str,
         stream: str = "2026/12/02/[$LATEST]abc") -> None:
    group = f"/aws/lambda/pai-{function}-{ENV}"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    message = record if isinstance(record, str) else json.dumps(record)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": when_ms, "message": message}])


def _all_groups(logs: Any) -> None:
    for f in ("agent", "memory", "search", "memory-writer"):
        try:
            logs.create_log_group(logGroupName=f"/aws/lambda/pai-{f}-{ENV}")
        except logs.exceptions.ResourceAlreadyExistsException:
            pass


def test_logs_merges_the_functions_in_time_order_and_filters_by_user(moto_env) -> None:
    logs = moto_env.client("logs")
    _all_groups(logs)
    now = int(time.time() * 1000)
    _log(logs, "agent", now - 3000, {"level": "INFO", "message": "turn", "user_id": "alice-1",
                                     "conversation_id": "conv-1", "total_ms": 812.5})
    _log(logs, "memory-writer", now - 2000, {"level": "INFO", "message": "memory job written",
                                             "user_id": "alice-1", "written": 2})
    _log(logs, "search", now - 2500, {"level": "INFO", "message": "request", "user_id": "bob-2",
                                      "route": "POST /search", "status": 200})
    _log(logs, "agent", now - 1000, "REPORT RequestId: 1 Duration: 812.50 ms")
    _log(logs, "agent", now - 7200_000, {"level": "INFO", "message": "old", "user_id": "alice-1"})
    r = pai("logs", "--env", ENV, "--since", "1h", "--json")
    assert r.code == 0, r.err
    lines = [json.loads(x) for x in r.out.splitlines()]
    assert [(x["function"], (x["fields"] or {}).get("message")) for x in lines] == [
        ("agent", "turn"), ("search", "request"), ("memory-writer", "memory job written"),
        ("agent", None)]  # oldest first, across functions; the 2 h old line left out
    assert lines[-1]["message"].startswith("REPORT RequestId")
    r = pai("logs", "--env", ENV, "--since", "1h", "--user", "alice-1", "--json")
    mine = [json.loads(x) for x in r.out.splitlines()]
    assert [x["fields"]["message"] for x in mine] == ["turn", "memory job written"]
    r = pai("logs", "--env", ENV, "-f", "agent", "--since", "3h", "--output", "text")
    assert r.code == 0, r.err
    out = r.out.splitlines()
    assert len(out) == 3 and "INFO    turn" in out[1] and "user_id=alice-1" in out[1]
    assert "total_ms=812.5" in out[1] and out[2].endswith("REPORT RequestId: 1 Duration: 812.50 ms")


def test_logs_sends_the_json_user_filter_pattern() -> None:
    from pai_cli.backends.aws.session import Aws
    from pai_cli.deploy.logs import LogReader

    aws = Aws(REGION)
    stub = Stubber(aws.client("logs"))
    stub.add_response("filter_log_events", {"events": [
        {"logStreamName": "s", "timestamp": 5, "message": '{"user_id": "alice-1", "message": "a"}',
         "eventId": "e1"}], "nextToken": "t1"},
        {"logGroupName": "/aws/lambda/pai-agent-test", "startTime": 1, "limit": 1000,
         "filterPattern": '{ $.user_id = "alice-1" }'})
    stub.add_response("filter_log_events", {"events": [
        {"logStreamName": "s", "timestamp": 6, "message": '{"user_id": "alice-1", "message": "b"}',
         "eventId": "e2"}]},
        {"logGroupName": "/aws/lambda/pai-agent-test", "startTime": 1, "limit": 1000,
         "filterPattern": '{ $.user_id = "alice-1" }', "nextToken": "t1"})
    seen: list[str] = []
    with stub:
        n = LogReader(aws, ENV, ["agent"], "alice-1").run(1, lambda x: seen.append(x.fields["message"]))
        stub.assert_no_pending_responses()
    assert n == 2 and seen == ["a", "b"]  # both pages


def test_logs_follow_polls_for_new_lines_once_each(moto_env) -> None:
    from pai_cli.deploy.logs import LogReader

    logs = moto_env.client("logs")
    now = int(time.time() * 1000)
    _log(logs, "agent", now - 500, {"message": "first"})
    polls = {"n": 0}

    def sleep(_: float) -> None:
        polls["n"] += 1
        if polls["n"] == 1:  # a line arrives between two polls, at the same millisecond too
            _log(logs, "agent", now - 500, {"message": "same ms"})
            _log(logs, "agent", now, {"message": "second"})

    seen: list[str] = []
    reader = LogReader(moto_env, ENV, ["agent"], sleep=sleep)
    reader.run(now - 60_000, lambda x: seen.append(x.fields["message"]), follow=True,
               stop=lambda: polls["n"] >= 3)
    assert seen == ["first", "same ms", "second"]


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--function", "nope"], 2, "agent, memory, search or memory-writer"),
    (["--since", "yesterday"], 1, "give a span"),
    (["--user", "alice\" }"], 1, "a pai user id is"),
    (["--env", "Bad_Env"], 1, "is not valid"),
])
def test_logs_bad_options_are_one_line_errors(moto_env, args, code, says) -> None:
    r = pai("logs", "--env", ENV, *args) if "--env" not in args else pai("logs", *args)
    assert r.code == code, r.err
    assert says in r.err and "Traceback" not in r.err


def test_a_bad_since_names_since_and_no_other_option() -> None:
    """`pai logs --since` is read before any AWS call: bad input (exit 1), one line naming
    the option given, never --to-time (restore's) nor a date-only hint."""
    r = pai("logs", "--env", ENV, "--since", "last tuesday")
    assert r.code == 1, r.err
    assert r.err.strip().splitlines() == [
        "pai: error: --since 'last tuesday': give a span (30s, 15m, 1h, 2d, 1w) or an ISO "
        "time (2026-12-02T09:00)."]
    assert "--to-time" not in r.err and r.out == ""


def test_logs_of_an_environment_not_deployed_says_so(moto_env) -> None:
    r = pai("logs", "--env", "nothere")
    assert r.code == 3 and "/aws/lambda/pai-agent-nothere" in r.err and "pai deploy" in r.err
    assert "Traceback" not in r.err


def test_logs_follow_stops_cleanly_on_ctrl_c(moto_env, monkeypatch) -> None:
    from pai_cli.deploy import logs as logs_module

    _all_groups(moto_env.client("logs"))

    def interrupted(self: Any, *a: Any, **k: Any) -> int:
        raise KeyboardInterrupt
    monkeypatch.setattr(logs_module.LogReader, "run", interrupted)
    r = pai("logs", "--env", ENV, "--follow")
    assert r.code == 0 and "Stopped." in r.err and "error" not in r.err


# ------------------------------------------------------------------ the handlers' output

@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Powertools Logger's handler writes to the stdout it found at import: pointed at a
    buffer here. Metrics (EMF) are print()ed: pytest's capsys sees those."""
    buffer = io.StringIO()
    handler = observe.logger.registered_handler
    old = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(old)


def _value(record: dict[str, Any], name: str) -> float:
    """One metric's value in an EMF record (Powertools writes a list of the values)."""
    value = record[name]
    if isinstance(value, list):
        (value,) = value
    return value


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in text.splitlines() if x.strip().startswith("{")]


def test_a_chat_turn_logs_its_user_and_phases_and_emits_the_metrics(
        captured, capsys, monkeypatch, pai_home) -> None:
    from fakes.aws_home import moto_aws_home
    from fakes.openai_server import Reply, openai_fake
    from test_api_handlers import ALICE, Context, event, lambda_environment

    from pai_cli.api.identity import user_for

    pai_home.mkdir(parents=True, exist_ok=True)
    with moto_aws_home(monkeypatch) as info, openai_fake(Reply(["Hello ", "Alice."])) as (_, srv):
        lambda_environment(monkeypatch, info)
        monkeypatch.setenv("PAI_PROVIDER", "openai")
        monkeypatch.setenv("PAI_BASE_URL", srv.url)
        monkeypatch.setenv("PAI_MODEL", "tiny")
        from pai_cli.api import lambda_handlers

        lambda_handlers.services.cache_clear()
        capsys.readouterr()
        out = lambda_handlers.agent_handler(event("POST", "/chat", {"message": "hi, I'm Alice"}),
                                            Context())
        turn = json.loads(out["body"])
        assert out["statusCode"] == 200, turn
        # A second request from nobody: nothing of Alice's request may stay on its lines.
        lambda_handlers.agent_handler(event("GET", "/memories", principal=None),
                                      Context(aws_request_id="second-request"))
        lambda_handlers.services.cache_clear()
    alice = user_for(ALICE)
    logged = _json_lines(captured.getvalue())
    first = [x for x in logged if x.get("function_request_id") == Context().aws_request_id]
    second = [x for x in logged if x.get("function_request_id") == "second-request"]
    (line,) = [x for x in first if x["message"] == "turn"]
    assert line["user_id"] == alice and line["conversation_id"] == turn["conversation_id"]
    assert line["correlation_id"] == "JKJaXmPLvHcESHA="  # API Gateway's request id
    assert line["cold_start"] in (True, False) and line["service"] == "pai"
    assert line["function_name"] == "pai-agent-test"
    for phase in ("recall_ms", "model_ms", "write_ms", "total_ms"):
        assert isinstance(line[phase], float) and line[phase] >= 0
    assert line["total_ms"] >= line["model_ms"]
    (request,) = [x for x in first if x["message"] == "request"]
    assert (request["route"], request["status"]) == ("POST /chat", 200)
    assert second and all("user_id" not in x and "conversation_id" not in x for x in second)
    assert [x["status"] for x in second if x["message"] == "request"] == [401]
    # Never the principal's ARN, on any line.
    assert ALICE not in captured.getvalue()
    emf = [x for x in _json_lines(capsys.readouterr().out) if "_aws" in x]
    assert len(emf) == 1  # the turn's; the 401 recorded no metrics
    (record,) = emf
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "pai" and directive["Dimensions"] == [["service"]]
    names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert names == {observe.RECALL_MS: "Milliseconds", observe.MODEL_MS: "Milliseconds",
                     observe.WRITE_MS: "Milliseconds", observe.TOTAL_MS: "Milliseconds",
                     observe.TOKENS_IN: "Count", observe.TOKENS_OUT: "Count",
                     observe.TURN_ERRORS: "Count"}
    usage = turn["usage"] or {}
    assert _value(record, observe.TOKENS_IN) == usage["input_tokens"] == 42  # the fake's usage
    assert _value(record, observe.TOKENS_OUT) == usage["output_tokens"] == 7
    assert _value(record, observe.TURN_ERRORS) == 0 and record["service"] == "pai"
    assert _value(record, observe.TOTAL_MS) == pytest.approx(line["total_ms"], abs=0.1)
    assert record["user_id"] == alice and record["conversation_id"] == turn["conversation_id"]


def test_the_memory_writer_counts_memories_written_and_jobs_failed(
        captured, capsys, monkeypatch, pai_home) -> None:
    import boto3
    from fakes.aws_home import moto_aws_home
    from test_api_handlers import Context, event, lambda_environment

    pai_home.mkdir(parents=True, exist_ok=True)
    with moto_aws_home(monkeypatch) as info:
        lambda_environment(monkeypatch, info)
        from pai_cli.api import lambda_handlers

        lambda_handlers.services.cache_clear()
        # A turn sends its job to SQS (recall-only: the writer keeps the words verbatim).
        lambda_handlers.agent_handler(event("POST", "/chat", {"message": "I moved to Porto"}),
                                      Context())
        sqs = boto3.client("sqs", region_name=REGION)
        got = sqs.receive_message(QueueUrl=info["queue_url"], MaxNumberOfMessages=10,
                                  AttributeNames=["All"])["Messages"]
        # The writer's container, as infra/compute.yaml sets it up.
        lambda_environment(monkeypatch, info, function="pai-memory-writer-test")
        monkeypatch.delenv("MEMORY_QUEUE_URL")
        lambda_handlers.services.cache_clear()
        records = [{"messageId": m["MessageId"], "body": m["Body"],
                    "attributes": {"ApproximateReceiveCount": "1"}} for m in got]
        records.append({"messageId": "broken-1", "body": "not a job",
                        "attributes": {"ApproximateReceiveCount": "5"}})
        capsys.readouterr()
        result = lambda_handlers.memory_writer_handler({"Records": records},
                                                       Context(function_name="pai-memory-writer-test"))
        lambda_handlers.services.cache_clear()
    assert result == {"batchItemFailures": [{"itemIdentifier": "broken-1"}]}
    (record,) = [x for x in _json_lines(capsys.readouterr().out) if "_aws" in x]
    assert _value(record, observe.MEMORIES_WRITTEN) == 1
    assert _value(record, observe.JOBS_DONE) == len(got) == 1
    assert _value(record, observe.JOBS_FAILED) == 1
    logged = _json_lines(captured.getvalue())
    (written,) = [x for x in logged if x["message"] == "memory job written"]
    assert written["user_id"] and written["conversation_id"].startswith("conv-")
    (failed,) = [x for x in logged if str(x["message"]).startswith("memory job failed")]
    assert failed["level"] == "ERROR" and failed["message_id"] == "broken-1"
    assert failed["receive_count"] == 5 and "user_id" not in failed


def test_tracing_is_off_unless_the_stack_turns_it_on(monkeypatch) -> None:
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert observe.tracing_enabled() is False
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    assert observe.tracing_enabled() is True
    monkeypatch.delenv("LAMBDA_TASK_ROOT")
    assert observe.tracing_enabled() is False  # outside Lambda there is no daemon to send to


_TRACED = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pytest
from fakes.aws_home import moto_aws_home
from test_api_handlers import Context, event, lambda_environment
mp = pytest.MonkeyPatch()
with moto_aws_home(mp) as info:
    lambda_environment(mp, info)
    from pai_cli.api import lambda_handlers
    out = lambda_handlers.agent_handler(event("POST", "/search", {"query": "x"}), Context())
    print(json.dumps({"status": out["statusCode"]}))
"""


def test_with_tracing_on_the_handler_sends_its_segments_to_the_xray_daemon(tmp_path) -> None:
    """A Lambda container with `pai deploy --tracing` (POWERTOOLS_TRACE_DISABLED=false, the
    trace header Lambda sets), in a process of its own since tracing is decided at import:
    the X-Ray SDK sends each subsegment over UDP to the daemon's address, which this test
    listens on. The handler's subsegment carries the pai user; each AWS call is one."""
    import os
    import socket
    import subprocess
    import sys

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(1.0)
    port = daemon.getsockname()[1]
    env = {**os.environ, "LAMBDA_TASK_ROOT": str(tmp_path), "POWERTOOLS_TRACE_DISABLED": "false",
           "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;"
                               "Parent=53995c3f42cd8ad8;Sampled=1",
           "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}", "PAI_HOME": str(tmp_path / "home"),
           "PAI_PROVIDER": "none"}
    r = subprocess.run([sys.executable, "-c", _TRACED, str(Path(__file__).parent)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.splitlines()[-1]) == {"status": 200}
    segments = []
    try:
        while True:
            header, _, body = daemon.recv(65535).decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            segments.append(json.loads(body))
    except TimeoutError:
        pass
    finally:
        daemon.close()
    from test_api_handlers import ALICE

    from pai_cli.api.identity import user_for

    (handler,) = [s for s in segments if s["name"] == "## handle"]
    assert handler["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert handler["annotations"]["user_id"] == user_for(ALICE)
    assert handler["annotations"]["ColdStart"] is True
    calls = {(s["name"], s["aws"]["operation"]) for s in segments if s.get("namespace") == "aws"}
    assert ("s3vectors", "QueryVectors") in calls and any(n == "dynamodb" for n, _ in calls)
    # The log lines name the trace, so a slow turn in Logs Insights leads to its trace.
    logged = _json_lines(r.stdout)
    assert logged[0]["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert ALICE not in json.dumps(segments)  # the resolved user, never the principal ARN


def test_deploy_flags_for_alarms_and_tracing_are_checked_before_anything_runs() -> None:
    r = pai("deploy", "--env", ENV, "--alarm-email", "not-an-address", "--estimate")
    assert r.code == 2 and "--alarm-email" in r.err and "Traceback" not in r.err
    r = pai("deploy", "--help")
    assert "--alarm-email" in r.out and "--tracing" in r.out and "--no-tracing" in r.out
    r = pai("logs", "--help")
    assert r.code == 0 and "--follow" in r.out and "--user" in r.out
