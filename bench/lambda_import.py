"""Cold import time of the Lambda handler module, from the artifact as Lambda unpacks it.

    python bench/lambda_import.py [--quick] [--out DIR] [--python python3.12]

Builds the arm64 artifact (the one deployed: its sizes and build times, twice, the second
from the wheelhouse cache) and the same dependency set for this machine (x86_64, the
interpreter given by --python, default this one), unzips the latter into a temp "task"
folder and imports the handler module in fresh `python -I -S` processes with only that
folder on sys.path, as Lambda's /var/task, and `-B`: /var/task is read-only, so every cold
start compiles what it imports (the artifact ships no bytecode). Then, as a what-if, the same
with bytecode for exactly the files the handler imports. That is the module-import part of a
cold start (Lambda's own runtime bootstrap and the network are not in it). `pai_cli.api.lambda_handlers`
when it exists, else pai_cli.config and the AWS adapters. Builds go to --out (default: a
fixed temp dir, so a second run reuses its wheelhouse).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import _common as c

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pai_cli.deploy.package import LAMBDA_UNZIPPED_LIMIT, build_artifact  # noqa: E402

FALLBACK = ["pai_cli.config", "pai_cli.backends.aws.memory_store", "pai_cli.backends.aws.s3vectors_index",
            "pai_cli.backends.aws.kms_cipher", "pai_cli.backends.aws.conversation_store",
            "pai_cli.backends.aws.titan_embedder"]


def modules() -> list[str]:
    if (ROOT / "pai_cli" / "api" / "lambda_handlers.py").exists():
        return ["pai_cli.api.lambda_handlers"]
    return FALLBACK


def timed_import(python: str, task: Path, mods: list[str], env: dict) -> tuple[float, float]:
    """(import seconds measured inside the process, wall seconds of the whole process)."""
    code = (f"import sys, time; sys.path.insert(0, {str(task)!r}); t = time.perf_counter()\n"
            + "".join(f"import {m}\n" for m in mods)
            + "print(time.perf_counter() - t)")
    t0 = time.perf_counter()
    # -B: Lambda's /var/task is read-only, so no run leaves bytecode for the next cold start.
    p = subprocess.run([python, "-B", "-I", "-S", "-c", code], env=env, capture_output=True, text=True,
                       cwd=task)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"import failed:\n{p.stderr[-2000:]}")
    return float(p.stdout.strip().splitlines()[-1]), wall


def compile_closure(python: str, task: Path, mods: list[str], env: dict) -> tuple[int, int]:
    """What if the artifact shipped bytecode for what the handler imports: compile exactly those
    files (unchecked-hash pycs, as a build would) in `task`. (files, pyc bytes)."""
    code = (f"import sys, py_compile; sys.path.insert(0, {str(task)!r})\n"
            + "".join(f"import {m}\n" for m in mods)
            + "paths = [getattr(m, '__file__', None) or '' for m in list(sys.modules.values())]\n"
            + f"files = sorted({{f for f in paths if f.startswith({str(task)!r}) and f.endswith('.py')}})\n"
            "total = 0\n"
            "for f in files:\n"
            "    out = py_compile.compile(f, doraise=True,\n"
            "        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
            "    total += __import__('os').path.getsize(out)\n"
            "print(len(files), total)")
    p = subprocess.run([python, "-B", "-I", "-S", "-c", code], env={**env, "PYTHONHASHSEED": "0"},
                       capture_output=True, text=True, cwd=task)
    if p.returncode != 0:
        raise SystemExit(f"compile failed:\n{p.stderr[-2000:]}")
    n, size = p.stdout.split()
    return int(n), int(size)


def importtime(python: str, task: Path, mods: list[str], env: dict, top: int = 10) -> list[list]:
    code = f"import sys; sys.path.insert(0, {str(task)!r})\n" + "".join(f"import {m}\n" for m in mods)
    p = subprocess.run([python, "-B", "-I", "-S", "-X", "importtime", "-c", code], env=env,
                       capture_output=True, text=True, cwd=task)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _self, cum, name = line[len("import time:"):].split("|")
        # Every depth (nested rows overlap their parents), less the measured modules themselves.
        if name.strip() not in mods:
            rows.append([name.strip(), round(int(cum) / 1000, 1)])
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 imports instead of 10")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "pai-bench-lambda"))
    ap.add_argument("--python", default=sys.executable, help="interpreter for the x86_64 imports")
    a = ap.parse_args()
    runs = a.runs or (3 if a.quick else 10)
    out = Path(a.out)
    python = a.python
    ver = subprocess.run([python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
                         capture_output=True, text=True, check=True).stdout.strip()
    cached_before = (out / "wheelhouse").is_dir()
    say = c.log

    c.log(f"building the arm64 artifact in {out} ({'wheelhouse present' if cached_before else 'cold'})")
    t0 = time.perf_counter()
    arm = build_artifact(out, ROOT, progress=say)
    t1 = time.perf_counter()
    arm2 = build_artifact(out, ROOT, progress=say)
    t2 = time.perf_counter()
    c.log(f"building the x86_64 / CPython {ver} artifact")
    x86 = build_artifact(out, ROOT, platform="manylinux2014_x86_64", python_version=ver, progress=say)
    t3 = time.perf_counter()

    task = Path(tempfile.mkdtemp(prefix="pai-bench-lambda-task-"))
    with zipfile.ZipFile(x86.path) as zf:
        zf.extractall(task)
    mods = modules()
    home = tempfile.mkdtemp(prefix="pai-bench-lambda-home-")
    env = {"PATH": os.environ.get("PATH", ""), "PAI_HOME": home, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_REGION": "us-east-1", "LANG": "C.UTF-8"}
    try:
        samples = [timed_import(python, task, mods, env) for _ in range(runs)]
        top = importtime(python, task, mods, env)
        n_pyc, pyc_bytes = compile_closure(python, task, mods, env)
        with_pyc = [timed_import(python, task, mods, env)[0] for _ in range(runs)]
    finally:  # ~200 MB unzipped each run: not worth keeping
        shutil.rmtree(task, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    inner = [s[0] for s in samples]
    wall = [s[1] for s in samples]

    mb = 2**20
    c.table([
        ["arm64 (deployed)", f"{arm.size_bytes / mb:.1f}", f"{arm.unzipped_bytes / mb:.1f}", len(arm.wheels),
         f"{t1 - t0:.1f}", f"{t2 - t1:.1f}", "yes" if arm2.sha256 == arm.sha256 else "NO"],
        [f"x86_64 cp{ver.replace('.', '')}", f"{x86.size_bytes / mb:.1f}", f"{x86.unzipped_bytes / mb:.1f}",
         len(x86.wheels), f"{t3 - t2:.1f}", "", ""],
    ], ["artifact", "zipped MB", "unzipped MB", "wheels", "build s", "cached s", "same sha256"])
    print(f"\nunzipped limit {LAMBDA_UNZIPPED_LIMIT / mb:.0f} MB; wheelhouse "
          f"{'was already there' if cached_before else 'was cold'} for the first build\n")
    c.table([[", ".join(mods), runs, f"{c.pct(inner, 50) * 1000:.0f}", f"{c.pct(inner, 90) * 1000:.0f}",
              f"{inner[0] * 1000:.0f}", f"{c.pct(wall, 50) * 1000:.0f}"]],
            ["import", "runs", "p50 ms", "p90 ms", "first ms", "process p50 ms"])
    print(f"\nas shipped (no bytecode: every cold start compiles): p50 {c.pct(inner, 50) * 1000:.0f} ms; "
          f"with bytecode for the {n_pyc} files it imports ({pyc_bytes / mb:.1f} MB of .pyc, "
          f"compiled by this interpreter): p50 {c.pct(with_pyc, 50) * 1000:.0f} ms")
    print("\nimporttime: the imports with the largest cumulative time (nested ones overlap):")
    c.table([[m, ms] for m, ms in top], ["module", "cum ms"])
    print(f"load {c.load()}")
    c.emit("lambda_import", {
        "modules": mods, "runs": runs, "python": ver,
        "import_p50_s": round(c.pct(inner, 50), 4), "import_p90_s": round(c.pct(inner, 90), 4),
        "import_first_s": round(inner[0], 4), "process_p50_s": round(c.pct(wall, 50), 4),
        "import_with_pyc_p50_s": round(c.pct(with_pyc, 50), 4), "closure_files": n_pyc,
        "closure_pyc_bytes": pyc_bytes,
        "arm64_zipped_bytes": arm.size_bytes, "arm64_unzipped_bytes": arm.unzipped_bytes,
        "arm64_sha256": arm.sha256, "arm64_wheels": len(arm.wheels),
        "arm64_build_s": round(t1 - t0, 1), "arm64_cached_build_s": round(t2 - t1, 1),
        "arm64_reproducible": arm2.sha256 == arm.sha256, "wheelhouse_was_cached": cached_before,
        "x86_64_zipped_bytes": x86.size_bytes, "x86_64_unzipped_bytes": x86.unzipped_bytes,
        "importtime_top": top,
    })


if __name__ == "__main__":
    main()
