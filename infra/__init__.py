"""CloudFormation templates of the AWS home: security, storage, ai, compute (pai-{stack}-{env}).

Installed as the package `pai_cli.infra` (pyproject.toml maps this folder into the wheel) and
read through importlib.resources. This file makes it a regular package: setuptools' editable
installs do not find a remapped subpackage that has no __init__.py."""
