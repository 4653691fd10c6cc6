"""`pai deploy`, `pai status` and `pai destroy` as functions: options in, an outcome out.

    deploy(options, aws, confirm, on_event, on_note, reindex=...) -> DeployOutcome
    status(env, aws, drift) -> StatusOutcome
    destroy(env, aws, confirm, on_event, on_note, delete_data=...) -> DestroyOutcome

The caller (the CLI) builds the AWS session through the wiring, asks the questions
(`confirm(question) -> bool`), shows CloudFormation's stack events (`on_event`) and the
progress lines (`on_note`), and renders the outcome; for a --vector-store switch it passes
`reindex`, which fills the new store from the tables (the core's reindex, through the
wiring: deploy imports no core). Everything that talks to AWS or knows about botocore is
below this public surface: deploy_flow.py, status_flow.py and destroy_flow.py (the three
flows), deploy_parameters.py (each stack's parameters), code_upload.py (the Lambda code
into its bucket), stacks.py (CloudFormation), package.py (the Lambda artifact), data.py
(what the stacks keep), model_access.py (the account's first call to the chat model)."""

from __future__ import annotations

from pai_cli.deploy.callbacks import Confirm, OnEvent, OnNote
from pai_cli.deploy.code_upload import Package, build_in_cache
from pai_cli.deploy.deploy_flow import CheckModel, DeployOptions, DeployOutcome, Reindex, deploy
from pai_cli.deploy.deploy_parameters import GEO_PREFIXES, model_parameters, stack_parameters
from pai_cli.deploy.destroy_flow import DestroyOutcome, destroy
from pai_cli.deploy.status_flow import StatusOutcome, status

__all__ = ["GEO_PREFIXES", "CheckModel", "Confirm", "DeployOptions", "DeployOutcome",
           "DestroyOutcome", "OnEvent", "OnNote", "Package", "Reindex", "StatusOutcome",
           "build_in_cache", "deploy", "destroy", "model_parameters", "stack_parameters",
           "status"]
