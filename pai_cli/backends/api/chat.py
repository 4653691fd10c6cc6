"""The chat turn on `--backend api`: POST /chat, in the chat service's shape, so `pai chat`
(-m, a pipe, the REPL) runs unchanged.

The reply is not streamed: API Gateway answers /chat whole (its 30 s cut included), so it is
printed when it arrives. The exchange is remembered by the server (its queue and memory
writer), so nothing is queued here."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pai_cli.backends.api import records
from pai_cli.backends.api.client import ApiClient, not_served
from pai_cli.errors import DeadlineExceeded, ModelError, NotFound
from pai_cli.records import TurnResult


class ServerModel:
    """The deployed API's chat model: pai chat shows a reply rather than recall alone."""

    model_id = "the API's chat model"


class ApiChat:
    """`writer` stands in for the memory writer: a turn's memory jobs are the server's, so
    draining finds none here (the wiring gives an empty report's maker)."""

    def __init__(self, client: ApiClient, settings: Any, writer: Any) -> None:
        self.client = client
        self.settings = settings
        self.model: Any = ServerModel()
        self.notices: list[str] = []
        self.writer = writer
        self._server_ids: dict[str, str] = {}
        """Conversation ids this client used -> the server's. The server names a new
        conversation itself (it refuses an id it does not know), while the REPL makes up the
        id of the conversation it starts: its first turn starts one on the server, and the
        REPL's id stands for the server's from then on."""

    def turn(self, user_id: str, message: str, conversation_id: str | None = None,
             hooks: Any = None) -> TurnResult:
        if hooks is not None and (getattr(hooks, "incognito", False)
                                  or getattr(hooks, "history", None)):
            raise not_served("pai chat --incognito")
        body: dict[str, Any] = {"message": message}
        if conversation_id and conversation_id in self._server_ids:
            body["conversation_id"] = self._server_ids[conversation_id]
        response = self.client.send("POST", "/chat", body)
        if response.status_code in (502, 504):
            data = _json(response)
            if "conversation_id" in data:  # the turn ran, its reply failed: what was stored
                error = str(data.get("error") or "The chat model failed.")
                failure = (DeadlineExceeded(error) if response.status_code == 504
                           else ModelError(error))
                return self._done(records.turn(data, failure), conversation_id, hooks)
        return self._done(records.turn(self.client.answer(response)), conversation_id, hooks)

    def _done(self, result: TurnResult, asked: str | None, hooks: Any) -> TurnResult:
        if asked:
            self._server_ids[asked] = result.conversation_id
        self._show(result, hooks)
        if not result.reply and result.notice and result.notice not in self.notices:
            self.notices.append(result.notice)  # the server's recall-only note, said once
        return result

    @staticmethod
    def _show(result: TurnResult, hooks: Any) -> None:
        if hooks is None:
            return
        if hooks.on_recalled is not None:
            hooks.on_recalled(result)
        if hooks.on_text is not None and result.reply:
            hooks.on_text(result.reply)

    def resolve_conversation(self, user_id: str, conversation_id: str) -> str:
        wanted = conversation_id.strip()
        try:
            self.client.call("GET", f"/memory/{quote(wanted, safe='')}")
        except NotFound:
            raise NotFound(f"No conversation {wanted!r} (the API takes full conversation "
                           "ids).") from None
        self._server_ids[wanted] = wanted
        return wanted

    def latest_conversation(self, user_id: str) -> str | None:
        raise not_served("pai chat --continue (give --conversation ID)")

    def remember_pending(self, user_id: str) -> None:
        """The server's memory writer remembers the exchange."""

    def forget_everything_queued(self, user_id: str) -> None:
        raise not_served("pai memory forget --all")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise not_served("This command")


def _json(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
