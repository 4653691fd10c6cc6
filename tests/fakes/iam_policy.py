"""The CloudFormation templates' policy documents rendered with concrete values, and an
evaluation of requests against them that follows IAM's documented logic (the "Policy
evaluation logic" and "IAM JSON policy elements: Condition operators" pages): an explicit
Deny wins, else an Allow whose Action, Resource and every Condition match is needed.

Wildcards: `*` matches any run of characters (none too), `?` one. Conditions: a key missing
from the request makes a positive operator false and a negated one (StringNotEquals,
StringNotLike, ArnNotLike) true; `Null` tests presence; `ForAllValues:` is true when every
request value matches (and when the key is missing), `ForAnyValue:` when one does. An
operator this module does not implement raises, so a policy it cannot read never passes."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_VAR = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")


@dataclass
class Values:
    """What the template's intrinsics resolve to."""

    refs: dict[str, Any]
    """Parameters, pseudo parameters (AWS::Region...) and resources' Ref values."""
    attrs: dict[str, Any] = field(default_factory=dict)
    """"Resource.Attribute" -> value (Fn::GetAtt)."""
    exports: dict[str, str] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)


def render(node: Any, v: Values) -> Any:
    if isinstance(node, list):
        return [render(x, v) for x in node if not _no_value(x)]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return v.refs[arg]
        if fn == "Fn::GetAtt":
            return v.attrs[".".join(arg) if isinstance(arg, list) else arg]
        if fn == "Fn::ImportValue":
            return v.exports[render(arg, v)]
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], render(arg[1], v))

            def one(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in extra:
                    return str(extra[name])
                if "." in name and not name.startswith("AWS::"):
                    return str(v.attrs[name])
                return str(v.refs[name])
            return _VAR.sub(one, text)
        if fn == "Fn::If":
            cond, yes, no = arg
            return render(yes if v.conditions[cond] else no, v)
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(str(p) for p in render(parts, v))
        if fn.startswith("Fn::"):
            raise ValueError(f"intrinsic not rendered here: {fn}")
    return {k: render(x, v) for k, x in node.items() if not _no_value(x)}


def _no_value(x: Any) -> bool:
    return x == {"Ref": "AWS::NoValue"}


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    """Condition keys: a str, a bool, or a list (a multivalued key)."""
    why: str = ""
    """Which call of which adapter this is (shown when it is not allowed)."""


def _like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]


def _string(op: str, want: list[str], have: str) -> bool:
    if op in ("StringEquals", "ArnEquals"):
        return have in want
    if op in ("StringLike", "ArnLike"):
        return any(_like(w, have) for w in want)
    raise ValueError(op)


NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike",
           "ArnNotLike": "ArnLike", "ArnNotEquals": "ArnEquals"}


def condition_holds(conditions: Mapping[str, Mapping[str, Any]], ctx: Mapping[str, Any]) -> bool:
    for op, tests in conditions.items():
        for key, wanted in tests.items():
            want = [str(w).lower() if isinstance(w, bool) else str(w) for w in _as_list(wanted)]
            present = key in ctx
            have = ctx.get(key)
            if op == "Null":
                if (want[0] == "true") == present:
                    return False
            elif op == "Bool":
                if not present or str(have).lower() not in want:
                    return False
            elif op.startswith(("ForAllValues:", "ForAnyValue:")):
                quantifier, inner = op.split(":", 1)
                values = [str(x) for x in _as_list(have)] if present else []
                hits = [_string(inner, want, x) for x in values]
                if quantifier == "ForAllValues" and not all(hits):
                    return False
                if quantifier == "ForAnyValue" and not any(hits):
                    return False
            elif op in NEGATED:
                if present and any(_string(NEGATED[op], want, str(x)) for x in _as_list(have)):
                    return False
            elif op in ("StringEquals", "StringLike", "ArnLike", "ArnEquals"):
                if not present or not any(_string(op, want, str(x)) for x in _as_list(have)):
                    return False
            else:
                raise ValueError(f"condition operator not evaluated here: {op}")
    return True


def matches(statement: Mapping[str, Any], request: Request) -> bool:
    actions = _as_list(statement.get("Action", []))
    if not any(_like(a.lower(), request.action.lower()) for a in actions):
        return False
    resources = _as_list(statement.get("Resource", "*"))
    if not any(_like(r, request.resource) for r in resources):
        return False
    return condition_holds(statement.get("Condition", {}), request.context)


def principal_named(statement: Mapping[str, Any], principal: str) -> bool:
    p = statement.get("Principal")
    if p == "*" or p is None:
        return True
    names = _as_list(p.get("AWS", [])) + _as_list(p.get("Service", []))
    return "*" in names or principal in names


def decide(documents: list[Mapping[str, Any]], request: Request,
           principal: str | None = None) -> str:
    """"allow", "deny" (an explicit Deny matched) or "implicit deny"."""
    allowed = False
    for doc in documents:
        for s in _as_list(doc["Statement"]):
            if principal is not None and not principal_named(s, principal):
                continue
            if matches(s, request):
                if s["Effect"] == "Deny":
                    return "deny"
                allowed = True
    return "allow" if allowed else "implicit deny"


def conditions_of(template: Mapping[str, Any], v: Values) -> dict[str, bool]:
    """The template's Conditions evaluated with the given parameters."""
    raw = template.get("Conditions", {})
    done: dict[str, bool] = {}

    def ev(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Fn::Equals":
                a, b = (ev(x) for x in arg)
                return a == b
            if fn == "Fn::Or":
                return any(ev(x) for x in arg)
            if fn == "Fn::And":
                return all(ev(x) for x in arg)
            if fn == "Fn::Not":
                return not ev(arg[0])
            if fn == "Condition":
                return cond(arg)
            return render(node, v)
        return node

    def cond(name: str) -> bool:
        if name not in done:
            done[name] = bool(ev(raw[name]))
        return done[name]

    for name in raw:
        cond(name)
    return done
