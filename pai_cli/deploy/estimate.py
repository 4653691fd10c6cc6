"""What a month of pai on AWS costs for a stated usage profile, fixed floors named.

US East (N. Virginia) list prices; an estimate to choose a configuration with, not a bill
(taxes, free tiers and data transfer left out). Each price below names where it was read
and when. The AWS pricing pages themselves (aws.amazon.com/<service>/pricing) could not be
fetched from the machine this was written on; where a figure comes from a page quoting
them, that page is named, and the figures should be checked against the official page
before they are relied on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pai_cli.backends.llm.bedrock import default_model
from pai_cli.pricing import estimate_cost

HOURS = 730
GEOGRAPHIC = ("us", "eu", "apac", "jp", "au", "ca", "us-gov")
"""Geographic inference profile prefixes (global. is the other kind)."""
READ = "read 2026-12-02"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str


PRICES: dict[str, Price] = {
    # Bedrock, Claude 4.5 generation: the global profile is the list price (pai_cli/pricing.py);
    # geographic profiles (us., eu., apac.) cost 10% more, on input and output alike.
    "bedrock_geo_premium": Price(1.10, "x the global price", "https://docs.aws.amazon.com/"
                                 "bedrock/latest/userguide/global-cross-region-inference.html "
                                 "(global ~10% cheaper than geographic), and "
                                 "https://clauder-navi.com/en/bedrock-claude-cost/ (regional "
                                 f"+10%, Haiku 4.5 $1/$5 global); {READ}"),
    "titan_embed": Price(0.02, "per million input tokens", "Titan Text Embeddings V2 on the "
                         "Bedrock pricing page, as quoted when this table was first written"),
    "kms_key": Price(1.00, "per key-month", f"https://cloudburn.io/blog/aws-kms-pricing "
                     f"(from the KMS pricing page, March 2026); {READ}"),
    "kms_rotation": Price(1.00, "per key-month for each of the first two rotations (later "
                          "ones free, since the April 2024 change)",
                          f"https://cloudburn.io/blog/aws-kms-pricing; {READ}"),
    "kms_requests": Price(0.03, "per 10,000 requests", "https://cloudburn.io/blog/aws-kms-pricing"),
    "lambda_gb_s": Price(0.0000133334, "per GB-second, arm64", "Lambda pricing page"),
    "lambda_requests": Price(0.20, "per million requests", "Lambda pricing page"),
    "http_api": Price(1.00, "per million requests (first 300M)", "API Gateway pricing page"),
    "ddb_write": Price(0.625, "per million write request units", "DynamoDB on-demand pricing "
                       "(after the November 2024 reduction)"),
    "ddb_read": Price(0.125, "per million read request units", "DynamoDB on-demand pricing"),
    "ddb_storage": Price(0.25, "per GB-month", "DynamoDB pricing page"),
    "ddb_pitr": Price(0.20, "per GB-month of table size", "DynamoDB pricing page "
                      "(continuous backups)"),
    "s3_storage": Price(0.023, "per GB-month (frequent tier; bodies under 128 KB are never "
                        "moved or monitored by Intelligent-Tiering)", "S3 pricing page"),
    "s3_put": Price(0.005, "per 1,000 PUTs", "S3 pricing page"),
    "sqs": Price(0.40, "per million requests (first million a month free)", "SQS pricing page"),
    "alarm": Price(0.10, "per standard-resolution alarm metric a month (a metric-math alarm "
                   "pays for each metric it reads)", "CloudWatch pricing page"),
    "dashboard": Price(3.00, "per dashboard-month (an account's first three are free)",
                       "https://www.factualminds.com/blog/amazon-cloudwatch-pricing-metrics-"
                       f"logs-alarms-dashboards/ (2026-06-13: dashboards $3 each); {READ}"),
    "custom_metric": Price(0.30, "per custom metric a month (first 10,000; an account's first "
                           "10 are free); embedded-metric-format lines bill as log ingestion",
                           "https://cal53.calculator.city/cloudwatch-custom-metrics-calculator/ "
                           f"(quoting the CloudWatch pricing page); {READ}"),
    "xray_recorded": Price(5.00, "per million traces recorded (an account's first 100,000 a "
                           "month are free)", "https://aws.amazon.com/xray/pricing/ (the stored "
                           f"German and Chinese editions of the page); {READ}"),
    "xray_read": Price(0.50, "per million traces retrieved or scanned (first million a month "
                       "free)", f"https://aws.amazon.com/xray/pricing/; {READ}"),
    "logs": Price(0.50, "per GB ingested", "CloudWatch pricing page"),
    "ocu_hour": Price(0.24, "per OCU-hour", f"https://aws.amazon.com/blogs/big-data/amazon-"
                      "opensearch-serverless-cost-effective-search-capabilities-at-any-scale "
                      "(the 0.5 OCU minimum); https://teamaws.com/?p=1428 ($0.24); "
                      f"{READ}"),
    "aoss_storage": Price(0.024, "per GB-month", "OpenSearch Service pricing page"),
    "s3v_storage": Price(0.06, "per logical GB-month", "https://www.exploreagentic.ai/insights/"
                         f"s3-vectors-enterprise-rag/; {READ}"),
    "s3v_put": Price(0.20, "per logical GB uploaded, each PUT billed as at least 128 KB",
                     "https://news.najib.digital/lessons-from-amazon-s3-vector-store-and-the-"
                     f"nuances-of-hybrid-vector-storage-54948.html; {READ}"),
    "s3v_query": Price(2.50, "per million QueryVectors calls (plus a data-processed charge "
                       "per TB scanned: under a cent at this size, not modelled)",
                       f"https://www.oflight.co.jp/en/columns/aws-s3-vectors-ai-rag-cost-"
                       f"reduction-guide-2026; {READ}"),
}

ALARM_METRICS = 22
"""What the alarms read (infra/monitoring.yaml and the storage stack's dead-letter alarm):
3 per function x 4, the API's 5xx share (2 metrics) and p95 latency (1), each table's read +
write throttle events (2 x 2), the queue's and the dead-letter queue's oldest job (2), the
dead-letter depth (1). tests/test_observability.py counts them in the templates."""
CUSTOM_METRICS = 10
"""The functions' own metrics (pai_cli/api/observe.py: 7 of the turn, 3 of the writer), one
dimension (service) each."""
TRACES_VIEWED = 1000
"""Traces looked at in the console a month, with --tracing (a guess: well inside the free
million)."""

POLLING_REQUESTS = 5 * 3 * 60 * HOURS
"""The SQS event source mapping long-polls (20 s) with ~5 pollers while the queue is idle:
~657k ReceiveMessage calls a month, inside SQS's free million for most accounts."""


@dataclass(frozen=True)
class Usage:
    turns: int = 3000                 # chat turns a month (~100 a day)
    searches: int = 1000
    memories: int = 20000             # stored
    facts_per_turn: float = 1.0       # memories written (or changed) by the writer per turn
    tokens_in_per_turn: int = 3000    # prompt: system + memories + history
    tokens_out_per_turn: int = 300
    extraction_in_per_turn: int = 1200  # the memory writer's call: exchange + known memories
    extraction_out_per_turn: int = 100
    key_age_years: int = 0            # yearly rotations so far (0, 1, 2+)
    chat_model: str = field(default_factory=lambda: default_model("us-east-1"))  # what deploy picks


@dataclass(frozen=True)
class Line:
    item: str
    monthly_usd: float
    fixed: bool
    note: str


def chat_cost(model: str, tokens_in: int, tokens_out: int) -> float:
    """One call's list price; a geographic inference profile (us., eu., apac., ...) costs
    10% more than the global one (pai_cli/pricing.py holds the global prices)."""
    base = estimate_cost(model, tokens_in, tokens_out) or 0.0
    geo = model.split(".", 1)[0]
    return base * PRICES["bedrock_geo_premium"].usd if geo in GEOGRAPHIC else base


def p(name: str) -> float:
    return PRICES[name].usd


def estimate(vector_store: str = "s3vectors", usage: Usage | None = None,
             prod: bool = False, tracing: bool = False) -> list[Line]:
    u = usage or Usage()
    requests = u.turns + u.searches
    written = u.turns * u.facts_per_turn
    gb_memories = u.memories * 4e-6  # ~4 KB sealed body or item each
    gb_tables = gb_memories * 2 + u.turns * 2 * 2e-6  # memories + events, a week of messages
    rotations = min(u.key_age_years, 2)
    lines = [
        Line("KMS key", p("kms_key") + rotations * p("kms_rotation"), True,
             f"$1/month per key; yearly rotation adds $1 after the first and $1 after the "
             f"second (then no more): {rotations} so far"),
        Line("KMS requests", requests * 2 * p("kms_requests") / 10_000, False,
             "a data key per user and session, a Decrypt per wrapped key read"),
        Line("Bedrock chat", chat_cost(u.chat_model, u.tokens_in_per_turn,
                                       u.tokens_out_per_turn) * u.turns, False,
             f"{u.turns:,} turns x {u.tokens_in_per_turn:,} in / {u.tokens_out_per_turn:,} "
             f"out tokens on {u.chat_model}"),
        Line("Bedrock memory writer", chat_cost(u.chat_model, u.extraction_in_per_turn,
                                                u.extraction_out_per_turn) * u.turns, False,
             f"one extraction call a turn, ~{u.extraction_in_per_turn:,} in / "
             f"{u.extraction_out_per_turn:,} out tokens"),
        Line("Bedrock Titan embeddings", (requests + u.turns + written) * 60
             * p("titan_embed") / 1_000_000, False,
             "~60 tokens a text: each message, search and written fact"),
        Line("Lambda (arm64)", (requests + u.turns) * p("lambda_requests") / 1e6
             + (u.turns * 0.5 * 3 + u.turns * 0.5 * 4 + u.searches * 0.5 * 0.5)
             * p("lambda_gb_s"), False,
             "agent 512 MB ~3 s a turn, memory writer 512 MB ~4 s a job, search ~0.5 s"),
        Line("API Gateway HTTP API", requests * p("http_api") / 1e6, False,
             "$1 per million requests"),
        Line("DynamoDB on demand", (requests * 6 + written * 4) * p("ddb_write") / 1e6
             + requests * 10 * p("ddb_read") / 1e6 + gb_tables * p("ddb_storage"), False,
             "writes, reads and storage"),
        Line("DynamoDB point-in-time recovery", gb_tables * p("ddb_pitr"), False,
             "$0.20 per GB-month of the two tables"),
        Line("S3 memory bodies", gb_memories * p("s3_storage") + written * p("s3_put") / 1000,
             False, "storage and PUTs of the sealed bodies"),
        Line("SQS memory queue", (u.turns * 3 + POLLING_REQUESTS) * p("sqs") / 1e6, False,
             "send, receive, delete per job, and the event source mapping's idle long polls "
             "(~657k a month: inside the free million on most accounts)"),
        Line("CloudWatch alarms", ALARM_METRICS * p("alarm"), True,
             f"{ALARM_METRICS} alarm metrics: errors, throttles and duration of each function, "
             "the API's 5xx share and p95 latency, table throttles, the queue's ages and "
             "dead letters (an account's first 10 alarm metrics are free)"),
        Line("CloudWatch dashboard", p("dashboard"), True,
             "one dashboard, pai-ENV (free if the account has no more than three)"),
        Line("CloudWatch custom metrics", CUSTOM_METRICS * p("custom_metric"), False,
             f"{CUSTOM_METRICS} metrics in embedded metric format (turn latency by phase, "
             "tokens, memories written, jobs): billed, by the hour, only while written"),
        Line("CloudWatch Logs", (requests * 2e-6 + u.turns * 2e-6) * p("logs"), False,
             "~2 KB of JSON logs a request or memory job, with the metric lines"),
    ]
    if tracing:
        # The default sampling rule records the first request each second and 5% of the
        # rest: at a personal workload's rate, that is every invocation.
        traces = requests + u.turns
        lines.append(Line("X-Ray traces (--tracing)", traces * p("xray_recorded") / 1e6
                          + TRACES_VIEWED * p("xray_read") / 1e6, False,
                          f"~{traces:,} traces recorded (every API request and memory job; "
                          "inside the free 100,000 on most accounts), "
                          f"~{TRACES_VIEWED:,} viewed"))
    if vector_store == "opensearch":
        ocus = 2.0 if prod else 1.0
        lines.append(Line("OpenSearch Serverless", ocus * p("ocu_hour") * HOURS
                          + u.memories * 4.2e-6 * p("aoss_storage"), True,
                          f"fixed floor: a VECTORSEARCH collection bills >= {ocus:g} OCU "
                          f"($0.24/OCU-hour) even when idle: 0.5 indexing + 0.5 search"
                          + (", doubled by prod's standby replicas" if prod else
                             ", redundancy off outside prod")))
    else:
        lines.append(Line("S3 Vectors", u.memories * 4.2e-6 * p("s3v_storage")
                          + written * 128e-6 * p("s3v_put")
                          + (requests + u.turns) * p("s3v_query") / 1e6, False,
                          "storage of every vector, PUTs of the new ones only (each billed "
                          "as 128 KB), queries; no idle floor"))
    return lines


def as_dict(lines: list[Line], vector_store: str, usage: Usage,
            tracing: bool = False) -> dict[str, object]:
    return {"vector_store": vector_store, "tracing": tracing, "usage": asdict(usage),
            "lines": [asdict(x) for x in lines],
            "monthly_usd": round(sum(x.monthly_usd for x in lines), 2),
            "fixed_floor_usd": round(sum(x.monthly_usd for x in lines if x.fixed), 2),
            "prices": {k: asdict(v) for k, v in PRICES.items()}}
