"""Checking a tool call's arguments against the tool's own input schema.

Input schemas use a small subset of JSON Schema, checked here by hand (core imports no
library; tests/test_mcp_tools.py checks that every schema is valid JSON Schema and uses only
these keywords)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pai_cli.errors import InputError

# Input schemas use this small subset of JSON Schema, checked here by hand (core imports no
# library; tests/test_mcp_tools.py checks that every schema is valid JSON Schema and uses only
# these keywords): type (one of string, integer, boolean), minLength, maxLength, minimum,
# maximum, default, description; properties, required and additionalProperties=false on the
# object. Output schemas are ordinary JSON Schema, checked by the tests and by MCP clients.
CHECKED_KEYWORDS = frozenset({"type", "minLength", "maxLength", "minimum", "maximum",
                              "default", "description"})


def check_arguments(tool: str, schema: Mapping[str, Any], arguments: Any) -> dict[str, Any]:
    """The arguments, checked against the tool's schema, with defaults filled in; null for
    an optional argument means "not given" (OpenAI's strict mode sends every field)."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise InputError(f"{tool} takes an object of named arguments, not {_json_kind(arguments)}.")
    props: Mapping[str, Mapping[str, Any]] = schema["properties"]
    required = set(schema.get("required", ()))
    unknown = [k for k in arguments if k not in props]
    if unknown:
        known = ", ".join(props) or "no arguments"
        raise InputError(f"Unknown argument {unknown[0]!r}: {tool} takes {known}.")
    out: dict[str, Any] = {}
    for key, spec in props.items():
        value = arguments.get(key)
        if value is None:
            if key in required:
                what = spec.get("description")
                raise InputError(f"{tool} needs {key!r}" + (f": {what}" if what else "."))
            out[key] = spec.get("default")
            continue
        out[key] = _check_value(key, spec, value)
    return out


def _check_value(key: str, spec: Mapping[str, Any], value: Any) -> Any:
    kind = spec["type"]
    if kind == "integer":
        # JSON Schema counts 5.0 as an integer; a bool is not one, whatever Python says.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{key} must be {_range(spec)}, not {_json_kind(value)}.")
        if value < spec.get("minimum", value) or value > spec.get("maximum", value):
            raise InputError(f"{key} must be {_range(spec)}, not {value}.")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise InputError(f"{key} must be true or false, not {_json_kind(value)}.")
        return value
    if not isinstance(value, str):
        raise InputError(f"{key} must be a string, not {_json_kind(value)}.")
    if len(value) < spec.get("minLength", 0) or not value.strip():
        raise InputError(f"{key} is empty: give some text.")
    if len(value) > spec.get("maxLength", len(value)):
        raise InputError(f"{key} is longer than {spec['maxLength']} characters: shorten it.")
    return value


def _range(spec: Mapping[str, Any]) -> str:
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if lo is not None and hi is not None:
        return f"an integer from {lo} to {hi}"
    if lo is not None:
        return f"an integer of at least {lo}"
    return "an integer"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


