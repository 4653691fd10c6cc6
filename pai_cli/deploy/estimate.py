"""What a month of pai on AWS costs for a stated usage profile, fixed floors named.

US East (N. Virginia) list prices as published when this table was written; an estimate to
choose a configuration with, not a bill (taxes, free tiers and data transfer left out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pai_cli.backends.llm.bedrock import default_model
from pai_cli.pricing import estimate_cost

HOURS = 730


@dataclass(frozen=True)
class Usage:
    turns: int = 3000                 # chat turns a month (~100 a day)
    searches: int = 1000
    memories: int = 20000             # stored
    tokens_in_per_turn: int = 3000    # prompt: system + memories + history
    tokens_out_per_turn: int = 300
    chat_model: str = field(default_factory=lambda: default_model("us-east-1"))  # what deploy picks


@dataclass(frozen=True)
class Line:
    item: str
    monthly_usd: float
    fixed: bool
    note: str


def estimate(vector_store: str = "s3vectors", usage: Usage | None = None) -> list[Line]:
    u = usage or Usage()
    requests = u.turns + u.searches
    lines = [
        Line("KMS key", 1.00 + requests * 2 * 0.03 / 10_000, True,
             "$1/month per key, the floor; data keys are cached per session"),
        Line("Bedrock chat", (estimate_cost(u.chat_model, u.tokens_in_per_turn,
                                            u.tokens_out_per_turn) or 0.0) * u.turns, False,
             f"{u.turns:,} turns x {u.tokens_in_per_turn:,} in / {u.tokens_out_per_turn:,} "
             f"out tokens on {u.chat_model}"),
        Line("Bedrock Titan embeddings", (requests + u.turns) * 60 * 0.02 / 1_000_000, False,
             "~60 tokens a text, $0.02 per million"),
        Line("Lambda (arm64)", requests * (0.20 / 1e6 + 0.5 * 3 * 0.0000133334), False,
             "512 MB, ~3 s a request"),
        Line("API Gateway HTTP API", requests * 1.00 / 1e6, False, "$1 per million requests"),
        Line("DynamoDB on demand", requests * 6 * 0.625 / 1e6 + requests * 10 * 0.125 / 1e6
             + u.memories * 4e-6 * 0.25, False, "writes, reads and storage"),
        Line("S3 memory bodies", u.memories * 4e-6 * 0.023 + u.turns * 0.005 / 1000, False,
             "Intelligent-Tiering storage and PUTs"),
        Line("CloudWatch Logs", requests * 2e-6 * 0.50, False, "~2 KB of logs a request"),
    ]
    if vector_store == "opensearch":
        lines.append(Line("OpenSearch Serverless", 1.0 * 0.24 * HOURS, True,
                          "fixed floor: a VECTORSEARCH collection bills >= 1 OCU "
                          "($0.24/OCU-hour) even when idle, with redundancy off"))
    else:
        lines.append(Line("S3 Vectors", u.memories * 4.2e-6 * 0.06 + (requests + u.turns)
                          * 2.5 / 1e6 + u.memories * 4.2e-6 * 0.20, False,
                          "storage, PUTs and queries; no idle floor"))
    return lines


def as_dict(lines: list[Line], vector_store: str, usage: Usage) -> dict[str, object]:
    return {"vector_store": vector_store, "usage": asdict(usage),
            "lines": [asdict(x) for x in lines],
            "monthly_usd": round(sum(x.monthly_usd for x in lines), 2),
            "fixed_floor_usd": round(sum(x.monthly_usd for x in lines if x.fixed), 2)}
