"""CloudFormation templates of the AWS home: security, storage, ai, compute (pai-{stack}-{env})."""
