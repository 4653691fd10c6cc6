"""The DynamoDB tables of the AWS home, as CreateTable arguments. The storage stack's
template declares the same keys and indexes; tests create them from here."""

from __future__ import annotations

from typing import Any

from pai_cli.backends.aws.memory_store import BY_CATEGORY, BY_TIME


def conversations_table(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "user_id", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}],
    }


def memories_table(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"},
                      {"AttributeName": "memory_id", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": "memory_id", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "N"},
            {"AttributeName": "cat_time", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {"IndexName": BY_TIME, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"},
                           {"AttributeName": "created_at", "KeyType": "RANGE"}]},
            {"IndexName": BY_CATEGORY, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"},
                           {"AttributeName": "cat_time", "KeyType": "RANGE"}]},
        ],
    }


VECTOR_INDEX = {"dataType": "float32", "distanceMetric": "cosine",
                "metadataConfiguration": {"nonFilterableMetadataKeys": []}}
