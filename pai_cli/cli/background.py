"""The REPL's memory writer: the queue drained on a thread of its own, with a wiring of its
own (its own SQLite connection and model client), so distilling an exchange, which takes a
model call, never holds up the next prompt.

The thread is a daemon: leaving pai while it works loses nothing, because the job stays in
the durable queue until its decisions are committed, and the next run picks it up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pai_cli.errors import PaiError

if TYPE_CHECKING:
    from pai_cli.wiring import Wiring


class BackgroundWriter:
    def __init__(self, open_wiring: Callable[[], Wiring], user_id: str) -> None:
        self._open = open_wiring
        self._user = user_id
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._notices: list[str] = []
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Drain the queue soon (after the current drain, if one runs)."""
        self._idle.clear()
        self._wake.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="pai-memory", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        wiring = None
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                wiring = wiring or self._open()
                report = wiring.chat.writer.drain(self._user)
                notices = report.notices
                if report.parked:
                    notices.append(f"pai: {report.parked} memory job(s) failed too often and "
                                   "were parked: see `pai memory queue`.")
            except PaiError as e:
                notices = [f"pai: memory not written now ({e.message}); it stays queued."]
            except Exception as e:  # noqa: BLE001 - the REPL must go on; the job is durable
                notices = [f"pai: memory not written now ({type(e).__name__}: {e}); it stays "
                           "queued."]
            with self._lock:
                self._notices += notices
            if not self._wake.is_set():
                self._idle.set()

    def take_notices(self) -> list[str]:
        with self._lock:
            out, self._notices = self._notices, []
        return out

    def wait(self, timeout: float) -> bool:
        """True once nothing is left to do (or nothing was ever started)."""
        return self._idle.wait(timeout)
