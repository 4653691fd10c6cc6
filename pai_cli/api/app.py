"""The routes, as thin adapters over the core services the CLI uses.

POST /chat, POST /search, GET /memory/{id} (a conversation's messages, as in the reference),
GET /memories, GET /memories/{id}, DELETE /memories/{id}; GET /openapi.json. Request bodies
are validated (clear 400s); unknown ids are 404; errors never carry a stack trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from pai_cli.api.budget import API_GATEWAY_S, FINISH_RESERVE_S, chat_deadline
from pai_cli.api.identity import Unauthenticated, principal, user_for
from pai_cli.core.chat import TurnHooks
from pai_cli.core.text import MAX_TEXT_BYTES
from pai_cli.errors import (
    BackendError,
    ConfigError,
    DeadlineExceeded,
    InputError,
    NotFound,
    PaiError,
)

MAX_BODY = 256 * 1024


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_TEXT_BYTES)
    conversation_id: str | None = Field(default=None, max_length=80)


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=4096)
    k: int = Field(default=5, ge=1, le=50)
    category: str | None = Field(default=None, max_length=40)


def _json(status: int, body: Any) -> Response[dict]:
    return Response(status_code=status, content_type="application/json", body=body)


def build_app(services: Callable[[], Any], budget_s: float = API_GATEWAY_S,
              reserve_s: float = FINISH_RESERVE_S) -> APIGatewayHttpResolver:
    """services() returns the process's Wiring (built once per Lambda container). A /chat
    turn ends its reply by budget_s after API Gateway received the request, less reserve_s
    for storing it (api/budget.py); its memory job goes on the durable queue and is written
    off the request (SQS and the memory writer on Lambda, after the response in `pai
    serve`)."""
    app = APIGatewayHttpResolver(enable_validation=True)

    def user() -> str:
        return user_for(principal(app.current_event.raw_event),
                        services().settings.principal_users)

    @app.post("/chat")
    def chat(body: ChatRequest) -> Response[dict]:
        deadline = chat_deadline(app.current_event.raw_event, app.lambda_context, budget_s,
                                 reserve_s)
        w = services()
        uid = user()
        app_logger().append_keys(user_id=uid, conversation_id=body.conversation_id)
        chat_service = w.chat
        conversation = (chat_service.resolve_conversation(uid, body.conversation_id)
                        if body.conversation_id else None)
        result = chat_service.turn(uid, body.message, conversation, TurnHooks(
            deadline=deadline,
            deadline_message="The reply did not finish within the API's 30 s limit: what "
                             "arrived is stored; ask for a shorter answer or use the "
                             "function URL (no 30 s limit)."))
        if isinstance(result.failure, DeadlineExceeded):
            return _json(504, {"error": result.error, **result.to_dict()})
        if result.failure is not None:
            return _json(502, {"error": result.error, **result.to_dict()})
        return _json(200, result.to_dict())

    @app.post("/search")
    def search(body: SearchRequest) -> Response[dict]:
        hits = services().memories.search(user(), body.query, body.k, body.category)
        return _json(200, {"results": [h.to_dict() for h in hits]})

    @app.get("/memory/<conversation_id>")
    def conversation(conversation_id: str) -> Response[dict]:
        msgs = services().chat.messages(user(), conversation_id)
        return _json(200, {"conversation_id": conversation_id,
                           "messages": [m.to_dict() for m in msgs]})

    @app.get("/memories")
    def memories(
        category: Annotated[str | None, Query(max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response[dict]:
        rows = services().memories.list(user(), category, cursor + limit + 1)
        page = rows[cursor:cursor + limit]
        more = len(rows) > cursor + limit
        return _json(200, {"memories": [m.to_dict() for m in page],
                           "next_cursor": cursor + limit if more else None})

    @app.get("/memories/<memory_id>")
    def memory(memory_id: str) -> Response[dict]:
        return _json(200, services().memories.get(user(), memory_id).to_dict())

    @app.delete("/memories/<memory_id>")
    def forget(memory_id: str) -> Response[dict]:
        uid = user()
        gone = services().memories.forget(uid, memory_id)
        return _json(200, {"forgotten": gone})

    @app.get("/openapi.json")
    def openapi() -> Response[str]:
        return Response(status_code=200, content_type="application/json",
                        body=app.get_openapi_json_schema(title="pai", version="1"))

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
    import json

    body = event.get("body") or ""
    if len(body) > MAX_BODY * (4 / 3 if event.get("isBase64Encoded") else 1):
        return {"statusCode": 413, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"error": f"The request body is over {MAX_BODY // 1024} KiB."})}
    return None
