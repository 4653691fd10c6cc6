"""Every test gets its own PAI_HOME, so none touches a real home directory. The slow parts
(the Lambda artifact builds, checkov's venv) are built once and shared, and their times are
printed in the terminal summary."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pai_cli.cli.main import run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of the optimised embedding model for the whole run, as every home of one
    OS user shares it (making it costs ~0.2 s and 90 MB)."""
    return tmp_path_factory.mktemp("pai-cache")


@pytest.fixture(autouse=True)
def pai_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Path:
    home = tmp_path / "pai-home"
    monkeypatch.setenv("PAI_HOME", str(home))
    monkeypatch.setenv("PAI_CACHE_DIR", str(model_cache))
    monkeypatch.setenv("PAI_USER", "alice")
    for var in ("PAI_CONFIG", "PAI_MASTER_KEY_FILE", "PAI_DEBUG", "PAI_KEY_PASSPHRASE", "NO_COLOR",
                "PAI_MODEL", "PAI_MEMORY_MODE", "PAI_BASE_URL", "PAI_API_KEY", "PAI_MAX_TOKENS",
                "PAI_BEDROCK_ENDPOINT", "PAI_API_URL", "PAI_API_AUTH", "PAI_COGNITO_USER_POOL_ID",
                "PAI_COGNITO_CLIENT_ID", "PAI_AWS_ENDPOINT",
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
#
# The Lambda artifact builds and checkov's venv take minutes from nothing. They are kept
# between runs (see SlowParts.cache), and as soon as collection shows a test needs one, it
# starts in a process of its own, so it runs on the second core while the tests before it
# do; the fixture then waits only for what is left. The terminal summary says what each took.

REFRESH_DAYS = 30  # a cached tool venv older than this is built again, so new releases arrive
CHECKOV = "checkov"
"""Unpinned, as a security team would run it; the cached venv is rebuilt after REFRESH_DAYS."""
PY = f"py{sys.version_info.major}{sys.version_info.minor}"

_BUILD_ALL = """
import json, os, sys, time
from dataclasses import asdict
from pathlib import Path
from pai_cli.deploy.package import build_artifact

out, root, here = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
done = {}
for name, kw in (("arm64", {}), ("arm64_again", {}),
                 ("x86_64", {"platform": "manylinux2014_x86_64", "python_version": here})):
    t = time.perf_counter()
    art = build_artifact(out, root, **kw)
    done[name] = {"seconds": time.perf_counter() - t,
                  **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(art).items()}}
(out / "builds.json.part").write_text(json.dumps(done))
os.replace(out / "builds.json.part", out / "builds.json")
"""

_CHECKOV_VENV = """
import subprocess, sys, time, venv
t = time.perf_counter()
venv.create(sys.argv[1], with_pip=True)
code = subprocess.call([sys.argv[1] + "/bin/pip", "install", "-q", sys.argv[2]])
print(f"seconds {time.perf_counter() - t:.1f}", flush=True)
sys.exit(code)
"""


@dataclass(frozen=True)
class Cache:
    path: Path
    kept: bool
    """False: a temp dir for this session only (no pytest cache, or another session holds it)."""


@dataclass
class Job:
    proc: subprocess.Popen[bytes]
    log: Path
    note: str


class SlowParts:
    """One session's caches, background jobs and summary lines (kept on config.stash)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.lines: list[str] = []
        self.caches: dict[str, Cache] = {}
        self.jobs: dict[str, Job] = {}
        self._locks: list[int] = []
        self._temps: list[Path] = []

    def cache(self, name: str) -> Cache:
        """A folder that outlives the session: `$PAI_TEST_CACHE/NAME` if set (CI can keep it,
        or several checkouts share it), else pytest's cache dir (`.pytest_cache/d/`, emptied
        by `--cache-clear`). NAME carries what decides its contents (the Python version).
        One session at a time holds it (a lock file): a second one gets a temp dir rather
        than waiting or reading half-written files."""
        import fcntl
        import tempfile

        if name in self.caches:
            return self.caches[name]
        base = os.environ.get("PAI_TEST_CACHE")
        pytest_cache = getattr(self.config, "cache", None)
        where: Path | None = None
        if base:
            where = Path(base) / name
            where.mkdir(parents=True, exist_ok=True)
        elif pytest_cache is not None:
            where = Path(pytest_cache.mkdir(f"pai-{name}"))
        if where is not None:
            fd = os.open(where.parent / f"{where.name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._locks.append(fd)
                self.caches[name] = Cache(where, kept=True)
                return self.caches[name]
            except BlockingIOError:
                os.close(fd)
        temp = Path(tempfile.mkdtemp(prefix=f"pai-test-{name}-"))
        self._temps.append(temp)
        self.caches[name] = Cache(temp, kept=False)
        return self.caches[name]

    def start(self, name: str, argv: list[str], log: Path, note: str = "") -> None:
        if name in self.jobs:
            return
        with log.open("wb") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=ROOT, env=dict(os.environ))
        self.jobs[name] = Job(proc, log, note)

    def wait(self, name: str) -> float:
        """Seconds this wait took (0 when the job was done before it was needed); fails the
        test with the job's log if the job failed."""
        import time

        job = self.jobs[name]
        t0 = time.perf_counter()
        code = job.proc.wait()
        if code != 0:
            tail = job.log.read_text(errors="replace")[-3000:]
            pytest.fail(f"{name} failed (exit {code}); its log {job.log} ends:\n{tail}")
        return time.perf_counter() - t0

    def close(self) -> None:
        import shutil

        for job in self.jobs.values():
            if job.proc.poll() is None:  # the session ended first (-x, Ctrl-C)
                job.proc.terminate()
                job.proc.wait()
        for fd in self._locks:
            os.close(fd)  # releases the lock
        for temp in self._temps:
            shutil.rmtree(temp, ignore_errors=True)

    # -- the two slow parts --------------------------------------------------------------
    def lambda_dir(self) -> Path:
        return self.cache(f"lambda-build-{PY}").path

    def start_lambda_builds(self) -> None:
        """arm64, arm64 again (the same bytes expected), and x86_64 for this interpreter."""
        from pai_cli.deploy.package import WHEELHOUSE

        if "lambda builds" in self.jobs:
            return
        out = self.lambda_dir()
        (out / "builds.json").unlink(missing_ok=True)
        warm = any((out / WHEELHOUSE / "cp312").glob("*.whl"))
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        self.start("lambda builds", [sys.executable, "-c", _BUILD_ALL, str(out), str(ROOT), here],
                   out / "builds.log", note=f"wheelhouse {'warm' if warm else 'cold'}")

    def checkov_venv(self) -> tuple[Path, bool]:
        """(the venv, whether it is ready to use as it is)."""
        import json
        import time

        cache = self.cache(f"checkov-{PY}")
        where, ready = cache.path / "venv", cache.path / "ready.json"
        try:
            made = json.loads(ready.read_text())
        except (OSError, ValueError):
            made = {}
        fresh = (made.get("requirement") == CHECKOV and made.get("venv") == str(where)
                 and time.time() - made.get("built_at", 0) < REFRESH_DAYS * 86400
                 and (where / "bin" / "checkov").is_file())
        return where, fresh

    def start_checkov_venv(self) -> None:
        import shutil

        where, fresh = self.checkov_venv()
        if fresh or "checkov venv" in self.jobs:
            return
        (where.parent / "ready.json").unlink(missing_ok=True)
        shutil.rmtree(where, ignore_errors=True)
        self.start("checkov venv", [sys.executable, "-c", _CHECKOV_VENV, str(where), CHECKOV],
                   where.parent / "install.log")


