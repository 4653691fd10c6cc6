"""Reading a tool call's arguments as the model streamed them, the same way for every
provider: a JSON object or an error saying why not. Nothing is repaired: a call whose
arguments are not plainly an object is answered with an error, never run on a guess."""

from __future__ import annotations

import json
from typing import Any

_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number",
          bool: "true or false", type(None): "null"}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def arguments_from_text(name: str, text: str, truncated: bool) -> tuple[dict[str, Any] | None,
                                                                          str | None]:
    """(arguments, None) or (None, why). Nothing at all means no arguments: a tool without
    parameters streams no input (Claude on Bedrock) or an empty string (some servers)."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as e:
        if truncated:
            return None, (f"The arguments for {name} were cut off at the reply's token limit: "
                          "call it again with shorter arguments.")
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        return None, (f"The arguments for {name} are not valid JSON ({reason}): call it again "
                      "with one JSON object that matches its schema.")
    return arguments_from_value(name, value)


def arguments_from_value(name: str, value: Any) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(value, dict):
        return value, None
    kind = _KINDS.get(type(value), type(value).__name__)
    return None, (f"The arguments for {name} are {kind}, not a JSON object: call it again "
                  "with one JSON object that matches its schema.")
