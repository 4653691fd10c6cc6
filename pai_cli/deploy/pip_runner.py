"""pip as a subprocess (pip is the one resolver that knows wheel tags; we never import
it): offline from the wheelhouse first, online only to fill it, and pip's failures read
into one line saying what to do."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pai_cli.deploy.lambda_target import Target
from pai_cli.errors import BackendError


class PackagingError(BackendError):
    """The artifact could not be built: pip failed, or it would not fit in Lambda."""


def run_pip(args: list[str], *, offline: bool, target: Target | None, action: str,
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
        raise pip_error(proc, target, action)
    return proc


def offline_then_online(install: list[str], download: list[str], *, target: Target | None,
                        action: str, refresh: bool, say: Callable[[str], None]) -> None:
    """Run `install` from the wheelhouse; if it cannot, fill the wheelhouse and run it again."""
    if not refresh:
        if run_pip(install, offline=True, target=target, action=action, check=False).returncode == 0:
            return
    say(f"downloading wheels ({action})")
    run_pip(download, offline=False, target=target, action=action)
    run_pip(install, offline=True, target=target, action=action)


_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution"
    r"|Name or service not known|Network is unreachable|ConnectTimeout|ReadTimeout|ProxyError"
    r"|SSLError|Max retries exceeded|connection broken", re.I)


def pip_error(proc: subprocess.CompletedProcess[str], target: Target | None, action: str) -> PackagingError:
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


def offline_index(wh: Path) -> list[str]:
    # --ignore-requires-python: pip before 24 checks a local wheel's Requires-Python against
    # the interpreter running pip, not --python-version (so numpy for 3.12 "needs a different
    # Python" under 3.11). `pip download` did check it against the target when it chose the
    # wheel, and `wh` holds that one version's choices only.
    return ["--no-index", "--find-links", str(wh), "--ignore-requires-python"]


def report_wheels(report: Path) -> list[str]:
    data = json.loads(report.read_text())
    names = []
    for item in data.get("install", []):
        url = item.get("download_info", {}).get("url", "")
        names.append(unquote(Path(urlsplit(url).path).name))
    return names
