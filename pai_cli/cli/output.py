"""Rendering: JSON for scripts, rich tables for people, plain text when piped.

Data goes to stdout, everything else (progress, notices, errors) to stderr. NO_COLOR is
honoured. rich is imported only when a table is actually drawn.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from pai_cli.config import no_color
from pai_cli.errors import ConfigError

if TYPE_CHECKING:
    from pai_cli.records import ConversationInfo, Memory, Message, SearchHit

MODES = ("json", "table", "text")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""What a terminal would act on instead of showing: C0/C1 controls but tab and newline (ESC
sequences, BEL, CR), and the bidirectional overrides that make text read other than it is."""


def visible(text: str) -> str:
    """Text safe to print on a terminal: each control character as its escape (\\x1b)."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream is not a terminal
        return False


def iso(ts: float | None) -> str | None:
    from pai_cli.records import iso as to_iso  # records only when something is drawn

    return to_iso(ts)


def _short(text: str, width: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


@dataclass
class Out:
    mode: str
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @classmethod
    def choose(cls, as_json: bool, output: str | None, default: str | None = None) -> Out:
        if output is not None and output.lower() not in MODES:
            import typer

            raise typer.BadParameter(f"use one of {', '.join(MODES)}.", param_hint="'--output'")
        if default is not None and default.lower() not in MODES:
            raise ConfigError(f"Setting 'output' = {default!r} in config.toml: use one of "
                              f"{', '.join(MODES)}.")
        mode = "json" if as_json else (output or default)
        if mode is None:
            mode = "table" if sys.stdout.isatty() else "text"
        return cls(mode.lower())

    @property
    def json(self) -> bool:
        return self.mode == "json"

    @property
    def color(self) -> bool:
        return not no_color() and self.stdout.isatty()

    # -- primitives ----------------------------------------------------------------------
    def emit(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        self.stdout.flush()

    def line(self, text: str = "") -> None:
        """A line of stdout; on a terminal, stored text cannot drive it (ESC, BEL, CR are
        shown escaped). Piped, the text is exact."""
        if _is_tty(self.stdout):
            text = visible(text)
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """Human-facing status on stderr, so stdout stays pure data."""
        if _is_tty(self.stderr):
            text = visible(text)
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.mode != "table":
            for row in rows:
                self.line("\t".join("" if c is None else str(c) for c in row))
            return
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, show_lines=False, header_style="bold")
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            # Text, not str: rich would read "[bold]" or "[/x]" in stored text as markup.
            table.add_row(*(Text(visible("" if c is None else str(c))) for c in row))
        Console(file=self.stdout, no_color=not self.color, highlight=False).print(table)

    # -- records -------------------------------------------------------------------------
    def memories(self, items: Sequence[Memory]) -> None:
        if self.json:
            self.emit([m.to_dict() for m in items])
            return
        if not items:
            self.note("No memories.")
            return
        self.table(
            None, ["id", "category", "created", "pin", "content"],
            [(m.id, m.category, iso(m.created_at), "yes" if m.pinned else "",
              m.content if self.mode == "text" else _short(m.content)) for m in items],
        )

    def memory(self, m: Memory) -> None:
        if self.json:
            self.emit(m.to_dict())
            return
        for key, value in m.to_dict().items():
            if key != "content" and value is not None:
                self.line(f"{key}: {value}")
        self.line("")
        self.line(m.content)

    def hits(self, items: Sequence[SearchHit]) -> None:
        if self.json:
            self.emit([h.to_dict() for h in items])
            return
        if not items:
            self.note("No matching memories.")
            return
        self.table(
            None, ["#", "score", "id", "category", "content"],
            [(i, f"{h.score:.4f}", h.memory.id, h.memory.category,
              h.memory.content if self.mode == "text" else _short(h.memory.content, 90))
             for i, h in enumerate(items, 1)],
        )

    def conversations(self, items: Sequence[ConversationInfo]) -> None:
        if self.json:
            self.emit([c.to_dict() for c in items])
            return
        if not items:
            self.note("No conversations.")
            return
        self.table(
            None, ["id", "started", "last", "messages"],
            [(c.id, iso(c.created_at), iso(c.updated_at), c.messages) for c in items],
        )

    def messages(self, items: Sequence[Message]) -> None:
        if self.json:
            self.emit([m.to_dict() for m in items])
            return
        for m in items:
            self.line(f"[{iso(m.created_at)}] {m.role}: {m.content}")
