"""The dependency set installed into the stage for the target: from the wheelhouse with
--no-index, and only when that fails (first build, a new or re-pinned dependency, refresh)
downloaded into it and installed again. Data-only dependencies (DATA_ONLY) give their data
files, never their code."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from pai_cli.deploy.lambda_target import Target
from pai_cli.deploy.pip_runner import PackagingError, offline_index, pip_error, run_pip

DATA_ONLY: dict[str, tuple[str, ...]] = {
    # pai's local embedder reads these two folders (weights, tokenizer) and never imports
    # wordllama: 0.4.0.post1 publishes no arm64 wheel, and its code would pull in pydantic,
    # requests and 9 MB of unused native extensions. The files are the same in every one
    # of its wheels, so they are taken from whichever wheel of the pinned version exists.
    "wordllama": ("wordllama/weights/", "wordllama/tokenizers/"),
}

LOCAL_ONLY = ("onnxruntime", "onnx")
"""Runtime dependencies only the local home imports (the MiniLM embedder and its quantiser;
on AWS pai embeds with Titan, or WordLlama with embedder = "local"): never installed into
the artifact."""

DATA_STUB = '''"""Data files only: pai's Lambda artifact ships this package's weights and tokenizer for
pai's own embedder, not its code (it has no arm64 wheel). Import nothing from here."""

raise ImportError("only wordllama's data files are in this package, not its code")
'''


def install_deps(deps: list[str], stage: Path, wh: Path, target: Target, tmp: Path,
                 refresh: bool, say: Callable[[str], None]) -> Path:
    report = tmp / "deps.json"
    install = ["install", "--target", str(stage), "--no-compile", "--report", str(report),
               *offline_index(wh), *target.pip_flags(), *deps]
    download = ["download", "--dest", str(wh), *target.pip_flags(), *deps]
    if not refresh:
        if run_pip(install, offline=True, target=target, action="installing dependencies",
                   check=False).returncode == 0:
            return report
        shutil.rmtree(stage, ignore_errors=True)  # a failed attempt may have left a part
    say(f"downloading wheels for {target.describe()} into {wh}")
    run_pip(download, offline=False, target=target, action="downloading dependencies")
    run_pip(install, offline=True, target=target, action="installing dependencies")
    return report


def add_data_only(req: Requirement, stage: Path, wh: Path, target: Target, refresh: bool,
                  say: Callable[[str], None]) -> str:
    """Copy a DATA_ONLY package's data folders into `stage` from any wheel of its pinned version."""
    pkg = canonicalize_name(req.name)
    pins = list(req.specifier)
    if len(pins) != 1 or pins[0].operator not in ("==", "===") or pins[0].version.endswith(".*"):
        raise PackagingError(f"{req}: a data-only dependency must be pinned with == to fix its files.")
    version = pins[0].version

    def candidates() -> list[Path]:
        found = []
        for p in wh.glob("*.whl"):
            try:
                name, ver = parse_wheel_filename(p.name)[:2]
            except InvalidWheelFilename:
                continue
            if name == pkg and ver == Version(version):
                found.append(p)
        return sorted(found)

    if refresh or not candidates():
        say(f"downloading {pkg}=={version} for its data files")
        # Its own platform's wheel if there is one, else the x86_64 one: only data is taken.
        fallback = Target(f"manylinux2014_{'x86_64' if target.arch != 'x86_64' else 'aarch64'}",
                          target.python_version, target.glibc)
        for t in (target, fallback):
            got = run_pip(["download", "--no-deps", "--dest", str(wh), *t.pip_flags(), f"{pkg}=={version}"],
                          offline=False, target=t, action=f"downloading {pkg} data", check=False)
            if got.returncode == 0:
                break
        else:
            raise pip_error(got, target, f"downloading {pkg} data")
    source = candidates()[0]
    prefixes = DATA_ONLY[pkg]
    with zipfile.ZipFile(source) as zf:
        members = [n for n in zf.namelist() if n.startswith(prefixes) and not n.endswith("/")]
        if not members:
            raise PackagingError(f"{source.name} has none of {', '.join(prefixes)}: update DATA_ONLY.")
        for n in members:
            dest = stage / n
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(n))
    top = stage / prefixes[0].split("/")[0]
    (top / "__init__.py").write_text(DATA_STUB)
    return source.name
