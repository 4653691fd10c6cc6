"""Printing a reply as it streams: Markdown on a terminal, raw text otherwise."""

from __future__ import annotations

import time
from typing import Any, Protocol, TextIO


class Printer(Protocol):
    def feed(self, text: str) -> None: ...
    def close(self) -> None: ...


class RawPrinter:
    """Raw tokens as they come, for pipes and scripts."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.wrote = False

    def feed(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
        self.wrote = True

    def close(self) -> None:
        if self.wrote:
            self.stream.write("\n")
            self.stream.flush()


class NullPrinter:
    """--json prints one object at the end instead."""

    def feed(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class MarkdownPrinter:
    """Re-renders the Markdown of what has arrived, a few times a second."""

    def __init__(self, stream: TextIO, color: bool) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, no_color=not color)
        self.text = ""
        self.live: Any = Live(console=self.console, refresh_per_second=8, transient=False,
                              vertical_overflow="visible")
        self.live.start()
        self._last = 0.0

    def _render(self) -> Any:
        from rich.markdown import Markdown

        return Markdown(self.text)

    def feed(self, text: str) -> None:
        self.text += text
        now = time.monotonic()
        if now - self._last > 0.05:
            self.live.update(self._render())
            self._last = now

    def close(self) -> None:
        self.live.update(self._render())
        self.live.stop()


def make_printer(mode: str, stream: TextIO, color: bool) -> Printer:
    if mode == "json":
        return NullPrinter()
    if mode == "table" and stream.isatty():
        return MarkdownPrinter(stream, color)
    return RawPrinter(stream)
