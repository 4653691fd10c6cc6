"""Every command's --help works, and the lazily built root lists what Typer would build."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.main import get_command, get_group
from typer.testing import CliRunner

from pai_cli.cli import main
from pai_cli.cli.main import COMMANDS, app

HEAVY = ("numpy", "usearch", "boto3", "botocore", "rich", "prompt_toolkit", "detect_secrets",
         "pydantic", "cryptography", "tokenizers", "snowballstemmer", "sqlite3")


def _eager() -> typer.Typer:
    """The root as Typer would build it eagerly: every command registered on it."""
    eager = typer.Typer(name="pai", help=app.info.help, no_args_is_help=True,
                        add_completion=False, rich_markup_mode=None,
                        pretty_exceptions_enable=False,
                        context_settings={"help_option_names": ["-h", "--help"]})
    eager.callback()(app.registered_callback.callback)
    for name, entry in COMMANDS.items():
        target = getattr(__import__(f"pai_cli.cli.{entry.module}", fromlist=["x"]), entry.attr)
        if entry.group:
            eager.add_typer(target, name=name)
        else:
            eager.command(name)(target)
    return eager


def _paths(cmd, path: list[str]) -> list[list[str]]:  # type: ignore[no-untyped-def]
    out = [path]
    for name in getattr(cmd, "commands", {}):
        out += _paths(cmd.commands[name], [*path, name])
    return out


@pytest.mark.parametrize("width", ["40", "80", "200"])
def test_root_help_lists_every_command_as_typer_would(width: str) -> None:
    runner = CliRunner()
    lazy = runner.invoke(app, ["--help"], env={"COLUMNS": width}, prog_name="pai")
    eager = runner.invoke(_eager(), ["--help"], env={"COLUMNS": width}, prog_name="pai")
    assert lazy.exit_code == eager.exit_code == 0
    assert lazy.output == eager.output
    built = get_group(_eager()).commands
    assert list(COMMANDS) == list(built)  # every top-level command, in Typer's order
    for name in built:
        assert f"\n  {name} " in lazy.output


def test_every_command_help_matches_the_eager_build() -> None:
    runner = CliRunner()
    eager_app = _eager()
    paths = _paths(get_command(eager_app), [])
    assert len(paths) > 40
    for path in paths:
        lazy = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, prog_name="pai")
        eager = runner.invoke(eager_app, [*path, "--help"], env={"COLUMNS": "80"},
                              prog_name="pai")
        assert lazy.exit_code == 0, (path, lazy.output)
        assert lazy.output == eager.output, path


def test_completion_and_typos_see_every_command() -> None:
    from typer._completion_classes import BashComplete

    def complete(cli, args: list[str], incomplete: str) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
        comp = BashComplete(get_command(cli), {}, "pai", "_PAI_COMPLETE")
        return [(c.value, c.help) for c in comp.get_completions(args, incomplete)]

    names = complete(app, [], "")
    assert names == complete(_eager(), [], "")
    assert {n for n, _ in names} >= set(COMMANDS)
    assert complete(app, ["memory"], "li") == complete(_eager(), ["memory"], "li")
    assert [n for n, _ in complete(app, ["memory"], "li")] == ["list"]
    r = CliRunner().invoke(app, ["serch", "x"], prog_name="pai")
    assert r.exit_code == 2 and "Did you mean 'search'" in r.output


def test_help_imports_no_heavy_library() -> None:
    code = ("import sys\nfrom pai_cli.cli.main import run\ntry:\n    run(['--help'])\n"
            "except SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"
    assert main.COMMANDS  # the table the root lists from
