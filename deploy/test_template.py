"""Checks of the SAM-transformed template (what CloudFormation deploys), run by deploy/check.sh:

  python test_template.py TRANSFORMED.json...

- Preflights reach the function without a token: every path of the REST API that takes a
  browser's cross-origin request has an OPTIONS operation with no authorizer, and those are the
  only unauthenticated operations besides the public ones.
- Every other operation names the Cognito authorizer.
- The API invokes the function through its alias (gradual deployments shift the alias), named by
  the stage variable `function`.
- The console (/console, /console/{proxy+}) loads without a token, and signs staff in through a
  Cognito hosted UI domain and an app client on the authorization-code flow (PKCE: a public
  client, no secret, no implicit flow) that returns to the console on this API's stage; the
  API function's environment names that domain and client under the variables the code reads
  (src/http/console.rs).
"""

from __future__ import annotations

import json
import os
import re
import sys

PUBLIC = {
    ("/v1/intake-submissions", "post"),
    ("/health", "get"),
    ("/ready", "get"),
    ("/openapi.json", "get"),
    ("/docs", "get"),
    ("/docs/{proxy+}", "get"),
    ("/console", "get"),
    ("/console/{proxy+}", "get"),
}
CONSOLE_ROUTES = {("/console", "get"), ("/console/{proxy+}", "get")}
CONSOLE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "http", "console.rs")
PREFLIGHT_PATHS = {"/{proxy+}", "/v1/intake-submissions"}


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def rest_api_body(template: dict) -> dict:
    apis = list(of_type(template, "AWS::ApiGateway::RestApi").values())
    assert len(apis) == 1, f"one REST API, not {len(apis)}"
    return apis[0]["Properties"]["Body"]


def refs(value) -> set[str]:
    """The logical ids a value refers to (Ref, GetAtt, and names in Sub strings)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= set(re.findall(r"\$\{([A-Za-z0-9]+)[}.]", text))
                found |= refs(inner[1] if isinstance(inner, list) else None)
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def console_variables() -> tuple[str, str]:
    """The names of the variables the console's sign-in reads, from its source."""
    source = open(CONSOLE_SOURCE).read()
    names = dict(re.findall(r'pub const (COGNITO_[A-Z_]+_VAR): &str = "([A-Z_]+)";', source))
    return names["COGNITO_DOMAIN_VAR"], names["COGNITO_CLIENT_VAR"]


def check_console(path: str, template: dict, operations: dict) -> None:
    for key in CONSOLE_ROUTES:
        assert key in operations, f"{path}: no route {key} for the console"
        assert not operations[key].get("security"), f"{path}: the console's {key} requires a token"
    domains = of_type(template, "AWS::Cognito::UserPoolDomain")
    assert len(domains) == 1, f"{path}: one hosted UI domain, not {len(domains)}"
    clients = {
        name: r["Properties"]
        for name, r in of_type(template, "AWS::Cognito::UserPoolClient").items()
        if any("/console/" in json.dumps(url) for url in r["Properties"].get("CallbackURLs", []))
    }
    assert len(clients) == 1, f"{path}: one app client returns to the console, not {sorted(clients)}"
    [(client_name, client)] = clients.items()
    assert client.get("AllowedOAuthFlowsUserPoolClient") is True, f"{path}: {client_name} has no OAuth"
    assert client.get("AllowedOAuthFlows") == ["code"], f"{path}: {client_name} must allow the code flow only"
    assert client.get("GenerateSecret") is False, f"{path}: {client_name} must be public (PKCE, no secret)"
    assert "openid" in client.get("AllowedOAuthScopes", []), f"{path}: {client_name} has no openid scope"
    for url in client["CallbackURLs"] + client.get("LogoutURLs", []):
        text = json.dumps(url)
        assert text.startswith('{"Fn::Sub": "https://') and text.endswith('/console/"}'), text
        assert refs(url) >= {"RestApi"}, f"{path}: {client_name} returns to another API: {text}"
    functions = {
        name: r["Properties"].get("Environment", {}).get("Variables", {})
        for name, r in of_type(template, "AWS::Lambda::Function").items()
    }
    api = {name: env for name, env in functions.items() if env.get("NAVIGATOR_LAMBDA_MODE", "api") == "api"
           and "NAVIGATOR_AUTH" in env}
    assert api, f"{path}: no API function"
    domain_var, client_var = console_variables()
    [domain_name] = domains
    for name, env in api.items():
        assert domain_name in refs(env.get(domain_var)), f"{path}: {name}'s {domain_var} is not the hosted UI"
        assert client_name in refs(env.get(client_var)), f"{path}: {name}'s {client_var} is not {client_name}"


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
        # (the Sub escape `${!...}` leaves `${stageVariables.function}` for API Gateway)
        assert ":function:${!stageVariables.function}/invocations" in uri, f"{path}: {key} invokes {uri}"
    stages = of_type(template, "AWS::ApiGateway::Stage")
    assert len(stages) == 1, f"{path}: one stage, not {len(stages)}"
    function = json.dumps(next(iter(stages.values()))["Properties"]["Variables"]["function"])
    assert "Aliaslive" in function, f"{path}: the stage's function is not the live alias: {function}"
    schemes = body["components"]["securitySchemes"]
    assert schemes["CognitoUserPool"]["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    check_console(path, template, operations)
    print(f"template-test: {path}: {len(operations)} operations; preflights and the console public, "
          "the rest authorized; the console's client on the code flow")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for argument in sys.argv[1:]:
        check(argument)
