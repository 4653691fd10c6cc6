"""pai as a shell runs it: the installed entry point, exit codes, stdout vs stderr."""

from __future__ import annotations

import json
import shutil
import subprocess

from conftest import pai_process


def test_help_version_and_a_full_session() -> None:
    r = pai_process("--version")
    assert r.returncode == 0 and r.stdout.decode().startswith("pai ")
    r = pai_process("--help")
    assert r.returncode == 0 and b"memory" in r.stdout and b"search" in r.stdout
    r = pai_process("memory", "add", "The spare bike key hangs by the door", "--json")
    assert r.returncode == 0
    mid = json.loads(r.stdout)["id"]
    assert b"master key" in r.stderr  # first use: where the key is
    r = pai_process("search", "where is the bicycle key", "--json")
    assert json.loads(r.stdout)[0]["id"] == mid
    r = pai_process("chat", input=b"bike ride on Saturday\n")
    assert r.returncode == 0 and b"Recalled" in r.stdout and b"No chat model" in r.stderr


def test_errors_are_one_line_with_the_documented_exit_codes() -> None:
    r = pai_process("memory", "show", "mem-unknown")
    assert r.returncode == 1
    assert r.stderr.decode().strip().splitlines()[-1].startswith("pai: error:")
    assert b"Traceback" not in r.stderr
    r = pai_process("memory", "list", "--limit", "x")
    assert r.returncode == 2
    r = pai_process("memory", "show", "mem-unknown", "--debug")
    assert r.returncode != 0 and b"Traceback" in r.stderr


def test_no_color_and_pipes_give_plain_text() -> None:
    pai_process("memory", "add", "plain output please")
    r = pai_process("memory", "list", env={"NO_COLOR": "1"})
    assert b"\x1b[" not in r.stdout and b"plain output please" in r.stdout


def test_console_script_is_installed() -> None:
    exe = shutil.which("pai")
    assert exe, "the `pai` console script is not on PATH (pip install .)"
    r = subprocess.run([exe, "--version"], capture_output=True, timeout=30)
    assert r.returncode == 0
