"""A home made of the in-memory port fakes: the real core services over FakeDb."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fakes.ports import (
    FakeCipher,
    FakeConversationStore,
    FakeDb,
    FakeEmbedder,
    FakeEventLog,
    FakeMemoryStore,
    FakeQueue,
    FakeUsageLog,
    FakeVectorIndex,
)
from pai_cli.backends.secrets import SecretScanner
from pai_cli.core.chat import ChatService, ChatSettings
from pai_cli.core.memory_service import MemoryService, MemorySettings


@dataclass
class FakeHome:
    clock: Any = time.time
    model: Any = None
    embedder: Any = None
    """Default: FakeEmbedder (instant, words only). Pass a real one where ranking by meaning
    is what a test checks."""
    chat_settings: ChatSettings = field(default_factory=ChatSettings)
    memory_settings: MemorySettings = field(default_factory=MemorySettings)
    secrets: Any = field(default_factory=SecretScanner)
    """The real detector: pure computation, and what the redaction tests are about."""

    def __post_init__(self) -> None:
        self.db = FakeDb()
        self.cipher = FakeCipher()
        self.embedder = self.embedder or FakeEmbedder()
        self.events = FakeEventLog(self.db)
        self.memories = MemoryService(
            FakeMemoryStore(self.db), FakeVectorIndex(self.db), self.embedder, self.cipher,
            self.clock, self.events, self.memory_settings, atomic_index=True,
            secrets=self.secrets)
        self.queue = FakeQueue(self.db)
        self.usage = FakeUsageLog(self.db)
        self.conversations = FakeConversationStore(self.db)
        self.chat = ChatService(self.memories, self.conversations, self.queue, self.cipher,
                                self.clock, self.model, self.chat_settings, self.usage,
                                secrets=self.secrets)

    def close(self) -> None:
        """Nothing to release: the home lives in memory."""
