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
    "defaults": {},
    "image-existing-vpc": {
        "PackageType": "Image",
        "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/navigator:1",
        "Architecture": "arm64",
        "ParametersSecretsExtensionLayerArn": (
            "arn:aws:lambda:us-east-1:177933569100:layer:"
            "AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:19"
        ),
        "ExistingVpcId": "vpc-0123456789abcdef0",
        "ExistingPrivateSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
        "JwtIssuer": "https://issuer.example.org",
        "JwtAudience": "navigator-portal",
        "CorsAllowedOrigins": "https://portal.example.org",
        "ReservedConcurrency": "50",
        "DeletionProtection": "false",
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
    from samtranslator.parser import parser
    from samtranslator.translator.translator import Translator

    template = load(path)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://example-bucket/navigator.zip"  # what `sam package` uploads
    managed = {
        name: f"arn:aws:iam::aws:policy/service-role/{name}"
        for name in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole", "AWSXrayWriteOnlyAccess")
    }
    parameters = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
    for key, spec in template.get("Parameters", {}).items():
        if "Default" in spec:
            parameters[key] = spec["Default"]
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result = Translator(None, parser.Parser()).translate(
        sam_template=template, parameter_values=parameters, get_managed_policy_map=lambda: managed
    )
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{out}: {len(result['Resources'])} CloudFormation resources")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("variants", "transform"):
        raise SystemExit(__doc__)
    {"variants": variants, "transform": transform}[sys.argv[1]](sys.argv[2], sys.argv[3])
