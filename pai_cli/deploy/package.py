"""The Lambda artifact: pai_cli and its runtime dependencies for arm64, in one zip.

    build_artifact(out_dir) -> Artifact(path, sha256, size_bytes, unzipped_bytes, wheels)

Every step is a pip subprocess (pip is the one resolver that knows wheel tags; we never
import it), in this order:

1. pai_cli's own wheel, built from a copy of the checkout (pai_cli/ and the folders
   pyproject maps into it, infra/): setuptools then writes its build/ and egg-info into the
   copy, never into the work tree, and a stale build/lib cannot smuggle deleted modules into
   the wheel. Kept under the digest of the copied sources: unchanged sources, same wheel.
2. The dependency set for the target (arm64 manylinux, CPython 3.12), installed with
   --no-index from `out_dir/wheelhouse/cp312` (one folder per Python version). Only when
   that fails (first build, a new or re-pinned dependency, `refresh=True`) does pip download
   into the wheelhouse and the install run again: the second deploy is offline, fast, and
   gives the same bytes.
3. Data-only dependencies (`DATA_ONLY`): pai reads files from them, never imports them;
   local-only ones (`LOCAL_ONLY`, the MiniLM runtime) are not installed at all.
4. Strip what Lambda never reads, check Lambda's 250 MB unzipped limit, zip with sorted
   entries and fixed timestamps so the same inputs give the same sha256.

This module runs the steps and checks the limit; own_wheel.py (1), dependencies.py (2, 3)
and lambda_zip.py (4) do them, over pip_runner.py (pip itself) and lambda_target.py (the
target's tags and markers).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from pai_cli.deploy.dependencies import DATA_ONLY, LOCAL_ONLY, add_data_only, install_deps
from pai_cli.deploy.lambda_target import LAMBDA_GLIBC, Target, wheel_tags_ok
from pai_cli.deploy.lambda_zip import strip_unused, tree_bytes, zip_tree
from pai_cli.deploy.own_wheel import OWN_WHEEL, build_own_wheel, wheel_requirements
from pai_cli.deploy.pip_runner import PackagingError, offline_index, report_wheels, run_pip

__all__ = ["DATA_ONLY", "LAMBDA_GLIBC", "LAMBDA_UNZIPPED_LIMIT", "OWN_WHEEL", "WHEELHOUSE",
           "Artifact", "PackagingError", "Target", "build_artifact", "wheel_tags_ok"]

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
"""Lambda's cap on a function's unzipped code plus its layers (262,144,000 bytes)."""

WHEELHOUSE = "wheelhouse"


@dataclass(frozen=True)
class Artifact:
    path: Path
    sha256: str
    size_bytes: int
    unzipped_bytes: int
    wheels: list[str]
    data_from: list[str] = field(default_factory=list)
    """Wheels whose data files (not code) went in: see DATA_ONLY. Not checked for tags."""
    dropped: list[str] = field(default_factory=list)
    """Data-only packages left out to fit the unzipped limit."""
    wheelhouse: Path | None = None
    """The folder holding every file named in `wheels` and `data_from`."""


def build_artifact(
    out_dir: Path,
    project_root: Path | None = None,
    platform: str = "manylinux2014_aarch64",
    python_version: str = "3.12",
    progress: Callable[[str], None] | None = None,
    *,
    extra_requirements: Sequence[str] = (),
    refresh: bool = False,
    glibc: tuple[int, int] = LAMBDA_GLIBC,
) -> Artifact:
    """Build (or rebuild from the wheelhouse cache) the Lambda zip in `out_dir`.

    `extra_requirements` are installed beside pai_cli's own; `refresh` asks the index again
    for every dependency instead of trusting the wheelhouse first."""
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir).resolve()
    root = Path(project_root).resolve() if project_root else Path(__file__).resolve().parents[2]
    target = Target(platform, python_version, glibc)
    # One folder per Python version: everything in it was chosen by `pip download` for that
    # version, which is what makes --ignore-requires-python safe in the installs below.
    wh = out_dir / WHEELHOUSE / target.cp
    build_wh = out_dir / WHEELHOUSE / "build"  # the build backend, for this interpreter
    for d in (wh, build_wh):
        d.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="pai-build-", dir=out_dir) as tmp_name:
        tmp = Path(tmp_name)
        own = build_own_wheel(root, build_wh, wh, tmp, refresh, say)
        name, version, reqs = wheel_requirements(own, target)
        data_reqs = [r for r in reqs if canonicalize_name(r.name) in DATA_ONLY]
        deps = [str(r) for r in reqs
                if canonicalize_name(r.name) not in {*DATA_ONLY, *LOCAL_ONLY}]
        deps += list(extra_requirements)

        stage = tmp / "stage"
        say(f"installing {len(deps)} dependencies for {target.describe()}")
        report = install_deps(deps, stage, wh, target, tmp, refresh, say)
        # By name from the wheelhouse, not by path: a path install writes direct_url.json with
        # the temp dir in it, and the zip's bytes would differ on every build.
        run_pip(["install", "--target", str(stage), "--no-deps", "--no-compile", "--report",
                 str(tmp / "own.json"), *offline_index(wh), *target.pip_flags(), f"{name}=={version}"],
                offline=True, target=target, action=f"installing {name}")
        wheels = sorted(set(report_wheels(report) + report_wheels(tmp / "own.json")))
        data_from = [add_data_only(r, stage, wh, target, refresh, say) for r in data_reqs]

        bad = wheel_tags_ok(wheels, arch=target.arch)
        if bad:  # pip filters by tag, so this is a guard against a wheelhouse tampered by hand
            raise PackagingError(f"wheels not built for {target.describe()}: {', '.join(bad)}")

        strip_unused(stage)
        unzipped = tree_bytes(stage)
        dropped: list[str] = []
        if unzipped > LAMBDA_UNZIPPED_LIMIT and data_reqs:
            # Correctness over size until the limit: then the local embedder's files go before
            # we fail (an AWS home embeds with Titan unless told otherwise; with embedder =
            # "local" the Lambda then says the model files are missing).
            for r in data_reqs:
                pkg = canonicalize_name(r.name)
                for prefix in DATA_ONLY[pkg]:
                    shutil.rmtree(stage / prefix, ignore_errors=True)
                dropped.append(pkg)
            say(f"warning: left out {', '.join(dropped)} data to fit Lambda's unzipped limit")
            unzipped = tree_bytes(stage)
        if unzipped > LAMBDA_UNZIPPED_LIMIT:
            raise PackagingError(
                f"The Lambda package unzips to {unzipped / 2**20:.1f} MB, over Lambda's "
                f"{LAMBDA_UNZIPPED_LIMIT / 2**20:.0f} MB limit: drop a dependency or ship a container image."
            )

        zip_path = out_dir / f"pai-lambda-{target.platform}-{target.cp}.zip"
        say(f"zipping {unzipped / 2**20:.1f} MB into {zip_path.name}")
        zip_tree(stage, zip_path, tmp)
    digest = hashlib.sha256()
    with zip_path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return Artifact(zip_path, digest.hexdigest(), zip_path.stat().st_size, unzipped, wheels,
                    data_from, dropped, wh)
