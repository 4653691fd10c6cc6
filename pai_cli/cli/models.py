"""`pai models`: which chat model pai uses, whether it answers; storing an API key."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer

from pai_cli.cli.chat import ModelOpt, ProfileOpt, ProviderOpt, RegionOpt
from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup
from pai_cli.config import ModelChoice
from pai_cli.errors import InputError, PaiError

app = typer.Typer(
    help="Show the chat model pai uses and check it answers; store an API key.\n\n"
    "Example: pai models --json",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@app.callback()
def models(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Call the model.")] = True,
    model: ModelOpt = None, provider: ProviderOpt = None,
    profile: ProfileOpt = None, region: RegionOpt = None,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """What is configured, and whether it can be reached.

    Example: pai models --provider openai --check
    """
    if ctx.invoked_subcommand is not None:
        return
    wiring, out, settings = setup(ctx, user, as_json, output,
                                  ModelChoice(provider, model, profile, region))
    info: dict[str, object] = {"provider": None, "model": None, "reachable": None,
                               "error": None, "api_key_set": wiring.api_key_set()}
    try:
        chosen = wiring.model
    except PaiError as e:
        chosen = None
        info["error"] = e.message
    if chosen is not None:
        info.update(provider=chosen.provider, model=chosen.model_id)
        info["region"] = getattr(chosen, "region", None)
        info["base_url"] = getattr(chosen, "base_url", None)
        if check:
            try:
                info["available"] = chosen.check()
                info["reachable"] = True
            except PaiError as e:
                info["reachable"] = False
                info["error"] = e.message
    elif info["error"] is None:
        info["error"] = ("no chat model configured: set provider (bedrock or openai) in "
                         f"{settings.config_file}, or PAI_PROVIDER; pai runs recall-only.")
    for notice in wiring.notices:
        out.note(f"pai: {notice}")
    wiring.notices.clear()
    if out.json:
        out.emit(info)
    else:
        rows = [(k, "" if v is None else (", ".join(v[:10]) if isinstance(v, list) else v))
                for k, v in info.items()]
        out.table(None, ["setting", "value"], rows)
    if info["reachable"] is False:
        raise typer.Exit(4)


@app.command("set-key")
def set_key(
    ctx: typer.Context,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Store the API key of an OpenAI-compatible server in a 0600 file (read from stdin or
    asked for; never taken as an argument, so it stays out of shell history).

    Example: pai models set-key < key.txt
    """
    _, out, settings = setup(ctx, user, as_json, output)
    key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        raise InputError("No API key given: type it, or pipe it on stdin.")
    path = settings.api_key_path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key + "\n")
    os.replace(tmp, path)
    out.emit({"stored": str(path)}) if out.json else out.note(f"API key stored in {path} (0600).")
