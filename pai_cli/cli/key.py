"""`pai key backup|restore|path`: the master key that every memory depends on."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pai_cli.cli.common import JsonOpt, OutputOpt, UserOpt, setup
from pai_cli.config import Settings
from pai_cli.errors import InputError

app = typer.Typer(
    help="Back up and restore the master key (lose it and every memory is lost).\n\n"
    "Example: pai key backup ~/pai-key.json",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _passphrase(settings: Settings, confirm: bool) -> str:
    if settings.key_passphrase:
        return settings.key_passphrase
    if not sys.stdin.isatty():
        raise InputError("No terminal to ask for a passphrase: set PAI_KEY_PASSPHRASE.")
    first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Again: ") != first:
        raise InputError("The passphrases differ: try again.")
    return first


@app.command("path")
def path(ctx: typer.Context, user: UserOpt = None, as_json: JsonOpt = False,
         output: OutputOpt = None) -> None:
    """Where the master key lives.

    Example: pai key path
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    where = str(wiring.key_file().path)
    out.emit({"path": where}) if out.json else out.line(where)


@app.command("backup")
def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Where to write the wrapped key.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE.")] = False,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Write the master key, encrypted with a passphrase (scrypt + AES-256-GCM).

    The passphrase is asked for (or read from PAI_KEY_PASSPHRASE). Example:
    pai key backup ~/Dropbox/pai-key.json
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    if file.exists() and not force:
        raise InputError(f"{file} exists: choose another file or pass --force.")
    if not file.parent.is_dir():
        raise InputError(f"The folder {file.parent} does not exist: create it or choose "
                         "another place for the backup.")
    key_file = wiring.key_file()
    fingerprint = key_file.check()  # makes the key on first use, checks it against the db
    doc = key_file.backup(_passphrase(settings, confirm=True))
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(doc)
    except OSError as e:
        raise InputError(f"Cannot write {file} ({e.strerror}): choose a place you can "
                         "write.") from None
    wiring.notices.clear()  # "back your key up" is what just happened
    info = {"backup": str(file), "fingerprint": fingerprint}
    out.emit(info) if out.json else out.note(
        f"Key backed up to {file} (fingerprint {info['fingerprint']}). Keep the passphrase apart."
    )


@app.command("restore")
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file made by `pai key backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a different existing key.")] = False,
    user: UserOpt = None, as_json: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Put a backed-up master key in place (on a new machine, or after losing it).

    Example: pai key restore ~/Dropbox/pai-key.json
    """
    wiring, out, settings = setup(ctx, user, as_json, output)
    try:
        document = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise InputError(f"Cannot read {file}: give the file `pai key backup` wrote.") from None
    key_file = wiring.key_file()
    fingerprint = key_file.restore(document, _passphrase(settings, confirm=False), force)
    info = {"restored": str(key_file.path), "fingerprint": fingerprint}
    out.emit(info) if out.json else out.note(
        f"Master key restored to {key_file.path} (fingerprint {info['fingerprint']})."
    )
