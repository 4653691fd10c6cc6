"""--auth cognito in the templates, read as data (moto ignores Cognito's properties and
ApiGatewayV2): the user pool and the CLI's app client in the security stack, their outputs,
and the compute stack's JWT authorizer on every route for both jwt and cognito. cfn-lint
runs on every template in test_infra_templates.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

INFRA = Path(__file__).resolve().parent.parent / "infra"


def load(stack: str) -> dict[str, Any]:
    return yaml.safe_load((INFRA / f"{stack}.yaml").read_text())


def test_the_user_pool_is_made_only_for_cognito_with_optional_mfa_and_aws_password_policy() -> None:
    tpl = load("security")
    assert tpl["Parameters"]["AuthMode"] == {
        "Type": "String", "Description": tpl["Parameters"]["AuthMode"]["Description"],
        "AllowedValues": ["iam", "jwt", "cognito"], "Default": "iam"}
    assert tpl["Conditions"]["UseCognito"] == {"Fn::Equals": [{"Ref": "AuthMode"}, "cognito"]}
    pool = tpl["Resources"]["UserPool"]
    assert pool["Type"] == "AWS::Cognito::UserPool" and pool["Condition"] == "UseCognito"
    # Users are their pool's subjects: the pool outlives a destroy or an --auth switch.
    assert pool["DeletionPolicy"] == "RetainExceptOnCreate"
    assert pool["UpdateReplacePolicy"] == "Retain"
    props = pool["Properties"]
    assert props["MfaConfiguration"] == "OPTIONAL"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 8, "RequireLowercase": True, "RequireUppercase": True,
        "RequireNumbers": True, "RequireSymbols": True, "TemporaryPasswordValidityDays": 7}
    assert props["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert props["UsernameConfiguration"] == {"CaseSensitive": False}
    assert props["AccountRecoverySetting"]["RecoveryMechanisms"][0]["Name"] == "verified_email"


def test_the_cli_client_is_public_srp_only_and_revocable() -> None:
    client = load("security")["Resources"]["UserPoolClient"]
    assert client["Type"] == "AWS::Cognito::UserPoolClient"
    assert client["Condition"] == "UseCognito"
    props = client["Properties"]
    assert props["UserPoolId"] == {"Ref": "UserPool"}
    assert props["GenerateSecret"] is False  # a secret in a CLI is no secret
    assert props["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["EnableTokenRevocation"] is True
    assert (props["AccessTokenValidity"], props["TokenValidityUnits"]["AccessToken"]) == (60, "minutes")
    assert (props["RefreshTokenValidity"], props["TokenValidityUnits"]["RefreshToken"]) == (30, "days")
    assert "AllowedOAuthFlows" not in props  # no hosted UI, no implicit grant


def test_the_pool_is_exported_for_the_compute_stack() -> None:
    outputs = load("security")["Outputs"]
    for name in ("UserPoolId", "UserPoolClientId", "UserPoolIssuer"):
        assert outputs[name]["Condition"] == "UseCognito"
        assert outputs[name]["Export"]["Name"] == {"Fn::Sub": f"pai-${{Env}}-{name}"}
    assert outputs["UserPoolIssuer"]["Value"] == {
        "Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"}
    assert outputs["UserPoolClientId"]["Value"] == {"Ref": "UserPoolClient"}


def test_every_route_takes_the_jwt_authorizer_for_cognito() -> None:
    tpl = load("compute")
    assert tpl["Parameters"]["AuthMode"]["AllowedValues"] == ["iam", "jwt", "cognito"]
    use_jwt = tpl["Conditions"]["UseJwt"]["Fn::Or"]
    assert {"Fn::Equals": [{"Ref": "AuthMode"}, "cognito"]} in use_jwt
    rule = tpl["Rules"]["JwtNeedsIssuerAndAudience"]["RuleCondition"]["Fn::Or"]
    assert {"Fn::Equals": [{"Ref": "AuthMode"}, "cognito"]} in rule
    authorizer = tpl["Resources"]["JwtAuthorizer"]
    assert authorizer["Condition"] == "UseJwt"
    assert authorizer["Properties"]["IdentitySource"] == ["$request.header.Authorization"]
    config = authorizer["Properties"]["JwtConfiguration"]
    assert config["Issuer"] == {"Ref": "JwtIssuer"}
    assert config["Audience"] == {"Fn::Split": [",", {"Ref": "JwtAudience"}]}
    routes = [r for r in tpl["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route"]
    assert len(routes) == 7
    for route in routes:
        assert route["Properties"]["AuthorizationType"] == {"Fn::If": ["UseJwt", "JWT", "AWS_IAM"]}
        assert route["Properties"]["AuthorizerId"]["Fn::If"][1] == {"Ref": "JwtAuthorizer"}
    assert tpl["Outputs"]["ApiAuthMode"]["Value"] == {"Ref": "AuthMode"}

