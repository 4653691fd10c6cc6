"""pai_cli's own wheel, built from a copy of the checkout (pai_cli/ and the folders
pyproject maps into it, infra/), so setuptools writes its build/ and egg-info into the copy,
never into the work tree, and a stale build/lib cannot smuggle deleted modules into the
wheel. Kept under the digest of the copied sources: unchanged sources, same wheel."""

from __future__ import annotations

import email.parser
import hashlib
import os
import shutil
import stat
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from packaging.requirements import Requirement

from pai_cli.deploy.lambda_target import Target
from pai_cli.deploy.pip_runner import PackagingError, offline_then_online

OWN_WHEEL = "own"  # under WHEELHOUSE: pai_cli's wheel, by the digest of its sources


def build_own_wheel(root: Path, build_wh: Path, wh: Path, tmp: Path, refresh: bool,
                    say: Callable[[str], None]) -> Path:
    import tomllib

    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise PackagingError(f"No pyproject.toml in {root}: point project_root at the pai checkout.")
    config = tomllib.loads(pyproject.read_text())
    # The package and the folders pyproject maps into it (infra/: the templates).
    mapped = {Path(d).parts[0] for d in config.get("tool", {}).get("setuptools", {})
              .get("package-dir", {}).values() if Path(d).parts}
    src = tmp / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for entry in sorted(root.iterdir()):
        if entry.is_file():
            shutil.copy2(entry, src / entry.name)
        elif entry.is_dir() and (entry.name.startswith("pai_cli") or entry.name in mapped):
            shutil.copytree(entry, src / entry.name, ignore=skip)
    build_reqs = config.get("build-system", {}).get("requires", ["setuptools>=40.8.0", "wheel"])
    # The wheel of sources already built is kept under their digest: building it again costs
    # pip an isolated build environment (5-10 s) to give the same files.
    cached = build_wh.parent / OWN_WHEEL / _tree_digest(src, build_reqs)
    built = [] if refresh else sorted(cached.glob("*.whl"))
    if len(built) == 1:
        say("pai_cli's wheel: sources unchanged since the last build, reusing it")
    else:
        dist = tmp / "dist"
        say("building pai_cli's wheel")
        # The build backend comes from the wheelhouse too, so a cached build needs no network
        # and a new setuptools release cannot change the wheel's bytes behind our back.
        offline_then_online(
            ["wheel", "--no-deps", "--no-index", "--find-links", str(build_wh), "-w", str(dist), str(src)],
            ["download", "--dest", str(build_wh), "--only-binary=:all:", *build_reqs],
            target=None, action="building pai_cli's wheel", refresh=refresh, say=say)
        built = sorted(dist.glob("*.whl"))
        if len(built) != 1:
            raise PackagingError(f"Building pai_cli's wheel gave {len(built)} wheels in {dist}, not one.")
        shutil.rmtree(cached.parent, ignore_errors=True)  # only the latest sources' wheel
        cached.mkdir(parents=True)
        part = cached / (built[0].name + ".part")
        shutil.copyfile(built[0], part)
        os.replace(part, cached / built[0].name)
    # Same name and version as last time means the same slot: overwrite, so the wheelhouse
    # never holds two different pai_cli wheels under one filename.
    dest = wh / built[0].name
    shutil.copyfile(built[0], dest)
    return dest


def _tree_digest(root: Path, extra: Sequence[str]) -> str:
    """What a wheel built from `root` depends on: every file's path, bytes and exec bit (the
    bit reaches the artifact), and the build requirements."""
    digest = hashlib.sha256("\0".join(extra).encode())
    for p in sorted(root.rglob("*")):
        if p.is_file():
            executable = "x" if p.stat().st_mode & stat.S_IXUSR else "-"
            digest.update(f"\0{p.relative_to(root).as_posix()}\0{executable}\0".encode())
            digest.update(p.read_bytes())
    return digest.hexdigest()[:32]


def wheel_requirements(wheel: Path, target: Target) -> tuple[str, str, list[Requirement]]:
    """(name, version, runtime requirements) from a wheel's METADATA: those whose markers
    hold on the target, so no extras."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.HeaderParser().parsestr(zf.read(meta).decode("utf-8"))
    env = target.marker_environment()
    reqs = [Requirement(r) for r in msg.get_all("Requires-Dist") or []]
    return msg["Name"], msg["Version"], [r for r in reqs if r.marker is None or r.marker.evaluate(env)]
