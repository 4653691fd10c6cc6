"""The static checks a user's security team will run: bandit on pai_cli, checkov on the
templates (in a venv of its own: checkov pins an old boto3), pip-audit where it can run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import report_slow_part

ROOT = Path(__file__).resolve().parent.parent


def test_bandit_finds_nothing_at_medium_or_above() -> None:
    r = subprocess.run([sys.executable, "-m", "bandit", "-q", "-r", "pai_cli", "-ll",
                        "-c", "pyproject.toml"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_checkov_passes_on_every_template(checkov: Path, pytestconfig: pytest.Config) -> None:
    # --skip-download: no call to the vendor's platform (these machines reach no such host).
    t0 = time.perf_counter()
    r = subprocess.run([str(checkov), "-d", "infra", "--framework", "cloudformation",
                        "--quiet", "--compact", "--skip-download"], cwd=ROOT,
                       capture_output=True, text=True)
    report_slow_part(pytestconfig, f"checkov run: {time.perf_counter() - t0:.1f} s")
    print(r.stdout[-1500:])
    assert r.returncode == 0 and "Failed checks: 0" in r.stdout, r.stdout[-4000:]


def test_pip_audit() -> None:
    if os.environ.get("PAI_PIP_AUDIT") != "1":
        pytest.skip("pip-audit needs its vulnerability databases, which these machines cannot "
                    "reach; set PAI_PIP_AUDIT=1 where they can")
    r = subprocess.run([sys.executable, "-m", "pip_audit"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
