"""The agent's logic: records, memory service, retrieval, the chat turn. No SDK imports."""
