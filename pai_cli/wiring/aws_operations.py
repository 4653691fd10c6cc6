"""The AWS home wired for what `pai deploy`, `pai restore`, `status`, `destroy` and `logs`
do beyond one command's services: re-embedding every user's memories after a vector-store
switch or a restore, and the session they act with."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pai_cli.config import ModelChoice
from pai_cli.errors import ConfigError
from pai_cli.wiring import Wiring


def reindex_everyone(env: str, vector_store: str, profile: str | None, region: str | None,
                     on_note: Any) -> int:
    """Every user's memories of the AWS home re-embedded into `vector_store` (what `pai
    deploy` runs when --vector-store changes); returns how many memories."""
    from pai_cli.config import load_settings

    w = Wiring(load_settings(None, backend="aws", env=env, vector_store=vector_store),
               choice=ModelChoice(profile=profile, region=region))
    try:
        total = 0
        for user_id in w.memories.store.user_ids():
            n = w.memories.reindex(user_id)
            on_note(f"  {user_id}: {n} memories")
            total += n
        return total
    finally:
        w.close()


def rebuild_restored_index(env: str, tables: dict[str, str], vector_store: str,
                           previous_memories: str, profile: str | None, region: str | None,
                           on_note: Any) -> dict[str, tuple[int, int]]:
    """`pai restore`'s index step: every user's memories in the restored tables re-embedded
    into the vector store (reindex also drops the vectors of memories the restored table
    does not hold), and the vectors of users the old table had but the restored one has not
    deleted. Returns per user (memories reindexed, vectors the index holds after)."""
    from pai_cli.config import load_settings

    settings = load_settings(None, backend="aws", env=env, vector_store=vector_store)
    settings = replace(settings, aws_names={**settings.aws_names, **tables})
    w = Wiring(settings, choice=ModelChoice(profile=profile, region=region))
    try:
        found: dict[str, tuple[int, int]] = {}
        users = w.memories.store.user_ids()
        for user_id in users:
            n = w.memories.reindex(user_id)
            vectors = sum(1 for _ in w.memories.index.keys_of(user_id))
            on_note(f"  {user_id}: {n} memories, {vectors} vectors")
            found[user_id] = (n, vectors)
        if previous_memories and previous_memories != tables.get("memories_table"):
            from pai_cli.backends.aws.memory_store import DynamoMemoryStore

            names = w.aws_names
            before = DynamoMemoryStore(w.aws, previous_memories, names.memory_bucket, env,
                                       kms_key=names.key_arn or names.key_alias)
            for user_id in sorted(set(before.user_ids()) - set(users)):
                w.memories.index.delete_user(user_id)
                on_note(f"  {user_id}: not in the restored table, vectors removed")
        return found
    finally:
        w.close()


def deploy_session(profile: str | None, region: str | None) -> Any:
    """The AWS session `pai deploy`, `status` and `destroy` act with: the flags and the
    standard AWS chain only (a deploy names its environment; it reads no home settings)."""
    from pai_cli.backends.aws.session import Aws, resolve_region
    from pai_cli.config import read_environment

    env = read_environment()
    chosen = resolve_region(region, profile, env["aws_env_region"])
    if not chosen:
        raise ConfigError("No AWS region: pass --region or set AWS_REGION.")
    return Aws(chosen, profile, endpoint_url=env["aws_endpoint"])
