"""What the Lambda runtime runs, as pip sees it: the target's platform tags (every
manylinux_2_N up to the runtime's glibc), its PEP 508 markers, and the check that every
wheel of an artifact was built for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

LAMBDA_GLIBC = (2, 34)
"""glibc of the python3.12 runtime (Amazon Linux 2023). manylinux2014 (glibc 2.17) alone
is too narrow: usearch publishes arm64 wheels only as manylinux_2_28, so every
manylinux_2_N tag up to the runtime's glibc is accepted too."""


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
