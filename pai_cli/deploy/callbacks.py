"""What the CLI passes the deploy, destroy and restore flows: the question, the stack
events and the progress lines go through these, so the flows print nothing themselves."""

from __future__ import annotations

from collections.abc import Callable

from pai_cli.deploy.stacks import Event

Confirm = Callable[[str], bool]
"""Asked before anything is changed; False stops the command with nothing more done."""
OnEvent = Callable[[Event], None]
OnNote = Callable[[str], None]
