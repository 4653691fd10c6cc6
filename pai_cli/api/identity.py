"""Who is calling: only from the request context that API Gateway filled in (the IAM caller
or the JWT subject), never from the body, a header or a query parameter.

API Gateway's JWT authorizer verifies the token (signature against the issuer's keys,
issuer, audience or client_id, expiry) before the function runs and passes its claims as
requestContext.authorizer.jwt.claims: those claims are the only ones read here. A Cognito
user is their pool's `sub` (stable, never reused), shown with their username."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9._@+-]")
LOCAL = "pai-local-user:"
"""The principal `pai serve` puts in the request context; API Gateway never produces it."""


COGNITO_ISSUER = re.compile(r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[A-Za-z0-9-]+_[A-Za-z0-9]+")
"""A Cognito user pool's issuer (https://cognito-idp.REGION.amazonaws.com/POOL_ID)."""
_COGNITO_NAMES = ("username", "cognito:username")
"""The username in an access token and in an id token: fixed when the user is made."""


class Unauthenticated(Exception):
    """No principal in the request context: the route was reached without authorization."""


def principal(event: dict[str, Any]) -> str:
    auth = (event.get("requestContext") or {}).get("authorizer") or {}
    iam = auth.get("iam") or {}
    if iam.get("userArn") or iam.get("userId"):
        return str(iam.get("userArn") or iam.get("userId"))
    claims = (auth.get("jwt") or {}).get("claims") or {}
    if claims.get("sub"):
        return f"jwt:{claims.get('iss', '')}:{claims['sub']}"
    raise Unauthenticated


def user_of(event: dict[str, Any], mapping: Mapping[str, str] | None = None) -> str:
    """The pai user of the request: its principal, through the mapping, named readably."""
    return user_for(principal(event), mapping, readable_name(event))


def readable_name(event: dict[str, Any]) -> str | None:
    """A Cognito user's username, to name their pai user by: the identity stays the subject
    (the hash in user_for), so the name only makes it readable. Other issuers' users keep
    the names they always had (a new name would be a new user, their memories elsewhere)."""
    auth = (event.get("requestContext") or {}).get("authorizer") or {}
    if (auth.get("iam") or {}).get("userArn") or (auth.get("iam") or {}).get("userId"):
        return None
    claims = (auth.get("jwt") or {}).get("claims") or {}
    if not COGNITO_ISSUER.fullmatch(str(claims.get("iss", ""))):
        return None
    for claim in _COGNITO_NAMES:
        if claims.get(claim):
            return str(claims[claim])
    return None


def user_for(principal_id: str, mapping: Mapping[str, str] | None = None,
             readable: str | None = None) -> str:
    """The pai user id of a principal: an explicit mapping (PAI_PRINCIPAL_USERS, a JSON
    object, as Settings.principal_users), else a readable name plus a hash of the whole
    principal, so two principals that share a last name segment (alice in two accounts) can
    never share memories."""
    if principal_id.startswith(LOCAL):  # `pai serve`: the user it was started for
        return principal_id[len(LOCAL):]
    mapping = mapping or {}
    if principal_id in mapping:
        return str(mapping[principal_id])
    principal_id = _stable(principal_id)
    tail = readable or principal_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    readable = _SAFE.sub("_", tail)[:40].lstrip("._@+-") or "user"
    digest = hashlib.sha256(principal_id.encode("utf-8")).hexdigest()[:10]
    return f"{readable}-{digest}"


def _stable(principal_id: str) -> str:
    """Whoever may call sts:AssumeRole picks the session name, so for an ordinary role the
    identity is the role, not the session: everyone using one role shares its memories
    (map people to users with PAI_PRINCIPAL_USERS). IAM Identity Center's roles are the
    exception: AWS sets their session name to the signed-in user."""
    if ":assumed-role/" not in principal_id:
        return principal_id
    head, rest = principal_id.split(":assumed-role/", 1)
    role, _, session = rest.partition("/")
    if role.startswith("AWSReservedSSO_") and session:
        return principal_id
    return f"{head}:assumed-role/{role}"
