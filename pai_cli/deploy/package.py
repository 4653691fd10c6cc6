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
3. Data-only dependencies (`DATA_ONLY`): pai reads files from them, never imports them.
4. Strip what Lambda never reads, check Lambda's 250 MB unzipped limit, zip with sorted
   entries and fixed timestamps so the same inputs give the same sha256.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from pai_cli.errors import BackendError

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
"""Lambda's cap on a function's unzipped code plus its layers (262,144,000 bytes)."""

LAMBDA_GLIBC = (2, 34)
"""glibc of the python3.12 runtime (Amazon Linux 2023). manylinux2014 (glibc 2.17) alone
is too narrow: usearch publishes arm64 wheels only as manylinux_2_28, so every
manylinux_2_N tag up to the runtime's glibc is accepted too."""

DATA_ONLY: dict[str, tuple[str, ...]] = {
    # pai's local embedder reads these two folders (weights, tokenizer) and never imports
    # wordllama: 0.4.0.post1 publishes no arm64 wheel, and its code would pull in pydantic,
    # requests and 9 MB of unused native extensions. The files are the same in every one
    # of its wheels, so they are taken from whichever wheel of the pinned version exists.
    "wordllama": ("wordllama/weights/", "wordllama/tokenizers/"),
}

UNUSED: dict[str, tuple[str, ...]] = {
    # Native code that arrives as a dependency of a dependency and that nothing pai runs
    # imports (28 MB of the ~205 MB, margin under Lambda's limit): opensearch-py requires
    # opensearch-protobufs, which requires grpcio for a gRPC transport opensearch-py does
    # not use; tokenizers requires huggingface-hub, which uses hf-xet only to download from
    # the Hub (pai loads its tokenizer from a file). Their dist-info goes too, so a package
    # probing with importlib.metadata sees them absent rather than broken.
    "grpcio": ("grpc",),
    "hf-xet": ("hf_xet",),
}

TESTS_DROPPABLE = ("numpy",)
"""Packages whose `tests` folders nothing imports at run time (numpy.testing stays)."""

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
ZIP_LEVEL = 6  # fixed: the level is part of the bytes, so of the sha256
WHEELHOUSE = "wheelhouse"
OWN_WHEEL = "own"  # under WHEELHOUSE: pai_cli's wheel, by the digest of its sources

_DATA_STUB = '''"""Data files only: pai's Lambda artifact ships this package's weights and tokenizer for
pai's own embedder, not its code (it has no arm64 wheel). Import nothing from here."""

raise ImportError("only wordllama's data files are in this package, not its code")
'''


class PackagingError(BackendError):
    """The artifact could not be built: pip failed, or it would not fit in Lambda."""


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


