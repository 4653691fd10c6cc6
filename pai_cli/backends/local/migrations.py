"""Ordered schema migrations; each applied name is recorded in the `migrations` table."""

from __future__ import annotations

M001_INITIAL = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE data_keys (
            user_id TEXT NOT NULL,
            purpose TEXT NOT NULL,
            wrapped BLOB NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (user_id, purpose)
        );
        CREATE TABLE memories (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            content BLOB NOT NULL,
            category TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            expires_at REAL,
            pinned INTEGER NOT NULL DEFAULT 0,
            source_conversation TEXT,
            source_message TEXT
        );
        CREATE INDEX memories_user_time ON memories (user_id, created_at);
        CREATE INDEX memories_user_category_time ON memories (user_id, category, created_at);
        CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
        -- Terms are keyed hashes (see cipher.blind): the index holds no readable words.
        CREATE VIRTUAL TABLE memory_terms USING fts5 (terms, tokenize = 'ascii');
        CREATE TABLE vectors (
            key INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            category TEXT NOT NULL,
            vec BLOB NOT NULL
        );
        CREATE INDEX vectors_user_key ON vectors (user_id, key);
        CREATE TABLE vector_deletes (user_id TEXT PRIMARY KEY, n INTEGER NOT NULL);
        CREATE TABLE messages (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            role TEXT NOT NULL,
            content BLOB NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX messages_conversation ON messages (user_id, conversation_id, created_at);
        CREATE INDEX messages_user_time ON messages (user_id, created_at);
        CREATE INDEX messages_expiry ON messages (expires_at);
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX jobs_user ON jobs (user_id, id);
        CREATE TABLE input_history (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            entry BLOB NOT NULL
        );
CREATE INDEX input_history_user ON input_history (user_id, id);
"""


M002_USAGE = """
CREATE TABLE usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd REAL,
    created_at REAL NOT NULL
);
CREATE INDEX usage_user_time ON usage (user_id, created_at);
"""

M003_TERM_VOCAB = """
CREATE VIRTUAL TABLE memory_terms_vocab USING fts5vocab(memory_terms, 'row');
"""

MIGRATIONS: list[tuple[str, str]] = [
    ("001_initial", M001_INITIAL),
    ("002_usage", M002_USAGE),
    ("003_term_vocab", M003_TERM_VOCAB),
]
