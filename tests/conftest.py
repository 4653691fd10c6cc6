"""Every test gets its own PAI_HOME, so none touches a real home directory."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pai_cli.cli.main import run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def pai_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "pai-home"
    monkeypatch.setenv("PAI_HOME", str(home))
    monkeypatch.setenv("PAI_USER", "alice")
    for var in ("PAI_CONFIG", "PAI_MASTER_KEY_FILE", "PAI_DEBUG", "PAI_KEY_PASSPHRASE", "NO_COLOR",
                "PAI_MODEL", "PAI_MEMORY_MODE", "PAI_BASE_URL", "PAI_API_KEY", "PAI_MAX_TOKENS",
                "PAI_BEDROCK_ENDPOINT",
                "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    # No test reaches a real model or AWS by accident: recall-only unless a test says otherwise,
    # and never the EC2 metadata service.
    monkeypatch.setenv("PAI_PROVIDER", "none")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return home


@dataclass
class Result:
    code: int
    out: str
    err: str


def pai(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """The real entry point (argument parsing, error handling, exit codes) via CliRunner."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        code = 0
        try:
            run(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        return Result(code, out.getvalue().decode(), err.getvalue().decode())


def pai_process(
    *args: str, input: bytes | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """pai as a separate process, the way a shell runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pai_cli.cli.main", *args],
        input=input, capture_output=True, env=full_env, timeout=timeout, cwd=ROOT,
    )