@dataclass(frozen=True)
class Target:
    platform: str
    python_version: str
    glibc: tuple[int, int] = LAMBDA_GLIBC

    @property
    def arch(self) -> str:
        # A platform tag as given to pip (not a wheel's name): manylinux_2_28_x86_64 -> x86_64.
        m = re.fullmatch(r"(?:many|musl)linux(?:1|2010|2014|_\d+_\d+)_(\w+)", self.platform)
        return m[1] if m else self.platform.rsplit("_", 1)[-1]

    @property
    def cp(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    def platforms(self) -> list[str]:
        if not re.fullmatch(r"manylinux(?:2014|_2_17)_\w+", self.platform):
            return [self.platform]
        major, top = self.glibc
        return [self.platform] + [f"manylinux_{major}_{minor}_{self.arch}" for minor in range(top, 16, -1)]

    def pip_flags(self) -> list[str]:
        flags: list[str] = []
        for p in self.platforms():
            flags += ["--platform", p]
        return flags + ["--python-version", self.python_version, "--implementation", "cp",
                        "--abi", self.cp, "--only-binary=:all:"]

    def describe(self) -> str:
        return f"{self.platform} (glibc <= {self.glibc[0]}.{self.glibc[1]}), CPython {self.python_version}"

    def marker_environment(self) -> dict[str, str]:
        """What PEP 508 markers see on the target (pip's --platform does not change them)."""
        return {"python_version": self.python_version, "python_full_version": f"{self.python_version}.0",
                "implementation_name": "cpython", "platform_python_implementation": "CPython",
                "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                "platform_machine": self.arch, "extra": ""}


def wheel_tags_ok(wheels: list[str], platform_tag: str = "manylinux", arch: str = "aarch64") -> list[str]:
    """The offending wheel filenames: each must be pure Python (`-any.whl`) or have every one
    of its platform tags be `{platform_tag}..._{arch}` (so never x86_64 for arm64)."""
    bad = []
    for w in wheels:
        try:
            tags = parse_wheel_filename(Path(w).name)[3]
        except InvalidWheelFilename:
            bad.append(w)
            continue
        plats = {t.platform for t in tags}
        if plats == {"any"}:
            continue
        if not all(p.startswith(platform_tag) and p.endswith("_" + arch) for p in plats):
            bad.append(w)
    return bad


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
        own = _build_own_wheel(root, build_wh, wh, tmp, refresh, say)
        name, version, reqs = _requirements(own, target)
        data_reqs = [r for r in reqs if canonicalize_name(r.name) in DATA_ONLY]
        deps = [str(r) for r in reqs if canonicalize_name(r.name) not in DATA_ONLY]
        deps += list(extra_requirements)

        stage = tmp / "stage"
        say(f"installing {len(deps)} dependencies for {target.describe()}")
        report = _install_deps(deps, stage, wh, target, tmp, refresh, say)
        # By name from the wheelhouse, not by path: a path install writes direct_url.json with
        # the temp dir in it, and the zip's bytes would differ on every build.
        _pip(["install", "--target", str(stage), "--no-deps", "--no-compile", "--report",
              str(tmp / "own.json"), *_offline_index(wh), *target.pip_flags(), f"{name}=={version}"],
             offline=True, target=target, action=f"installing {name}")
        wheels = sorted(set(_report_wheels(report) + _report_wheels(tmp / "own.json")))
        data_from = [_add_data_only(r, stage, wh, target, refresh, say) for r in data_reqs]

        bad = wheel_tags_ok(wheels, arch=target.arch)
        if bad:  # pip filters by tag, so this is a guard against a wheelhouse tampered by hand
            raise PackagingError(f"wheels not built for {target.describe()}: {', '.join(bad)}")

        _strip(stage)
        unzipped = _tree_bytes(stage)
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
            unzipped = _tree_bytes(stage)
        if unzipped > LAMBDA_UNZIPPED_LIMIT:
            raise PackagingError(
                f"The Lambda package unzips to {unzipped / 2**20:.1f} MB, over Lambda's "
                f"{LAMBDA_UNZIPPED_LIMIT / 2**20:.0f} MB limit: drop a dependency or ship a container image."
            )

        zip_path = out_dir / f"pai-lambda-{target.platform}-{target.cp}.zip"
        say(f"zipping {unzipped / 2**20:.1f} MB into {zip_path.name}")
        _zip_tree(stage, zip_path, tmp)
    digest = hashlib.sha256()
    with zip_path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return Artifact(zip_path, digest.hexdigest(), zip_path.stat().st_size, unzipped, wheels,
                    data_from, dropped, wh)


# --- pip ---------------------------------------------------------------------------------

def _pip(args: list[str], *, offline: bool, target: Target | None, action: str,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if offline:
        # An offline step reads our wheelhouse and nothing else: a user's or machine's pip
        # config (find-links, extra indexes, constraints) would otherwise add wheels to the
        # candidates and make the artifact depend on that machine.
        env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-m", "pip", *args], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise _pip_error(proc, target, action)
    return proc


def _offline_then_online(install: list[str], download: list[str], *, target: Target | None,
                         action: str, refresh: bool, say: Callable[[str], None]) -> None:
    """Run `install` from the wheelhouse; if it cannot, fill the wheelhouse and run it again."""
    if not refresh:
        if _pip(install, offline=True, target=target, action=action, check=False).returncode == 0:
            return
    say(f"downloading wheels ({action})")
    _pip(download, offline=False, target=target, action=action)
    _pip(install, offline=True, target=target, action=action)


_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution"
    r"|Name or service not known|Network is unreachable|ConnectTimeout|ReadTimeout|ProxyError"
    r"|SSLError|Max retries exceeded|connection broken", re.I)


def _pip_error(proc: subprocess.CompletedProcess[str], target: Target | None, action: str) -> PackagingError:
    out = (proc.stderr or "") + "\n" + (proc.stdout or "")
    tail = [line for line in out.splitlines() if line.strip()][-15:]
    where = f" for {target.describe()}" if target else ""
    missing = re.search(r"No matching distribution found for (\S+)", out)
    wanted = re.search(r"satisfies the requirement (\S+)", out)
    pkg = (missing or wanted)[1] if (missing or wanted) else None
    if _NETWORK.search(out):
        m = re.search(r"/simple/([^/\s]+)/", out)
        pkg = pkg or (m[1] if m else "the dependencies")
        msg = (f"pip could not reach the package index to get {pkg} ({action}): check the network "
               f"or proxy and deploy again (wheels already downloaded are reused).")
    elif missing:
        msg = (f"pip found no binary wheel of {pkg}{where} ({action}; no such release, or none built "
               f"for that platform): pin a version of it that publishes one, or drop it.")
    elif "ResolutionImpossible" in out or "conflicting dependencies" in out:
        conflict = next((ln.strip() for ln in out.splitlines()
                         if "requested" in ln or "depends on" in ln), "")
        msg = f"pip found no versions that fit together{where} ({conflict}): relax one of the pins."
    else:
        last = next((ln for ln in reversed(tail) if ln.startswith("ERROR:")), tail[-1] if tail else "")
        msg = f"pip failed while {action}: {last.removeprefix('ERROR:').strip()}"
    return PackagingError(" ".join(msg.split()), details=tail)


def _offline_index(wh: Path) -> list[str]:
    # --ignore-requires-python: pip before 24 checks a local wheel's Requires-Python against
    # the interpreter running pip, not --python-version (so numpy for 3.12 "needs a different
    # Python" under 3.11). `pip download` did check it against the target when it chose the
    # wheel, and `wh` holds that one version's choices only.
    return ["--no-index", "--find-links", str(wh), "--ignore-requires-python"]


def _report_wheels(report: Path) -> list[str]:
    data = json.loads(report.read_text())
    names = []
    for item in data.get("install", []):
        url = item.get("download_info", {}).get("url", "")
        names.append(unquote(Path(urlsplit(url).path).name))
    return names


# --- steps -------------------------------------------------------------------------------

def _build_own_wheel(root: Path, build_wh: Path, wh: Path, tmp: Path, refresh: bool,
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
        _offline_then_online(
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


def _requirements(wheel: Path, target: Target) -> tuple[str, str, list[Requirement]]:
    """(name, version, runtime requirements) from a wheel's METADATA: those whose markers
    hold on the target, so no extras."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.HeaderParser().parsestr(zf.read(meta).decode("utf-8"))
    env = target.marker_environment()
    reqs = [Requirement(r) for r in msg.get_all("Requires-Dist") or []]
    return msg["Name"], msg["Version"], [r for r in reqs if r.marker is None or r.marker.evaluate(env)]


def _install_deps(deps: list[str], stage: Path, wh: Path, target: Target, tmp: Path,
                  refresh: bool, say: Callable[[str], None]) -> Path:
    report = tmp / "deps.json"
    install = ["install", "--target", str(stage), "--no-compile", "--report", str(report),
               *_offline_index(wh), *target.pip_flags(), *deps]
    download = ["download", "--dest", str(wh), *target.pip_flags(), *deps]
    if not refresh:
        if _pip(install, offline=True, target=target, action="installing dependencies",
                check=False).returncode == 0:
            return report
        shutil.rmtree(stage, ignore_errors=True)  # a failed attempt may have left a part
    say(f"downloading wheels for {target.describe()} into {wh}")
    _pip(download, offline=False, target=target, action="downloading dependencies")
    _pip(install, offline=True, target=target, action="installing dependencies")
    return report


def _add_data_only(req: Requirement, stage: Path, wh: Path, target: Target, refresh: bool,
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
            got = _pip(["download", "--no-deps", "--dest", str(wh), *t.pip_flags(), f"{pkg}=={version}"],
                       offline=False, target=t, action=f"downloading {pkg} data", check=False)
            if got.returncode == 0:
                break
        else:
            raise _pip_error(got, target, f"downloading {pkg} data")
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
    (top / "__init__.py").write_text(_DATA_STUB)
    return source.name


def _strip(stage: Path) -> None:
    for dist, packages in UNUSED.items():
        for pkg in packages:
            shutil.rmtree(stage / pkg, ignore_errors=True)
        for info in stage.glob("*.dist-info"):
            meta = info / "METADATA"
            name = email.parser.HeaderParser().parsestr(meta.read_text("utf-8"))["Name"] \
                if meta.is_file() else ""
            if name and canonicalize_name(name) == dist:
                shutil.rmtree(info)
    # Console scripts carry this machine's interpreter in their shebang: useless in Lambda.
    shutil.rmtree(stage / "bin", ignore_errors=True)
    # Bytecode of the build interpreter (pip may compile despite --no-compile for some
    # packages) does not match the runtime's magic number, and Lambda cannot write it.
    for d in sorted(stage.rglob("__pycache__"), reverse=True):
        shutil.rmtree(d, ignore_errors=True)
    for f in stage.rglob("*.py[co]"):
        f.unlink()
    for pkg in TESTS_DROPPABLE:
        for d in sorted((stage / pkg).rglob("tests"), reverse=True):
            if d.is_dir():
                shutil.rmtree(d)


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _zip_tree(root: Path, zip_path: Path, tmp: Path) -> None:
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    part = tmp / (zip_path.name + ".part")
    with zipfile.ZipFile(part, "w", allowZip64=True) as zf:
        for arc, p in files:
            info = zipfile.ZipInfo(arc, date_time=ZIP_TIME)
            info.create_system = 3  # unix, so external_attr's permission bits are honoured
            mode = 0o755 if p.stat().st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, p.read_bytes(), compresslevel=ZIP_LEVEL)
    os.replace(part, zip_path)
