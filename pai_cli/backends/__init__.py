"""Adapters behind the ports: local/ (the embedded home)."""
