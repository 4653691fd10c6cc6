"""Every test gets its own PAI_HOME, so none touches a real home directory. The slow parts
(the Lambda artifact builds, checkov's venv) are built once and shared, and their times are
printed in the terminal summary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
                "PAI_MODEL", "PAI_BASE_URL", "PAI_API_KEY", "PAI_MAX_TOKENS", "PAI_BEDROCK_ENDPOINT",
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


# --- the slow parts: caches shared across tests (and runs), and what they cost -------------

SLOW_PARTS = pytest.StashKey[list[str]]()
REFRESH_DAYS = 30  # a cached tool venv older than this is built again, so new releases arrive


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SLOW_PARTS] = []


def report_slow_part(config: pytest.Config, line: str) -> None:
    """One line for the terminal summary: what a slow part took, and whether a cache served it."""
    config.stash[SLOW_PARTS].append(line)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(SLOW_PARTS, [])
    if lines:
        terminalreporter.section("slow parts (shared caches)")
        for line in lines:
            terminalreporter.write_line(line)


@dataclass(frozen=True)
class Cache:
    path: Path
    kept: bool
    """False: a temp dir for this session only (no pytest cache, or another session holds it)."""


@pytest.fixture(scope="session")
def shared_cache(pytestconfig: pytest.Config,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Cache]]:
    """A folder that outlives the session: `$PAI_TEST_CACHE/NAME` if set (CI can keep it, or
    several checkouts share it), else pytest's cache dir (`.pytest_cache/d/`, emptied by
    `--cache-clear`). NAME carries what decides its contents (e.g. the Python version).
    One session at a time holds it (a lock file); a second one gets a temp dir instead of
    waiting or sharing half-written files."""
    held: list[int] = []

    def get(name: str) -> Cache:
        import fcntl

        base = os.environ.get("PAI_TEST_CACHE")
        cache = getattr(pytestconfig, "cache", None)
        if base:
            where = Path(base) / name
            where.mkdir(parents=True, exist_ok=True)
        elif cache is not None:
            where = Path(cache.mkdir(f"pai-{name}"))
        else:
            return Cache(tmp_path_factory.mktemp(name), kept=False)
        fd = os.open(where.parent / f"{where.name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return Cache(tmp_path_factory.mktemp(name), kept=False)
        held.append(fd)
        return Cache(where, kept=True)

    yield get
    for fd in held:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class Builds:
    out: Path
    first: Any  # pai_cli.deploy.package.Artifact
    second: Any
    first_s: float
    second_s: float


@pytest.fixture(scope="session")
def lambda_build_dir(shared_cache: Callable[[str], Cache]) -> Path:
    """The Lambda builds' out dir: its wheelhouse (every wheel pip chose, per target Python)
    and pai_cli's wheel by the digest of its sources, reused by every build in the session
    and by the next session. build_artifact asks the index only for what it does not hold."""
    return shared_cache(f"lambda-build-py{sys.version_info.major}{sys.version_info.minor}").path


@pytest.fixture(scope="session")
def arm64(lambda_build_dir: Path, pytestconfig: pytest.Config) -> Builds:
    """The deployed artifact, built once per session, then again (the same bytes expected)."""
    import time

    from pai_cli.deploy.package import LAMBDA_UNZIPPED_LIMIT, WHEELHOUSE, build_artifact

    warm = any((lambda_build_dir / WHEELHOUSE / "cp312").glob("*.whl"))
    t0 = time.perf_counter()
    first = build_artifact(lambda_build_dir, ROOT)
    t1 = time.perf_counter()
    second = build_artifact(lambda_build_dir, ROOT)
    t2 = time.perf_counter()
    mb = 2**20
    report_slow_part(pytestconfig, (
        f"lambda artifact (arm64): build {t1 - t0:.1f} s (wheelhouse {'warm' if warm else 'cold'}), "
        f"rebuild {t2 - t1:.1f} s; {first.size_bytes / mb:.1f} MB zipped, "
        f"{first.unzipped_bytes / mb:.1f} MB unzipped (limit {LAMBDA_UNZIPPED_LIMIT / mb:.0f}), "
        f"{len(first.wheels)} wheels; cache {lambda_build_dir}"))
    return Builds(lambda_build_dir, first, second, t1 - t0, t2 - t1)


@pytest.fixture(scope="session")
def x86_64(lambda_build_dir: Path, pytestconfig: pytest.Config) -> Any:
    """The same dependency set for this machine and this interpreter, so it can be imported."""
    import time

    from pai_cli.deploy.package import WHEELHOUSE, build_artifact

    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    cp = f"cp{sys.version_info.major}{sys.version_info.minor}"
    warm = any((lambda_build_dir / WHEELHOUSE / cp).glob("*.whl"))
    t0 = time.perf_counter()
    art = build_artifact(lambda_build_dir, ROOT, platform="manylinux2014_x86_64", python_version=here)
    report_slow_part(pytestconfig, f"lambda artifact (x86_64, {cp}): build "
                     f"{time.perf_counter() - t0:.1f} s (wheelhouse {'warm' if warm else 'cold'})")
    return art
