"""What the HTTP API accepts and answers, as pydantic models: the handlers validate with them
and the OpenAPI document is made from them, so the two cannot disagree.

Every rule the services apply to a request is a schema constraint here (a request the
document calls valid is never refused with 400), and every status a route can answer is in
the document with its body. tests/test_schemathesis.py holds the server to that."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from pai_cli.core.text import MAX_TEXT_BYTES

_NOT_SPACE = "\\x00\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
TEXT = f"^[^\\x00]*[^{_NOT_SPACE}][^\\x00]*$"
"""Text pai stores: something besides whitespace (Python's str.isspace, which the services
strip), and no NUL byte."""
TEXT_CHARS = MAX_TEXT_BYTES // 4
"""The services limit text to 64 KiB of UTF-8; a schema counts characters, and this many
fit in 64 KiB whatever they are."""
CATEGORY = "^[a-z0-9][a-z0-9_.-]{0,39}$"
MEMORY_ID = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""Generated ids (mem-<uuid>) and the ids an import may give (core/importing.py)."""
CONVERSATION_ID = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$"


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=TEXT_CHARS, pattern=TEXT,
                         description="What the user says.")
    conversation_id: str | None = Field(
        default=None, max_length=80, pattern=CONVERSATION_ID,
        description="Continue this conversation (its full id; unknown: 404).")


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=4096, pattern=TEXT)
    k: int = Field(default=5, ge=1, le=50, description="How many memories, at most.")
    category: str | None = Field(default=None, max_length=40, pattern=CATEGORY)


class AddMemoryRequest(BaseModel):
    content: str = Field(min_length=1, max_length=TEXT_CHARS, pattern=TEXT,
                         description="What to remember (secrets are taken out).")
    category: str | None = Field(default=None, max_length=40, pattern=CATEGORY)
    # Strict: a 0 or "yes" is not a yes or no (the document says boolean).
    pinned: StrictBool = Field(default=True, description="Pinned memories never expire.")


class ErrorBody(BaseModel):
    """Every error: one line saying what is wrong and what to do. Never a stack trace."""

    model_config = ConfigDict(extra="allow")
    error: str


class MemoryOut(BaseModel):
    id: str
    content: str
    category: str
    pinned: bool
    created_at: str | None
    updated_at: str | None
    expires_at: str | None
    source_conversation: str | None
    source_message: str | None
    origin: str
    importance: int | None
    valid_from: str | None
    valid_to: str | None
    superseded_by: str | None
    status: str
    sources: list[str]
    conflicts_with: str | None
    processed: bool


class HitOut(MemoryOut):
    score: float = Field(description="Relevance, 0-1.")
    keyword_rank: int | None
    vector_rank: int | None
    vector_score: float | None


class SearchResponse(BaseModel):
    results: list[HitOut]


class MemoriesPage(BaseModel):
    memories: list[MemoryOut]
    next_cursor: int | None = Field(description="Pass as cursor for the next page; null: none.")


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    role: str
    content: str
    created_at: str | None


class ConversationOut(BaseModel):
    conversation_id: str
    messages: list[MessageOut]


class ForgottenOut(BaseModel):
    forgotten: str


class UsageOut(BaseModel):
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


class TurnOut(BaseModel):
    conversation_id: str
    message_id: str
    reply: str | None
    reply_message_id: str | None
    model: str | None
    recalled: list[HitOut]
    recalled_ids: list[str]
    usage: UsageOut | None
    interrupted: bool
    error: str | None
    notice: str | None
    timings_ms: dict[str, float]


class TurnError(TurnOut):
    """A turn whose reply failed or ran out of time: the error, and what was stored."""

    error: str  # type: ignore[assignment]


_WHY = {
    400: "The request is not valid: what is wrong is in `error`.",
    401: "No caller identity: call with IAM (SigV4) credentials or a valid JWT.",
    404: "No such memory or conversation for this caller.",
    413: "The request body is over 256 KiB.",
    415: "The body is not application/json.",
    429: "Too many requests from this user: wait Retry-After seconds (a token bucket per "
         "user; the limits are the compute stack's UserRequestsPerMinute and UserBurst).",
    500: "pai is not configured right on the server (logged).",
    502: "A store or the chat model failed; try again.",
    504: "The reply did not finish within API Gateway's 30 s: what arrived is stored.",
}


def responses(ok: type[BaseModel], *statuses: int,
              errors: dict[int, type[BaseModel]] | None = None) -> dict[int, Any]:
    """The responses of one route: `ok` for 200, ErrorBody (or errors[status]) for the rest.
    400, 401, 413, 429, 500 and 502 can come from any route; `statuses` adds the others."""
    out: dict[int, Any] = {200: {"description": "OK",
                                 "content": {"application/json": {"model": ok}}}}
    for status in sorted({400, 401, 413, 429, 500, 502, *statuses}):
        model = (errors or {}).get(status, ErrorBody)
        out[status] = {"description": _WHY[status],
                       "content": {"application/json": {"model": model}}}
    out[429]["headers"] = RETRY_AFTER
    return out


RETRY_AFTER = {"Retry-After": {"description": "Seconds until the user's next request is "
                                              "admitted.", "schema": {"type": "integer",
                                                                      "minimum": 1}}}


def finish_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The generated document, less what this server never does: validation errors are 400s
    with an ErrorBody here (app.py), never the framework's 422."""
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    doc.setdefault("info", {})["description"] = (
        "pai's HTTP API. Every route needs authorization (IAM SigV4, or a JWT with "
        "--auth jwt); the user is the caller, never a field of the request. A method a "
        "path does not declare gets 405 with an Allow header; an unknown path 404."
    )
    return doc
