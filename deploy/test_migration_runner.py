"""Tests of the migration custom resource's inline Python (MigrationRunnerFunction.InlineCode in
template.yaml), with boto3, botocore and cfnresponse replaced by fakes. No AWS access.

    python deploy/test_migration_runner.py [deploy/template.yaml]
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
import types

TEMPLATE = sys.argv[1] if len(sys.argv) > 1 else "deploy/template.yaml"
ZIPFILE_LIMIT = 4096  # CloudFormation's limit for Code.ZipFile


def inline_code() -> str:
    text = open(TEMPLATE, encoding="utf-8").read()
    start = text.index("      InlineCode: |\n")
    end = text.index("\n  SchemaMigration:", start)
    return textwrap.dedent(text[start:end].split("\n", 1)[1])


class FakeLambda:
    def __init__(self, results):
        self.results = list(results)
        self.calls = []

    def invoke(self, **kwargs):
        self.calls.append(kwargs)
        error, body = self.results.pop(0)
        answer = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
        if error:
            answer["FunctionError"] = "Unhandled"
        return answer


class FakeCfn:
    def __init__(self, status="UPDATE_IN_PROGRESS"):
        self.status = status

    def describe_stacks(self, StackName):
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status}]}


class Context:
    def __init__(self, remaining_ms=900_000):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self):
        return self.remaining_ms


def load_module(lambda_client, cfn_client):
    sent = []
    fake_boto3 = types.ModuleType("boto3")
    fake_boto3.client = lambda name, **kw: {"lambda": lambda_client, "cloudformation": cfn_client}[name]
    fake_botocore = types.ModuleType("botocore")
    fake_config = types.ModuleType("botocore.config")
    fake_config.Config = lambda **kw: kw
    fake_botocore.config = fake_config
    fake_cfnresponse = types.ModuleType("cfnresponse")
    fake_cfnresponse.SUCCESS, fake_cfnresponse.FAILED = "SUCCESS", "FAILED"

    def send(event, context, status, data, physical_id=None, noEcho=False, reason=None):
        sent.append({"status": status, "data": data, "physical_id": physical_id, "reason": reason})

    fake_cfnresponse.send = send
    sys.modules.update(
        {"boto3": fake_boto3, "botocore": fake_botocore, "botocore.config": fake_config, "cfnresponse": fake_cfnresponse}
    )
    module = types.ModuleType("index")
    exec(compile(inline_code(), "index.py", "exec"), module.__dict__)
    module.time = types.SimpleNamespace(sleep=lambda seconds: None)
    return module, sent


def event(kind):
    return {
        "RequestType": kind,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/navigator/1",
        "ResourceProperties": {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:migrate:7"},
    }


def test_fits_in_zipfile():
    assert len(inline_code().encode()) <= ZIPFILE_LIMIT


def test_create_runs_migrations_and_reports_them():
    lam = FakeLambda([(False, {"applied": ["0001_init", "0002_calls"]})])
    module, sent = load_module(lam, FakeCfn())
    module.handler(event("Create"), Context())
    assert [c["FunctionName"] for c in lam.calls] == ["arn:aws:lambda:us-east-1:123456789012:function:migrate:7"]
    assert lam.calls[0]["InvocationType"] == "RequestResponse"
    assert sent == [
        {"status": "SUCCESS", "data": {"Applied": "0001_init,0002_calls"}, "physical_id": "navigator-schema-migrations", "reason": None}
    ]


def test_update_with_nothing_to_apply_succeeds():
    module, sent = load_module(FakeLambda([(False, {"applied": []})]), FakeCfn())
    module.handler(event("Update"), Context())
    assert sent[0]["status"] == "SUCCESS" and sent[0]["data"] == {"Applied": "none"}


def test_delete_does_not_invoke():
    lam = FakeLambda([])
    module, sent = load_module(lam, FakeCfn())
    module.handler(event("Delete"), Context())
    assert lam.calls == [] and sent[0]["status"] == "SUCCESS"


def test_rollback_does_not_migrate():
    lam = FakeLambda([])
    module, sent = load_module(lam, FakeCfn("UPDATE_ROLLBACK_IN_PROGRESS"))
    module.handler(event("Update"), Context())
    assert lam.calls == [] and sent[0]["status"] == "SUCCESS"
    assert "forward-only" in sent[0]["data"]["Applied"]


def test_transient_failure_is_retried():
    lam = FakeLambda([(True, {"errorMessage": "connection refused"}), (False, {"applied": ["0001_init"]})])
    module, sent = load_module(lam, FakeCfn())
    module.handler(event("Create"), Context())
    assert len(lam.calls) == 2 and sent[0]["status"] == "SUCCESS"


def test_persistent_failure_fails_the_deploy_with_the_reason():
    lam = FakeLambda([(True, {"errorMessage": "relation already exists"})] * 6)
    module, sent = load_module(lam, FakeCfn())
    module.handler(event("Create"), Context())
    assert len(lam.calls) == 6
    assert sent[0]["status"] == "FAILED" and "relation already exists" in sent[0]["reason"]


def test_stops_trying_when_out_of_time():
    lam = FakeLambda([])
    module, sent = load_module(lam, FakeCfn())
    module.handler(event("Create"), Context(remaining_ms=60_000))
    assert lam.calls == [] and sent[0]["status"] == "FAILED"


def test_unexpected_error_is_reported_not_raised():
    module, sent = load_module(FakeLambda([]), FakeCfn())
    module.handler({"RequestType": "Create", "StackId": "x", "ResourceProperties": {}}, Context())
    assert sent[0]["status"] == "FAILED" and "FunctionArn" in sent[0]["reason"]


if __name__ == "__main__":
    tests = [(name, fn) for name, fn in sorted(globals().items()) if name.startswith("test_")]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok   {name}")
        except Exception as exc:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}: {exc!r}")
    print(f"migration-runner: {len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
