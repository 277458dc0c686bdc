"""Checks of the SAM-transformed template (what CloudFormation deploys), run by deploy/check.sh:

  python test_template.py TRANSFORMED.json...

- Preflights reach the function without a token: every path of the REST API that takes a
  browser's cross-origin request has an OPTIONS operation with no authorizer, and those are the
  only unauthenticated operations besides the public ones.
- Every other operation names the Cognito authorizer.
- The API invokes the function through its alias (gradual deployments shift the alias).
"""

from __future__ import annotations

import json
import sys

PUBLIC = {
    ("/v1/intake-submissions", "post"),
    ("/health", "get"),
    ("/ready", "get"),
    ("/openapi.json", "get"),
    ("/docs", "get"),
    ("/docs/{proxy+}", "get"),
}
PREFLIGHT_PATHS = {"/{proxy+}", "/v1/intake-submissions"}


def rest_api_body(template: dict) -> dict:
    apis = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert len(apis) == 1, f"one REST API, not {len(apis)}"
    return apis[0]["Properties"]["Body"]


def check(path: str) -> None:
    template = json.load(open(path))
    body = rest_api_body(template)
    operations = {
        (route, method): operation
        for route, item in body["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    for route in PREFLIGHT_PATHS:
        options = operations.get((route, "options"))
        assert options is not None, f"{path}: no OPTIONS on {route}"
        assert not options.get("security"), f"{path}: the preflight on {route} needs a token"
        assert options["x-amazon-apigateway-integration"]["type"] == "aws_proxy", route
    for key, operation in operations.items():
        anonymous = key in PUBLIC or (key[1] == "options" and key[0] in PREFLIGHT_PATHS)
        security = operation.get("security")
        if anonymous:
            assert not security, f"{path}: {key} should be public"
        else:
            assert security == [{"CognitoUserPool": []}], f"{path}: {key} has no authorizer"
        uri = json.dumps(operation["x-amazon-apigateway-integration"]["uri"])
        assert "Aliaslive" in uri, f"{path}: {key} does not invoke the alias: {uri}"
    schemes = body["components"]["securitySchemes"]
    assert schemes["CognitoUserPool"]["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    print(f"template-test: {path}: {len(operations)} operations; preflights public, the rest authorized")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for argument in sys.argv[1:]:
        check(argument)