SLOW = pytest.StashKey[SlowParts]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SLOW] = SlowParts(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if SLOW in config.stash:
        config.stash[SLOW].close()


def pytest_collection_finish(session: pytest.Session) -> None:
    if os.environ.get("PAI_TEST_BACKGROUND", "1") == "0":
        return  # each slow part starts when its fixture is first used, and is waited for
    needed = {f for item in session.items for f in getattr(item, "fixturenames", ())}
    slow = session.config.stash[SLOW]
    if needed & {"arm64", "x86_64", "lambda_builds"}:
        slow.start_lambda_builds()
    if "checkov" in needed:
        slow.start_checkov_venv()


def report_slow_part(config: pytest.Config, line: str) -> None:
    """One line for the terminal summary: what a slow part took, and whether a cache served it."""
    config.stash[SLOW].lines.append(line)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash[SLOW].lines if SLOW in config.stash else []
    if lines:
        terminalreporter.section("slow parts (shared caches)")
        for line in lines:
            terminalreporter.write_line(line)


@dataclass(frozen=True)
class Builds:
    out: Path
    first: Any  # pai_cli.deploy.package.Artifact
    second: Any
    first_s: float
    second_s: float


@pytest.fixture(scope="session")
def lambda_build_dir(pytestconfig: pytest.Config) -> Path:
    """The Lambda builds' out dir: its wheelhouse (every wheel pip chose, per target Python)
    and pai_cli's wheel by the digest of its sources, reused by every build in the session
    and by the next session. build_artifact asks the index only for what it does not hold."""
    return pytestconfig.stash[SLOW].lambda_dir()


@dataclass(frozen=True)
class LambdaBuilds:
    artifacts: dict[str, Any]  # "arm64", "arm64_again", "x86_64" -> Artifact
    seconds: dict[str, float]


@pytest.fixture(scope="session")
def lambda_builds(pytestconfig: pytest.Config) -> LambdaBuilds:
    """The session's three builds (started at collection), as Artifacts with their times."""
    import json

    from pai_cli.deploy.package import LAMBDA_UNZIPPED_LIMIT, Artifact

    slow = pytestconfig.stash[SLOW]
    slow.start_lambda_builds()  # no-op when collection started it
    waited = slow.wait("lambda builds")
    out = slow.lambda_dir()
    raw = json.loads((out / "builds.json").read_text())
    seconds = {name: fields.pop("seconds") for name, fields in raw.items()}
    built = {name: Artifact(**{**fields, "path": Path(fields["path"]),
                               "wheelhouse": Path(fields["wheelhouse"]) if fields["wheelhouse"] else None})
             for name, fields in raw.items()}
    arm = built["arm64"]
    mb = 2**20
    report_slow_part(pytestconfig, (
        f"lambda artifacts: {sum(seconds.values()):.1f} s of builds "
        f"({slow.jobs['lambda builds'].note}), of which the tests waited {waited:.1f} s; cache {out}"))
    report_slow_part(pytestconfig, (
        f"  arm64: build {seconds['arm64']:.1f} s, rebuild {seconds['arm64_again']:.1f} s; "
        f"{arm.size_bytes / mb:.1f} MB zipped, "
        f"{arm.unzipped_bytes / mb:.1f} MB unzipped (limit {LAMBDA_UNZIPPED_LIMIT / mb:.0f}), "
        f"{len(arm.wheels)} wheels"))
    report_slow_part(pytestconfig, f"  x86_64 ({PY}): build {seconds['x86_64']:.1f} s")
    return LambdaBuilds(built, seconds)


@pytest.fixture(scope="session")
def arm64(lambda_builds: LambdaBuilds, lambda_build_dir: Path) -> Builds:
    """The deployed artifact, built once per session, then again (the same bytes expected)."""
    a, s = lambda_builds.artifacts, lambda_builds.seconds
    return Builds(lambda_build_dir, a["arm64"], a["arm64_again"], s["arm64"], s["arm64_again"])


@pytest.fixture(scope="session")
def x86_64(lambda_builds: LambdaBuilds) -> Any:
    """The same dependency set for this machine and this interpreter, so it can be imported."""
    return lambda_builds.artifacts["x86_64"]


@pytest.fixture(scope="session")
def checkov(pytestconfig: pytest.Config) -> Path:
    """checkov in a venv of its own (it pins an old boto3), kept between runs until it is
    REFRESH_DAYS old; `ready.json` is written last, so a half-built venv is never used."""
    import json
    import time

    slow = pytestconfig.stash[SLOW]
    where, fresh = slow.checkov_venv()
    if fresh and "checkov venv" not in slow.jobs:
        report_slow_part(pytestconfig, f"checkov venv: cached ({where})")
    else:
        slow.start_checkov_venv()
        waited = slow.wait("checkov venv")
        (where.parent / "ready.json").write_text(json.dumps(
            {"requirement": CHECKOV, "venv": str(where), "built_at": time.time()}))
        kept = slow.cache(f"checkov-{PY}").kept
        report_slow_part(pytestconfig, (
            f"checkov venv: built in {_seconds(where.parent / 'install.log')} s, "
            f"of which the tests waited {waited:.1f} s "
            f"({'kept for the next run' if kept else 'in a temp dir'})"))
    return where / "bin" / "checkov"



def _seconds(log: Path) -> str:
    """The time a job printed as its last line (`seconds N`)."""
    last = log.read_text(errors="replace").strip().rsplit("\n", 1)[-1]
    return last.removeprefix("seconds ") if last.startswith("seconds ") else "?"


@pytest.fixture
def aws_wiring(monkeypatch: pytest.MonkeyPatch, pai_home: Path) -> Any:
    """The AWS home on moto (DynamoDB, S3, KMS, S3 Vectors) as alice's Wiring, embedding with
    WordLlama (moto's Bedrock returns no vectors): yields (wiring, the resources' names)."""
    from fakes.aws_home import moto_aws_home

    from pai_cli.config import load_settings
    from pai_cli.wiring import Wiring

    pai_home.mkdir(parents=True, exist_ok=True)
    (pai_home / "config.toml").write_text('embedder = "local"\n')
    with moto_aws_home(monkeypatch) as info:
        w = Wiring(load_settings("alice"))
        yield w, info
        w.close()
