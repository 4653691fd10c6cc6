"""The one place that wires adapters into services, for a command or a Lambda container.

Each adapter is built once, on first use, so a command pays only for what it touches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pai_cli.config import ModelChoice, Settings
from pai_cli.errors import ConfigError

if TYPE_CHECKING:
    from pai_cli.backends.local.cipher import LocalCipher
    from pai_cli.backends.local.db import Database
    from pai_cli.backends.local.master_key import KeyFile
    from pai_cli.core.chat import ChatService, ChatSettings
    from pai_cli.core.memory_service import MemoryService
    from pai_cli.core.remember import WriterSettings
    from pai_cli.ports import Clock


@dataclass
class Wiring:
    """Builds each adapter once, on first use, so a command pays only for what it touches."""

    settings: Settings
    clock: Clock = field(default=time.time)
    notices: list[str] = field(default_factory=list)
    choice: ModelChoice = field(default_factory=ModelChoice)

    def __post_init__(self) -> None:
        s = self.settings
        if s.backend == "aws" and s.user_is_default and not s.in_lambda:
            # One person, one memory: the CLI on the AWS home files memories under the
            # caller's AWS identity, as the HTTP API does (api/identity.py), unless a user
            # was named (--user, PAI_USER, config.toml).
            self.settings = replace(s, user=self.aws_user(), user_is_default=False)

    def aws_user(self) -> str:
        """The pai user of the AWS credentials in use: the same mapping as the HTTP API's."""
        from pai_cli.api.identity import user_for
        from pai_cli.backends.aws.session import call
        from pai_cli.config import check_user

        sts = self.aws.client("sts")
        arn = call(lambda: sts.get_caller_identity()["Arn"], "STS", self.settings.env)
        return check_user(user_for(arn, self.settings.principal_users))

    @cached_property
    def model(self) -> Any:
        from pai_cli.wiring.models import select_model

        model, notice = select_model(self.settings, self.choice)
        if notice:
            self.notices.append(notice)
        return model

    @cached_property
    def db(self) -> Database:
        from pai_cli.backends.local.db import Database

        return Database(self.settings.db_path, self.settings.db_timeout)

    @property
    def is_aws(self) -> bool:
        return self.settings.backend == "aws"

    @property
    def is_api(self) -> bool:
        return self.settings.backend == "api"

    @cached_property
    def api(self) -> Any:
        """--backend api: the deployed HTTP API's client and the services over it."""
        from pai_cli.wiring.api import open_api

        return open_api(self)

    def _not_on_api(self, what: str) -> None:
        if self.is_api:
            from pai_cli.backends.api.client import not_served

            raise not_served(what)

    @cached_property
    def aws(self) -> Any:
        from pai_cli.backends.aws.session import Aws, resolve_region

        profile = self.choice.profile or self.settings.aws_profile
        region = resolve_region(self.choice.region or self.settings.aws_region, profile,
                                self.settings.aws_env_region)
        if not region:
            raise ConfigError("No AWS region for the AWS home: pass --region or set AWS_REGION.")
        return Aws(region, profile, endpoint_url=self.settings.aws_endpoint)

    @cached_property
    def aws_names(self) -> Any:
        from pai_cli.backends.aws.names import resolve_names

        return resolve_names(self.aws, self.settings.env, dict(self.settings.aws_names),
                             self.settings.vector_store, in_lambda=self.settings.in_lambda)

    @cached_property
    def cipher(self) -> Any:
        if self.is_aws:
            from pai_cli.backends.aws.kms_cipher import KmsCipher
            from pai_cli.backends.aws.term_index import TermIndex

            # The blinding key is kept beside the keyword postings it makes (term_index.py).
            kept = TermIndex(self.aws, self.aws_names.memories_table, self.settings.env)
            return KmsCipher(self.aws, self.aws_names.key_alias, self.settings.env, kept)
        return self.local_cipher

    @cached_property
    def local_cipher(self) -> LocalCipher:
        from pai_cli.backends.local.cipher import LocalCipher
        from pai_cli.backends.local.master_key import open_master_key

        key, notice = open_master_key(self.settings.key_path, self.db)
        if notice:
            self.notices.append(notice)
        return LocalCipher(self.db, key, str(self.settings.key_path))

    def key_file(self) -> KeyFile:
        """The local master key for `pai key`: backup, restore, path, fingerprint."""
        from pai_cli.backends.local.master_key import KeyFile

        return KeyFile(self.settings.key_path, lambda: self.db, self.notices.append)

    @cached_property
    def embedder(self) -> Any:
        if self.is_aws and self.settings.embedder in ("default", "titan"):
            from pai_cli.backends.aws.titan_embedder import TitanEmbedder

            return TitanEmbedder(self.aws, self.settings.env)
        if self.settings.embedder == "titan":
            raise ConfigError("embedder = 'titan' needs backend = 'aws' (Bedrock).")
        if self.settings.embedder == "minilm" and self.is_aws:
            raise ConfigError("embedder = 'minilm' is for the local home; on AWS use "
                              "'titan' or 'local'.")
        if not self.is_aws and self._local_embedder == "minilm":
            from pai_cli.backends.local.minilm_embedder import MiniLMEmbedder

            return MiniLMEmbedder(cache=self.settings.model_cache)
        from pai_cli.backends.local.embedder import WordLlamaEmbedder

        return WordLlamaEmbedder()

    @cached_property
    def _local_embedder(self) -> str:
        """'minilm' or 'local' (WordLlama) for the local home. The default is MiniLM, but a
        home whose memories were indexed with WordLlama (every home before MiniLM became the
        default) keeps WordLlama: the two models' vectors cannot be compared, and a search
        must not fail until the user runs a reindex (README, Embedders)."""
        choice = self.settings.embedder
        if choice in ("minilm", "local"):
            return choice
        from pai_cli.backends.local.embedder import MODEL_ID as WORDLLAMA
        from pai_cli.core.index_stamp import MODEL_KEY, model_id_of

        built = {model_id_of(str(v)) for (v,) in self.db.execute(
            "SELECT value FROM meta WHERE key LIKE ? AND value != ''",
            (MODEL_KEY + "%",)).fetchall()}
        return "local" if WORDLLAMA in built and len(built) == 1 else "minilm"

    @cached_property
    def memories(self) -> MemoryService:
        from pai_cli.core.memory_service import MemoryService, MemorySettings

        if self.is_api:
            return self.api.memories  # type: ignore[no-any-return]
        s = self.settings
        embedder: Any
        if self.is_aws:
            store, index = self._aws_memory_parts()
            embedder = self.embedder
        else:
            from pai_cli.backends.local.memory_store import SqliteMemoryStore
            from pai_cli.backends.local.vector_index import UsearchVectorIndex
            from pai_cli.wiring.lazy_embedder import LazyEmbedder

            if self._local_embedder == "minilm":
                from pai_cli.backends.local.minilm_embedder import DIM, MODEL_ID
            else:
                from pai_cli.backends.local.embedder import DIM, MODEL_ID
            store = SqliteMemoryStore(self.db)
            index = UsearchVectorIndex(self.db, s.index_dir, DIM)
            embedder = LazyEmbedder(lambda: self.embedder, MODEL_ID, DIM)
        return MemoryService(
            store=store,
            index=index,
            embedder=embedder,
            cipher=self.cipher,
            clock=self.clock,
            events=self.event_log,
            settings=MemorySettings(ttl_days=s.memory_ttl_days, default_category=s.default_category,
                                    min_score=s.min_score),
            # Locally the vectors live in the store's SQLite file: one transaction for both.
            atomic_index=not self.is_aws,
            secrets=self.secrets,
            notify=self.notices.append,
        )

    @cached_property
    def secrets(self) -> Any:
        from pai_cli.backends.secrets import SecretScanner

        return SecretScanner()

    def _aws_memory_parts(self) -> tuple[Any, Any]:
        from pai_cli.backends.aws.memory_store import DynamoMemoryStore

        names, env = self.aws_names, self.settings.env
        store = DynamoMemoryStore(self.aws, names.memories_table, names.memory_bucket, env,
                                  kms_key=names.key_arn or names.key_alias)
        return store, VECTOR_STORES[self.settings.vector_store](self)

    def _opensearch(self) -> Any:
        from pai_cli.backends.aws.opensearch_index import OpenSearchIndex

        names = self.aws_names
        if not names.opensearch_endpoint:
            raise ConfigError(
                f"No OpenSearch endpoint for collection {names.collection}: deploy with "
                "`pai deploy --vector-store opensearch` or set aws_names.opensearch_endpoint."
            )
        return OpenSearchIndex(self.aws, names.opensearch_endpoint, env=self.settings.env,
                               dim=self.embedder.dim)

    def _s3vectors(self) -> Any:
        from pai_cli.backends.aws.s3vectors_index import S3VectorsIndex

        names = self.aws_names
        return S3VectorsIndex(self.aws, names.vector_bucket, names.vector_index,
                              self.settings.env)

    @cached_property
    def conversations(self) -> Any:
        self._not_on_api("This conversations command")
        if self.is_aws:
            from pai_cli.backends.aws.conversation_store import DynamoConversationStore

            return DynamoConversationStore(self.aws, self.aws_names.conversations_table,
                                           self.settings.env)
        from pai_cli.backends.local.conversation_store import SqliteConversationStore

        return SqliteConversationStore(self.db)

    @cached_property
    def history(self) -> Any:
        from pai_cli.core.history import HistoryService

        return HistoryService(self.memories)

    @cached_property
    def event_log(self) -> Any:
        self._not_on_api("This memory history command")
        if self.is_aws:
            from pai_cli.backends.aws.event_log import DynamoEventLog

            return DynamoEventLog(self.aws, self.aws_names.memories_table, self.settings.env)
        from pai_cli.backends.local.event_log import SqliteEventLog

        return SqliteEventLog(self.db)

    @cached_property
    def usage_log(self) -> Any:
        """Token use is kept on this machine in both homes (the bill is per machine's use)."""
        from pai_cli.backends.local.usage_log import SqliteUsageLog

        return SqliteUsageLog(self.db)

    def input_history(self, user_id: str) -> Any:
        """The REPL's history, encrypted in the local store (never a plaintext file)."""
        from pai_cli.backends.local.input_history import EncryptedInputHistory

        return EncryptedInputHistory(self.db, self.cipher, user_id)

    def api_key_set(self) -> bool:
        from pai_cli.wiring.models import read_api_key

        return read_api_key(self.settings) is not None

    @cached_property
    def queue(self) -> Any:
        """The durable queue of memory jobs. On this machine it is the local SQLite file in
        both homes: it must survive the very AWS failure it exists for. In a Lambda
        container /tmp dies with it: the jobs go to SQS, and the local queue only holds
        those whose send failed until they can be sent (backends/aws/sqs_queue.py)."""
        from pai_cli.backends.local.job_queue import SqliteJobQueue

        self._not_on_api("The memory queue (the API's memory writer has its own)")
        local = SqliteJobQueue(self.db)
        if self.is_aws and self.settings.in_lambda:
            from pai_cli.backends.aws.sqs_queue import SqsJobQueue

            return SqsJobQueue(self.aws, self.settings.memory_queue_url, local,
                               self.settings.env)
        return local

    @cached_property
    def rate_limiter(self) -> Any:
        """The HTTP API's per-user limit: a token bucket per user in the storage stack's
        limits table, on Lambda only. `pai serve` answers one person on their own machine
        and has none (None: every request is admitted)."""
        s = self.settings
        if not (self.is_aws and s.in_lambda and s.limits_table and s.rate_per_minute > 0):
            return None
        from pai_cli.backends.aws.rate_limits import DynamoBucketStore
        from pai_cli.core.rate_limit import Limit, RateLimiter

        return RateLimiter(DynamoBucketStore(self.aws, s.limits_table, s.env),
                           Limit(s.rate_per_minute, s.rate_burst), self.clock)

    def queued_job(self, body: str, message_id: str, receive_count: int) -> Any:
        """The job an SQS record of the memory queue carries (the memory writer's input)."""
        from pai_cli.backends.aws.sqs_queue import decode_message

        return decode_message(body, message_id, receive_count)

    @cached_property
    def chat(self) -> ChatService:
        from pai_cli.core.chat import ChatService

        if self.is_api:
            return self.api.chat  # type: ignore[no-any-return]
        return ChatService(
            memories=self.memories,
            conversations=self.conversations,
            queue=self.queue,
            cipher=self.cipher,
            clock=self.clock,
            model=self.model,
            settings=self.chat_settings,
            usage=self.usage_log,
            writer=self.writer_settings,
            secrets=self.secrets,
        )

    @property
    def chat_settings(self) -> ChatSettings:
        from pai_cli.core.chat import ChatSettings

        s = self.settings
        return ChatSettings(
            conversation_ttl_days=s.conversation_ttl_days, recall_k=s.recall_k,
            history_messages=s.history_messages, context_tokens=s.context_tokens,
            max_tokens=s.max_tokens, allow_unasked=s.allow_model_forget,
        )

    def secrets_redactor(self) -> Any:
        """Takes secrets out of a text (core/redact.py with the scanner), for the API
        backend: before the text leaves this machine."""
        from pai_cli.core.redact import redact

        return lambda content: redact(content, self.secrets)

    @property
    def writer_settings(self) -> WriterSettings:
        from pai_cli.core.distill import DEFAULT_CATEGORIES
        from pai_cli.core.remember import WriterSettings

        extra = tuple(c for c in self.settings.memory_categories if c not in DEFAULT_CATEGORIES)
        return WriterSettings(mode=self.settings.memory_mode,
                              categories=(*DEFAULT_CATEGORIES, *extra))

    def purge_expired(self) -> None:
        """Expired rows are deleted, not only hidden; done on write commands."""
        if self.is_api:  # the server's
            return
        self.memories.purge_expired(self.settings.user)
        self.conversations.purge_expired(self.settings.user, self.clock())

    def close(self) -> None:
        if "api" in self.__dict__:
            self.api.close()
        if "db" in self.__dict__:
            self.db.close()


VECTOR_STORES = {"s3vectors": Wiring._s3vectors, "opensearch": Wiring._opensearch}
"""config.VECTOR_STORES names the choices; this maps each to its adapter (a test checks they
match)."""


# Wiring for the operations that span homes and commands; imported here so callers keep
# `from pai_cli.wiring import ...` (after Wiring is defined: they import it).
from pai_cli.wiring.aws_operations import (  # noqa: E402
    deploy_session,
    rebuild_restored_index,
    reindex_everyone,
)
from pai_cli.wiring.errors import translate_error  # noqa: E402

__all__ = ["VECTOR_STORES", "Wiring", "deploy_session", "rebuild_restored_index",
           "reindex_everyone", "translate_error"]
