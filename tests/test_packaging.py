"""The Lambda artifact: arm64 wheels only, what pai imports is inside, the same inputs give
the same bytes, and the same dependency set built for this machine imports cleanly; pai's
own wheel carries every module and the templates.

The builds (fixtures `arm64` and `x86_64` in conftest.py) share one out dir kept in pytest's
cache between runs: the index is asked only for wheels the wheelhouse lacks, and pai_cli's
wheel is rebuilt only when its sources change. The terminal summary prints their times.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import Builds

from pai_cli.backends.aws.names import STACKS
from pai_cli.deploy.package import (
    LAMBDA_UNZIPPED_LIMIT,
    WHEELHOUSE,
    Artifact,
    PackagingError,
    build_artifact,
    wheel_tags_ok,
)

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "pai_cli" / "api" / "lambda_handlers.py"

# What the AWS home imports at run time; the handler module only once it exists (it is
# being written beside this file).
IMPORTS = ["pai_cli.config", "pai_cli.backends.aws.memory_store", "pai_cli.backends.aws.s3vectors_index",
           "pai_cli.backends.aws.kms_cipher", "pai_cli.backends.aws.titan_embedder",
           "pai_cli.backends.aws.opensearch_index", "boto3", "botocore.session", "numpy",
           "cryptography.hazmat.primitives.ciphers.aead", "opensearchpy", "httpx", "typer", "rich",
           "prompt_toolkit", "platformdirs", "usearch.index", "tokenizers", "safetensors.numpy",
           "snowballstemmer"]
if HANDLERS.exists():
    IMPORTS.append("pai_cli.api.lambda_handlers")


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PAI_HOME"] = str(tmp / "home")
    return env


def test_arm64_artifact_has_only_arm64_wheels_and_what_pai_imports(arm64: Builds) -> None:
    art = arm64.first
    assert art.path.is_file() and art.size_bytes == art.path.stat().st_size
    assert wheel_tags_ok(art.wheels) == []
    assert any(w.startswith("pai_cli-") for w in art.wheels)
    assert any(w.startswith("numpy-") and "aarch64" in w for w in art.wheels)
    with zipfile.ZipFile(art.path) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    top = {n.split("/", 1)[0] + ("/" if "/" in n else "") for n in names}
    assert "pai_cli/__init__.py" in names
    for pkg in ("boto3/", "botocore/", "numpy/", "cryptography/", "usearch/", "tokenizers/",
                "opensearchpy/", "typer/", "rich/", "prompt_toolkit/", "platformdirs/"):
        assert pkg in top, pkg
    # The local embedder's data (wordllama has no arm64 wheel: data only, no code).
    assert "wordllama/weights/l2_supercat_256.safetensors" in names
    assert "wordllama/tokenizers/l2_supercat_tokenizer_config.json" in names
    assert not any(n.startswith("wordllama/") and n.endswith(".so") for n in names)
    # MiniLM is for the local home only: neither its model, onnxruntime nor onnx is carried.
    assert not any(n.startswith(("pai_cli/models/minilm/", "onnxruntime/", "onnx/"))
                   for n in names)
    # Native code for this machine must not leak in, nor bytecode of the build interpreter.
    assert not any("x86_64" in n for n in names if n.endswith(".so"))
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert names == sorted(names) and {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert sum(i.file_size for i in infos) == art.unzipped_bytes <= LAMBDA_UNZIPPED_LIMIT


def test_rebuild_from_the_cache_gives_the_same_bytes(arm64: Builds) -> None:
    assert arm64.second.sha256 == arm64.first.sha256
    assert arm64.second.wheels == arm64.first.wheels
    assert arm64.first.wheelhouse == arm64.out / WHEELHOUSE / "cp312"
    assert all((arm64.first.wheelhouse / w).is_file() for w in arm64.first.wheels)


def test_the_wheel_carries_every_module_and_the_four_templates(arm64: Builds) -> None:
    """pai_cli's wheel, as `pip wheel --no-deps` built it for the artifact (what pipx
    installs): pyproject lists the packages by hand, so a new one must not be left out, and
    the templates come from infra/ at the top."""
    own = [w for w in arm64.first.wheels if w.startswith("pai_cli-")]
    assert len(own) == 1
    with zipfile.ZipFile(arm64.first.wheelhouse / own[0]) as zf:
        names = set(zf.namelist())
        for stack in STACKS:
            inside = zf.read(f"pai_cli/infra/{stack}.yaml")
            assert inside == (ROOT / "infra" / f"{stack}.yaml").read_bytes(), stack
        # The default embedder's model ships in the wheel: nothing is downloaded at run time.
        for name in ("model.onnx", "tokenizer.json", "LICENSE"):
            assert zf.read(f"pai_cli/models/minilm/{name}") == (
                ROOT / "pai_cli" / "models" / "minilm" / name).read_bytes(), name
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pai_cli").rglob("*.py")}
    assert modules - names == set()
    assert not any(n.startswith(("infra/", "tests/", "bench/")) for n in names)


def test_templates_are_read_from_infra_in_this_install() -> None:
    # An editable install (the test venv) maps pai_cli.infra to infra/ as the wheel does.
    from pai_cli.deploy.stacks import template

    for stack in STACKS:
        assert template(stack) == (ROOT / "infra" / f"{stack}.yaml").read_text("utf-8")


def test_x86_64_build_imports_from_the_zip_and_in_a_fresh_venv(x86_64: Artifact, tmp_path: Path) -> None:
    assert wheel_tags_ok(x86_64.wheels, arch="x86_64") == []
    env = _clean_env(tmp_path)
    code = "\n".join(f"import {m}" for m in IMPORTS)

    # As Lambda runs it: the unzipped artifact first on sys.path, no site-packages at all.
    task = tmp_path / "task"
    with zipfile.ZipFile(x86_64.path) as zf:
        zf.extractall(task)
    lambda_like = (f"import sys; sys.path.insert(0, {str(task)!r})\n{code}\n"
                   "from pai_cli.backends.local.embedder import WordLlamaEmbedder\n"
                   "assert WordLlamaEmbedder().embed(['the bike key']).shape == (1, 256)\n"
                   f"import pai_cli; assert pai_cli.__file__.startswith({str(task)!r})\n")
    r = subprocess.run([sys.executable, "-S", "-c", lambda_like], env=env, capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]

    # A fresh venv given exactly the artifact's wheels (--no-deps: the same set, not a new
    # resolution; wordllama is data-only in the artifact, so pip must not go looking for it).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    py = venv / "bin" / "python"
    assert x86_64.wheelhouse is not None
    wheels = [str(x86_64.wheelhouse / w) for w in x86_64.wheels]
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        *wheels], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # Installed from the wheel, as pipx does: the templates come through importlib.resources.
    in_venv = (f"\nimport pai_cli; assert pai_cli.__file__.startswith({str(venv)!r})"
               "\nfrom pai_cli.deploy.stacks import template"
               f"\nassert all('AWSTemplateFormatVersion' in template(s) for s in {STACKS!r})")
    r = subprocess.run([str(py), "-c", code + in_venv],
                       env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize(("wheel", "ok"), [
    ("numpy-2.2.6-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", True),
    ("usearch-2.26.6-cp312-cp312-manylinux_2_26_aarch64.manylinux_2_28_aarch64.whl", True),
    ("cryptography-46.0.1-cp311-abi3-manylinux_2_34_aarch64.whl", True),
    ("boto3-1.40.0-py3-none-any.whl", True),
    ("six-1.17.0-py2.py3-none-any.whl", True),
    ("numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", False),
    ("wordllama-0.4.0.post1-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", False),
    ("usearch-2.26.6-cp312-cp312-musllinux_1_2_aarch64.whl", False),
    ("numpy-2.2.6-cp312-cp312-macosx_14_0_arm64.whl", False),
    ("numpy-2.2.6-cp312-cp312-linux_aarch64.whl", False),
    ("mixed-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux_2_17_x86_64.whl", False),
    ("numpy-2.2.6.tar.gz", False),
])
def test_wheel_tags_ok(wheel: str, ok: bool) -> None:
    assert wheel_tags_ok([wheel]) == ([] if ok else [wheel])


def test_wheel_tags_ok_keeps_order_and_takes_another_arch() -> None:
    x86 = "numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    arm = "numpy-2.2.6-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    assert wheel_tags_ok([x86, "a-1-py3-none-any.whl", arm, x86]) == [x86, x86]
    assert wheel_tags_ok([x86, arm], arch="x86_64") == [arm]


def test_a_package_pip_cannot_get_is_a_one_line_error(arm64: Builds) -> None:
    # Reuses the session's wheelhouse: only the bogus name goes to the index.
    with pytest.raises(PackagingError) as exc:
        build_artifact(arm64.out, ROOT, extra_requirements=["pai-no-such-package-zq9"])
    msg = exc.value.message
    assert "\n" not in msg and "pai-no-such-package-zq9" in msg and "manylinux2014_aarch64" in msg
    assert exc.value.details  # pip's own last lines, for --debug


def test_no_network_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An index on a closed loopback port: refused at once, like a machine that is offline.
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")
    with pytest.raises(PackagingError) as exc:
        build_artifact(tmp_path / "out", ROOT)
    msg = exc.value.message
    assert "\n" not in msg and "could not reach the package index" in msg


def test_over_the_unzipped_limit_names_the_size(arm64: Builds, monkeypatch: pytest.MonkeyPatch) -> None:
    import pai_cli.deploy.package as package

    monkeypatch.setattr(package, "LAMBDA_UNZIPPED_LIMIT", 10 * 2**20)
    with pytest.raises(PackagingError) as exc:
        build_artifact(arm64.out, ROOT)
    msg = exc.value.message
    assert "\n" not in msg and "10 MB limit" in msg
    measured = re.search(r"unzips to ([\d.]+) MB", msg)
    # Measured after leaving out the embedder's data, the last thing given up before failing.
    assert measured and 100 < float(measured[1]) < arm64.first.unzipped_bytes / 2**20
