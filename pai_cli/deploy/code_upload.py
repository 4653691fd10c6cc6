"""The Lambda code of a deploy: the artifact built in the user's cache dir (where the
wheelhouse is kept) and put in the security stack's artifact bucket under its hash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pai_cli.backends.aws.session import Aws, call
from pai_cli.deploy.callbacks import OnNote
from pai_cli.deploy.package import Artifact
from pai_cli.errors import ConfigError

Package = Callable[[OnNote], Artifact]
"""Builds (or finds in its cache) the Lambda artifact, reporting progress."""


def build_in_cache(on_note: OnNote) -> Artifact:
    """The Lambda artifact, built in the user's cache dir, where the wheelhouse is kept."""
    from platformdirs import user_cache_dir

    from pai_cli.deploy.package import build_artifact

    return build_artifact(Path(user_cache_dir("pai", appauthor=False)) / "lambda-build",
                          progress=on_note)


def upload_code(aws: Aws, deployed: dict[str, str], dry_run: bool, package: Package,
                on_note: OnNote) -> str:
    """Build the Lambda artifact (cached) and put it in the artifact bucket; the key names
    the artifact's hash, so an unchanged build is an unchanged stack."""
    on_note("Packaging the Lambda code for arm64 (cached after the first build)...")
    artifact = package(on_note)
    key = f"lambda/pai-{artifact.sha256[:20]}.zip"
    on_note(f"Artifact {artifact.size_bytes / 1e6:.1f} MB zipped, "
            f"{artifact.unzipped_bytes / 1e6:.1f} MB unzipped -> {key}")
    if dry_run:
        return key
    bucket = deployed.get("ArtifactBucketName")
    if not bucket:
        raise ConfigError("The security stack has no ArtifactBucketName output: redeploy it.")
    from botocore.exceptions import ClientError

    s3 = aws.client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        call(lambda: s3.upload_file(str(artifact.path), bucket, key), f"S3 bucket {bucket}")
    return key
