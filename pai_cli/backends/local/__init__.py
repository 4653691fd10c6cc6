"""The embedded local home: SQLite, a side vector index, a packaged embedder, a key file."""
