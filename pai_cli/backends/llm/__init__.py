"""Chat model adapters: Bedrock (Converse/ConverseStream) and OpenAI-compatible servers."""
