"""The static checks a user's security team will run: bandit on pai_cli, checkov on the
templates (in a venv of its own: checkov pins an old boto3), pip-audit where it can run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REFRESH_DAYS, Cache, report_slow_part

ROOT = Path(__file__).resolve().parent.parent


def test_bandit_finds_nothing_at_medium_or_above() -> None:
    r = subprocess.run([sys.executable, "-m", "bandit", "-q", "-r", "pai_cli", "-ll",
                        "-c", "pyproject.toml"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


CHECKOV = "checkov"
"""Unpinned, as a security team would run it; the cached venv is rebuilt after REFRESH_DAYS."""


@pytest.fixture(scope="session")
def checkov(shared_cache: Callable[[str], Cache], pytestconfig: pytest.Config) -> Path:
    """checkov in a venv of its own, kept between runs (keyed by this Python) until it is
    REFRESH_DAYS old; `ready.json` is written last, so a half-built venv is never used."""
    cache = shared_cache(f"checkov-py{sys.version_info.major}{sys.version_info.minor}")
    where, ready = cache.path / "venv", cache.path / "ready.json"
    try:
        made = json.loads(ready.read_text())
    except (OSError, ValueError):
        made = {}
    fresh = (made.get("requirement") == CHECKOV and made.get("venv") == str(where)
             and time.time() - made.get("built_at", 0) < REFRESH_DAYS * 86400
             and (where / "bin" / "checkov").is_file())
    t0 = time.perf_counter()
    if not fresh:
        ready.unlink(missing_ok=True)
        shutil.rmtree(where, ignore_errors=True)
        venv.create(where, with_pip=True)
        r = subprocess.run([str(where / "bin" / "pip"), "install", "-q", CHECKOV],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        ready.write_text(json.dumps({"requirement": CHECKOV, "venv": str(where),
                                     "built_at": time.time()}))
    report_slow_part(pytestconfig, f"checkov venv: {time.perf_counter() - t0:.1f} s "
                     + ("(cached)" if fresh else "(built" + (", kept for the next run)" if cache.kept
                                                             else " in a temp dir)")))
    return where / "bin" / "checkov"


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
