"""The routes, as thin adapters over the core services the CLI uses.

POST /chat, POST /search, GET /memory/{id} (a conversation's messages, as in the reference),
GET /memories, POST /memories, GET /memories/{id}, DELETE /memories/{id}; GET /openapi.json. Requests are
validated against the models in schema.py (clear 400s), unknown ids are 404, a body that is
not JSON 415, a method a path does not declare 405 with Allow; errors never carry a stack
trace."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from pai_cli.api.budget import API_GATEWAY_S, FINISH_RESERVE_S, chat_deadline
from pai_cli.api.identity import Unauthenticated, user_of
from pai_cli.api.rate_limit import install as install_rate_limit
from pai_cli.api.schema import (
    CATEGORY,
    CONVERSATION_ID,
    MEMORY_ID,
    AddMemoryRequest,
    ChatRequest,
    ConversationOut,
    ForgottenOut,
    MemoriesPage,
    MemoryOut,
    SearchRequest,
    SearchResponse,
    TurnError,
    TurnOut,
    finish_document,
    responses,
)
from pai_cli.core.chat import TurnHooks
from pai_cli.errors import (
    BackendError,
    ConfigError,
    DeadlineExceeded,
    InputError,
    NotFound,
    PaiError,
)
from pai_cli.records import TurnResult

MAX_BODY = 256 * 1024


MemoryIdPath = Annotated[str, Path(max_length=128, pattern=MEMORY_ID)]
ConversationIdPath = Annotated[str, Path(max_length=80, pattern=CONVERSATION_ID)]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[dict]:
    return Response(status_code=status, content_type="application/json", body=body,
                    headers=headers)


def _exact(resolve: Callable[[], str], wanted: str, what: str) -> str:
    """The API names records by their full ids: a prefix that would pick one on the command
    line (or be too short to) is simply not found here."""
    try:
        found = resolve()
    except NotFound:
        raise
    except InputError:
        found = ""
    if found != wanted:
        raise NotFound(f"No {what} {wanted!r}.")
    return found


class _Resolver(APIGatewayHttpResolver):
    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        # API Gateway's rawPath keeps the client's percent-encoding, and routes match on it:
        # decoded, "/memories/a%3Ab" is the id "a:b" it names (ids never hold a "/").
        path = event.get("rawPath")
        if isinstance(path, str) and "%" in path:
            event = {**event, "rawPath": unquote(path)}
        method = ((event.get("requestContext") or {}).get("http") or {}).get("method")
        headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        kind = str(headers.get("content-type") or "").strip().lower()
        if method == "POST" and kind and not kind.startswith("application/json"):
            # The framework would also read forms; the document says JSON, and so does pai.
            return {"statusCode": 415, "headers": {"Content-Type": "application/json"},
                    "body": json.dumps({"error": f"Send the body as application/json, not "
                                                 f"{kind.split(';')[0]}."})}
        return super().resolve(event, context)


def build_app(services: Callable[[], Any], budget_s: float = API_GATEWAY_S,
              reserve_s: float = FINISH_RESERVE_S,
              on_turn: Callable[[TurnResult], None] | None = None,
              on_user: Callable[[str], None] | None = None) -> APIGatewayHttpResolver:
    """services() returns the process's Wiring (built once per Lambda container). A /chat
    turn ends its reply by budget_s after API Gateway received the request, less reserve_s
    for storing it (api/budget.py); its memory job goes on the durable queue and is written
    off the request (SQS and the memory writer on Lambda, after the response in `pai
    serve`). on_turn gets each finished turn and on_user each request's resolved pai user
    (the Lambda's logs, metrics and traces: api/observe.py)."""
    app = _Resolver(enable_validation=True)

    def user() -> str:
        uid = user_of(app.current_event.raw_event, services().settings.principal_users)
        if on_user is not None:
            on_user(uid)
        return uid

    install_rate_limit(app, services, user)  # a bucket per pai user, before every route

    @app.post("/chat", summary="One chat turn: recall, reply, remember.",
              responses=responses(TurnOut, 404, 415, 504,
                                  errors={502: TurnError, 504: TurnError}))
    def chat(body: ChatRequest) -> Response[dict]:
        deadline = chat_deadline(app.current_event.raw_event, app.lambda_context, budget_s,
                                 reserve_s)
        w = services()
        uid = user()
        app_logger().append_keys(conversation_id=body.conversation_id)
        chat_service = w.chat
        wanted = body.conversation_id
        conversation = (_exact(lambda: chat_service.resolve_conversation(uid, wanted), wanted,
                               "conversation") if wanted else None)
        result = chat_service.turn(uid, body.message, conversation, TurnHooks(
            deadline=deadline,
            deadline_message="The reply did not finish within the API's 30 s limit: what "
                             "arrived is stored; ask for a shorter answer or use the "
                             "function URL (no 30 s limit)."))
        if on_turn is not None:
            on_turn(result)
        if isinstance(result.failure, DeadlineExceeded):
            return _json(504, {"error": result.error, **result.to_dict()})
        if result.failure is not None:
            return _json(502, {"error": result.error, **result.to_dict()})
        return _json(200, result.to_dict())

    @app.post("/search", summary="The memories most relevant to a query, best first.",
              responses=responses(SearchResponse, 415))
    def search(body: SearchRequest) -> Response[dict]:
        hits = services().memories.search(user(), body.query, body.k, body.category)
        return _json(200, {"results": [h.to_dict() for h in hits]})

    @app.get("/memory/<conversation_id>", summary="A conversation's messages, in order.",
             responses=responses(ConversationOut, 404))
    def conversation(conversation_id: ConversationIdPath) -> Response[dict]:
        chat_service, uid = services().chat, user()
        _exact(lambda: chat_service.resolve_conversation(uid, conversation_id),
               conversation_id, "conversation")
        msgs = chat_service.messages(uid, conversation_id)
        return _json(200, {"conversation_id": conversation_id,
                           "messages": [m.to_dict() for m in msgs]})

    @app.get("/memories", summary="A page of memories, newest first.",
             responses=responses(MemoriesPage))
    def memories(
        category: Annotated[str | None, Query(max_length=40, pattern=CATEGORY)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response[dict]:
        rows = services().memories.list(user(), category, cursor + limit + 1)
        page = rows[cursor:cursor + limit]
        more = len(rows) > cursor + limit
        return _json(200, {"memories": [m.to_dict() for m in page],
                           "next_cursor": cursor + limit if more else None})

    @app.post("/memories", summary="Remember a memory (as `pai memory add`).",
              responses=responses(MemoryOut, 415))
    def add_memory(body: AddMemoryRequest) -> Response[dict]:
        mem, uid = services().memories, user()
        content, _ = mem.redact(body.content)
        return _json(200, mem.add(uid, content, body.category, pinned=body.pinned).to_dict())

    @app.get("/memories/<memory_id>", summary="One memory.",
             responses=responses(MemoryOut, 404))
    def memory(memory_id: MemoryIdPath) -> Response[dict]:
        mem, uid = services().memories, user()
        _exact(lambda: mem.resolve(uid, memory_id), memory_id, "memory")
        return _json(200, mem.get(uid, memory_id).to_dict())

    @app.delete("/memories/<memory_id>", summary="Forget a memory for good.",
                responses=responses(ForgottenOut, 404))
    def forget(memory_id: MemoryIdPath) -> Response[dict]:
        mem, uid = services().memories, user()
        _exact(lambda: mem.resolve(uid, memory_id), memory_id, "memory")
        return _json(200, {"forgotten": mem.forget(uid, memory_id)})

    document: dict[str, Any] = {}

    def openapi_document() -> dict[str, Any]:
        if not document:
            doc = app.get_openapi_schema(title="pai", version="1")
            document.update(finish_document(
                doc.model_dump(mode="json", by_alias=True, exclude_none=True)))
        return document

    @app.get("/openapi.json", summary="This document.", include_in_schema=False)
    def openapi() -> Response[dict]:
        return _json(200, openapi_document())

    def allowed_methods(path: str) -> list[str]:
        for template, item in openapi_document().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path):
                return sorted(m.upper() for m in item)
        return ["GET"] if path == "/openapi.json" else []

    @app.not_found
    def not_found(_: NotFoundError) -> Response[dict]:
        event = app.current_event
        path, method = event.path, event.http_method.upper()
        allowed = allowed_methods(path)
        if method in allowed:  # a value no route takes (a character ids never hold)
            return _json(404, {"error": f"Nothing at {path}: see /openapi.json."})
        if allowed:
            return _json(405, {"error": f"{method} is not allowed on {path}: use "
                                        f"{', '.join(allowed)}."},
                         headers={"Allow": ", ".join(allowed)})
        return _json(404, {"error": f"No route {path}: see /openapi.json."})

    @app.exception_handler(RequestValidationError)
    def invalid(e: RequestValidationError) -> Response[dict]:
        problems = []
        for err in e.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body",))
            problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
        return _json(400, {"error": "Invalid request: " + "; ".join(problems[:10])})

    @app.exception_handler(Unauthenticated)
    def unauthenticated(_: Unauthenticated) -> Response[dict]:
        return _json(401, {"error": "No caller identity: call this API with IAM (SigV4) "
                                    "credentials or a valid JWT."})

    @app.exception_handler(PaiError)
    def pai_error(e: PaiError) -> Response[dict]:
        if isinstance(e, NotFound):
            status = 404
        elif isinstance(e, InputError):
            status = 400
        elif isinstance(e, ConfigError):
            status = 500
        elif isinstance(e, BackendError):
            status = 502
        else:
            status = 500
        return _json(status, {"error": e.message})

    @app.exception_handler(Exception)
    def unexpected(e: Exception) -> Response[dict]:
        from pai_cli.wiring import translate_error

        known = translate_error(e, None)
        if known is not None:
            return pai_error(known)
        app_logger().exception("unexpected error")
        return _json(500, {"error": "Internal error: it was logged; try again."})

    return app


def app_logger() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service="pai")


def too_large(event: dict[str, Any]) -> dict[str, Any] | None:
    """An HTTP API v2 response refusing an oversized body before any parsing."""
    body = event.get("body") or ""
    if len(body) > MAX_BODY * (4 / 3 if event.get("isBase64Encoded") else 1):
        return {"statusCode": 413, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"error": f"The request body is over {MAX_BODY // 1024} KiB."})}
    return None
