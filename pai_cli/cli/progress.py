"""A progress bar on a terminal, nothing when piped (callers print counts themselves)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pai_cli.cli.output import Out


@contextmanager
def progress_bar(label: str, total: int, out: Out) -> Iterator[Callable[[int, int], None]]:
    if not sys.stderr.isatty() or total == 0:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(file=sys.stderr, no_color=not out.color)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                  transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, total: bar.update(task, completed=done, total=total)
