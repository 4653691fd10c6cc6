"""The stage made into the zip: what Lambda never reads stripped, then every file zipped
with sorted entries and fixed timestamps, so the same inputs give the same sha256."""

from __future__ import annotations

import email.parser
import os
import shutil
import stat
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name

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

LOCAL_ONLY_DATA = ("pai_cli/models/minilm",)
"""Folders of pai's own wheel that only the local home reads (the MiniLM model, 45 MB;
dependencies.LOCAL_ONLY keeps its runtime out)."""

TESTS_DROPPABLE = ("numpy",)
"""Packages whose `tests` folders nothing imports at run time (numpy.testing stays)."""

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
ZIP_LEVEL = 6  # fixed: the level is part of the bytes, so of the sha256


def strip_unused(stage: Path) -> None:
    for dist, packages in UNUSED.items():
        for pkg in packages:
            shutil.rmtree(stage / pkg, ignore_errors=True)
        for info in stage.glob("*.dist-info"):
            meta = info / "METADATA"
            name = email.parser.HeaderParser().parsestr(meta.read_text("utf-8"))["Name"] \
                if meta.is_file() else ""
            if name and canonicalize_name(name) == dist:
                shutil.rmtree(info)
    for folder in LOCAL_ONLY_DATA:
        shutil.rmtree(stage / folder, ignore_errors=True)
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


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def zip_tree(root: Path, zip_path: Path, tmp: Path) -> None:
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
