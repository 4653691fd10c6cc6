"""`pai login --env ENV` and `pai logout --env ENV`: the Cognito sign-in that `--backend api`
and `pai smoke` use on an API deployed with `--auth cognito`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, run_of
from pai_cli.cli.output import Out
from pai_cli.errors import BackendError, InputError

EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment name, e.g. dev.")]


def login(
    ctx: typer.Context, env: EnvOpt = None,
    username: Annotated[str | None, typer.Option("--username", help="Your user name in the pool "
                                                 "(asked if not given).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from stdin (a pipe) instead of asking.")] = False,
    user_pool_id: Annotated[str | None, typer.Option(
        "--user-pool-id", help="The pool (default: PAI_COGNITO_USER_POOL_ID, else the stacks' "
        "UserPoolId output).")] = None,
    client_id: Annotated[str | None, typer.Option(
        "--client-id", help="The CLI's app client (default: PAI_COGNITO_CLIENT_ID, else the "
        "stacks' UserPoolClientId output).")] = None,
    api_url: Annotated[str | None, typer.Option(
        "--api-url", help="The API this sign-in is for (default: PAI_API_URL, else the stacks' "
        "ApiUrl output).")] = None,
    as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Sign in to an environment's user pool (SRP: the password never leaves this machine).
    The tokens are kept in the pai data dir (0600) and refreshed when they expire.

    Example: pai login --env dev --username alice
    """
    from pai_cli.wiring.api import login_pool, sign_in

    state = run_of(ctx)
    wiring = state.open(None, None, backend="api", env=env or state.env)
    out = Out.choose(as_json, output, wiring.settings.output)
    s = wiring.settings
    pool, url = login_pool(wiring, user_pool_id, client_id, api_url)
    name = (username or "").strip() or _ask("Username", hide=False)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = _ask("Password", hide=True)
    if not password:
        raise InputError("No password given.")
    path = sign_in(wiring, pool, name, password, ask_code=lambda p: _ask(p, hide=False),
                   ask_new_password=lambda p: _ask(p, hide=True, confirm=True), api_url=url)
    if out.json:
        out.emit({"env": s.env, "username": name, "user_pool_id": pool.user_pool_id,
                  "api_url": url, "sign_in_file": str(path)})
    else:
        out.note(f"Signed in to {s.env!r} as {name}: `pai --backend api --env {s.env} ...` "
                 "now uses this sign-in (refreshed for 30 days; `pai logout` ends it).")


def logout(ctx: typer.Context, env: EnvOpt = None, as_json: JsonOpt = False,
           output: OutputOpt = None) -> None:
    """Sign out: the refresh token is revoked and the tokens on this machine removed.

    Example: pai logout --env dev
    """
    from pai_cli.config import load_settings
    from pai_cli.wiring.api import sign_out

    state = run_of(ctx)
    s = load_settings(None, env=env or state.env)
    out = Out.choose(as_json, output, s.output)
    was_signed_in, problem = sign_out(s)
    if not was_signed_in:
        out.emit({"env": s.env, "signed_out": False}) if out.json else out.note(
            f"Not signed in to {s.env!r}.")
        return
    if problem:
        raise BackendError(f"Signed out on this machine, but revoking the refresh token "
                           f"failed ({problem}): it stays valid until it expires.")
    out.emit({"env": s.env, "signed_out": True, "revoked": True}) if out.json else out.note(
        f"Signed out of {s.env!r}: the refresh token is revoked.")


def _ask(prompt: str, hide: bool, confirm: bool = False) -> str:
    """On the terminal (stderr), without echo for a password."""
    try:
        answer = typer.prompt(prompt, hide_input=hide, confirmation_prompt=confirm, err=True)
    except typer.Abort:
        raise InputError(f"No {prompt.split(':')[0].lower()} given.") from None
    return str(answer).strip() if not hide else str(answer)
