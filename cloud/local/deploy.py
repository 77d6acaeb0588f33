"""Deploy the SAM template into moto and record what the emulator needs (DIR/deployment.json).

Steps: package each local code directory as a zip in moto's S3, translate SAM offline,
create the CloudFormation stack in moto, then read back table names and each function's
handler and resolved environment. Topic rules (which moto skips) are copied from the
translated template for the rule runner.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from cloud.local import template as sam

STACK_NAME = "anc-local"
DEPLOYMENT_FILE = "deployment.json"


class DeployError(RuntimeError):
    """The template could not be deployed into moto; the message says which step failed."""


@dataclass(frozen=True)
class AwsTarget:
    endpoint_url: str
    region: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _upload_code(target: AwsTarget, template: dict[str, Any], base: Path) -> dict[str, Path]:
    s3 = target.client("s3")
    s3.create_bucket(Bucket=sam.ARTIFACT_BUCKET)
    local = {}
    for logical_id, uri in sam.code_locations(template).items():
        directory = (base / uri).resolve()
        if not directory.is_dir():
            raise DeployError(f"{logical_id}: code directory {directory} does not exist")
        s3.put_object(Bucket=sam.ARTIFACT_BUCKET, Key=f"{logical_id}.zip",
                      Body=_zip_directory(directory))
        local[logical_id] = directory
    return local


def _wait_for_stack(cfn: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        status = stack["StackStatus"]
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
            return
        if status.endswith("FAILED") or "ROLLBACK" in status:
            events = cfn.describe_stack_events(StackName=STACK_NAME)["StackEvents"]
            reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
                       for e in events if "FAILED" in e.get("ResourceStatus", "")]
            raise DeployError(f"stack {STACK_NAME} ended in {status}: {'; '.join(reasons)}")
        time.sleep(0.2)
    raise DeployError(f"stack {STACK_NAME} not complete after {timeout:.0f} s")


def deploy(target: AwsTarget, directory: Path, stage: str = "dev",
           template_path: Path = sam.TEMPLATE_PATH) -> dict[str, Any]:
    """Deploy into moto and write DIR/deployment.json; return its content."""
    source = sam.load(template_path)
    code_dirs = _upload_code(target, source, template_path.parent)
    translated = sam.translate(sam.with_artifact_uris(source), {"Stage": stage}, target.region)
    cfn = target.client("cloudformation")
    cfn.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    _wait_for_stack(cfn)
    resources = cfn.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
    # Resources moto skips (topic rules, alarms) have no physical id.
    created = [r for r in resources if r.get("PhysicalResourceId")]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in created}
    tables = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in created
              if r["ResourceType"] == "AWS::DynamoDB::Table"}
    lambda_client = target.client("lambda")
    functions = {}
    for logical_id, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        if logical_id not in physical:
            raise DeployError(f"function {logical_id} was not created by the stack")
        config = lambda_client.get_function_configuration(FunctionName=physical[logical_id])
        functions[logical_id] = {
            "function_name": config["FunctionName"],
            "function_arn": config["FunctionArn"],
            "handler": config["Handler"],
            "code_dir": str(code_dirs[logical_id]),
            "environment": config.get("Environment", {}).get("Variables", {}),
            "timeout_s": config.get("Timeout", 3),
            "memory_mb": config.get("MemorySize", 128),
        }
    deployment = {
        "stack_name": STACK_NAME,
        "stage": stage,
        "region": target.region,
        "template": str(template_path),
        "tables": tables,
        "functions": functions,
        "topic_rules": sam.topic_rules(translated),
    }
    (directory / DEPLOYMENT_FILE).write_text(json.dumps(deployment, indent=2))
    return deployment
