"""The HTTP API: one resolver for Lambda (API Gateway HTTP API v2 events) and `pai serve`."""
