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

M004_PER_USER_IDS = """
CREATE TABLE memories_v4 (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
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
INSERT INTO memories_v4 SELECT rowid, id, user_id, content, category, created_at, updated_at,
    expires_at, pinned, source_conversation, source_message FROM memories;
DROP TABLE memories;
ALTER TABLE memories_v4 RENAME TO memories;
CREATE UNIQUE INDEX memories_user_id ON memories (user_id, id);
CREATE INDEX memories_user_time ON memories (user_id, created_at);
CREATE INDEX memories_user_category_time ON memories (user_id, category, created_at);
CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE vectors_v4 (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    category TEXT NOT NULL,
    vec BLOB NOT NULL
);
INSERT INTO vectors_v4 SELECT key, memory_id, user_id, category, vec FROM vectors;
DROP TABLE vectors;
ALTER TABLE vectors_v4 RENAME TO vectors;
CREATE UNIQUE INDEX vectors_user_memory ON vectors (user_id, memory_id);
CREATE INDEX vectors_user_key ON vectors (user_id, key);
CREATE TABLE vector_tombstones (
    user_id TEXT NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
DROP TABLE vector_deletes;
"""
"""Memory ids are unique per user, not across users (importing one user's export as another
user must not be skipped); the side index tracks deleted keys one by one, so compaction can
remove exactly them."""

M005_MEMORY_THAT_LEARNS = """
ALTER TABLE memories ADD COLUMN origin TEXT NOT NULL DEFAULT 'user';
ALTER TABLE memories ADD COLUMN importance INTEGER;
ALTER TABLE memories ADD COLUMN valid_from REAL;
ALTER TABLE memories ADD COLUMN valid_to REAL;
ALTER TABLE memories ADD COLUMN superseded_by TEXT;
ALTER TABLE memories ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE memories ADD COLUMN sources TEXT NOT NULL DEFAULT '[]';
ALTER TABLE memories ADD COLUMN conflicts_with TEXT;
ALTER TABLE memories ADD COLUMN processed INTEGER NOT NULL DEFAULT 1;
UPDATE memories SET origin = 'message', processed = 0,
    sources = json_array(source_message)
    WHERE source_message IS NOT NULL AND category = 'conversation' AND pinned = 0;
CREATE INDEX memories_user_status_time ON memories (user_id, status, created_at);
CREATE TABLE memory_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    memory_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    at REAL NOT NULL,
    batch TEXT,
    sources TEXT NOT NULL DEFAULT '[]',
    model TEXT,
    before BLOB,
    after BLOB,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX memory_events_user_id ON memory_events (user_id, id);
CREATE INDEX memory_events_user_memory ON memory_events (user_id, memory_id, seq);
CREATE INDEX memory_events_user_time ON memory_events (user_id, at);
CREATE INDEX memory_events_user_batch ON memory_events (user_id, batch);
ALTER TABLE jobs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN next_at REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN parked_at REAL;
ALTER TABLE jobs ADD COLUMN last_error TEXT;
ALTER TABLE usage ADD COLUMN purpose TEXT NOT NULL DEFAULT 'chat';
"""
"""Memories that learn (issue 13): facts with a life (origin, validity, state, sources),
their history as events, and a queue whose failing jobs back off and are parked. Messages
that earlier versions kept verbatim from chat become the backlog `pai memory distill` works
through."""

M006_SEVERAL_VECTORS = """
DROP INDEX vectors_user_memory;
CREATE INDEX vectors_user_memory ON vectors (user_id, memory_id);
"""
"""A memory may hold several vectors: its whole text's and one per piece (core/pieces.py).
Memories indexed before keep their one vector until `pai memory reindex`."""

MIGRATIONS: list[tuple[str, str]] = [
    ("001_initial", M001_INITIAL),
    ("002_usage", M002_USAGE),
    ("003_term_vocab", M003_TERM_VOCAB),
    ("004_per_user_ids", M004_PER_USER_IDS),
    ("005_memory_that_learns", M005_MEMORY_THAT_LEARNS),
    ("006_several_vectors", M006_SEVERAL_VECTORS),
]
