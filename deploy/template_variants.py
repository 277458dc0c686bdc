"""Offline helpers for deploy/check.sh (run with the tools' virtualenv python).

  python template_variants.py variants TEMPLATE OUTDIR
      Writes the template as JSON once per parameter variant (the defaults changed), so that
      cfn-lint and checkov, which evaluate conditions with the parameter defaults, also see the
      resources that only exist with PackageType=Image, an existing VPC, etc.

  python template_variants.py transform TEMPLATE OUT.json
      Runs the AWS SAM transform (aws-sam-translator, the library CloudFormation's
      AWS::Serverless-2016-10-31 transform is built from) the way `sam package` + CloudFormation
      would, with local CodeUri replaced by an S3 placeholder, and writes the CloudFormation JSON.
      cfn-lint >= 1.x only validates SAM resources against schemas; this catches transform errors.
"""

from __future__ import annotations

import copy
import json
import os
import sys

VARIANTS: dict[str, dict[str, str]] = {
    # dev as samconfig.toml deploys it: Zip, arm64, single-AZ, all at once.
    "defaults": {},
    # prod as samconfig.toml deploys it.
    "prod": {
        "Stage": "prod",
        "MultiAz": "true",
        "DeploymentType": "Canary10Percent5Minutes",
        "ReservedConcurrency": "50",
        "AlarmTopicArn": "arn:aws:sns:eu-central-1:123456789012:on-call",
        "CorsAllowedOrigins": "https://portal.example.org,https://staff.example.org",
    },
    # The container image on x86_64 in an existing VPC.
    "image-x86-existing-vpc": {
        "PackageType": "Image",
        "ImageUri": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/navigator:1",
        "Architecture": "x86_64",
        "ParametersSecretsExtensionLayerArn": (
            "arn:aws:lambda:eu-central-1:187925254637:layer:"
            "AWS-Parameters-and-Secrets-Lambda-Extension:17"
        ),
        "ExistingVpcId": "vpc-0123456789abcdef0",
        "ExistingPrivateSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    },
    "logs-endpoint": {"CreateLogsVpcEndpoint": "true"},
}


def load(path: str) -> dict:
    from cfnlint.decode import decode

    template, matches = decode(path)
    if matches:
        raise SystemExit(f"cannot parse {path}: {matches}")
    # Round-trip through JSON to drop cfn-lint's node classes.
    return json.loads(json.dumps(template))


def variants(path: str, outdir: str) -> None:
    base = load(path)
    os.makedirs(outdir, exist_ok=True)
    for name, overrides in VARIANTS.items():
        template = copy.deepcopy(base)
        for key, value in overrides.items():
            template["Parameters"][key]["Default"] = value
        with open(os.path.join(outdir, f"{name}.json"), "w") as f:
            json.dump(template, f, indent=1)
        print(os.path.join(outdir, f"{name}.json"))


def transform(path: str, out: str) -> None:
    import logging

    logging.disable(logging.WARNING)  # the translator's feature-toggle notices
    from samtranslator.parser import parser
    from samtranslator.translator.translator import Translator

    template = load(path)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://example-bucket/navigator.zip"  # what `sam package` uploads
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            props["ContentUri"] = "s3://example-bucket/layer.zip"
    managed = {
        name: f"arn:aws:iam::aws:policy/service-role/{name}"
        for name in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole", "AWSXrayWriteOnlyAccess")
    }
    parameters = {"AWS::Region": "eu-central-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
    for key, spec in template.get("Parameters", {}).items():
        if "Default" in spec:
            parameters[key] = spec["Default"]
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
    result = Translator(None, parser.Parser()).translate(
        sam_template=template, parameter_values=parameters, get_managed_policy_map=lambda: managed
    )
    carry_api_metadata(template, result)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{out}: {len(result['Resources'])} CloudFormation resources")


def carry_api_metadata(template: dict, result: dict) -> None:
    """SAM copies a function's Metadata to the AWS::Lambda::Function it makes, but not an API's to
    the stage it makes, where the stage's settings are: the skips written (with their reasons) on
    an AWS::Serverless::Api in the template apply to its generated AWS::ApiGateway::Stage too."""
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Api" or "Metadata" not in resource:
            continue
        for generated in result["Resources"].values():
            if generated.get("Type") == "AWS::ApiGateway::Stage" and generated["Properties"].get("RestApiId") == {"Ref": name}:
                generated.setdefault("Metadata", {}).update(resource["Metadata"])


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("variants", "transform"):
        raise SystemExit(__doc__)
    {"variants": variants, "transform": transform}[sys.argv[1]](sys.argv[2], sys.argv[3])
