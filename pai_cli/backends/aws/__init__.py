"""The AWS home: DynamoDB, S3, KMS, S3 Vectors or OpenSearch Serverless, Bedrock."""
