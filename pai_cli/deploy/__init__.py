"""Deploying pai to AWS: the Lambda artifact and the CloudFormation stacks."""
