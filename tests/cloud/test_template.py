"""cloud/template.yaml: cfn-lint clean, SAM translation, and the device policy vs the broker ACL."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from cloud.local import mosquitto
from cloud.local import template as sam

THING = "headset-1"
OTHER = "headset-2"


def test_cfn_lint_is_clean() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(sam.TEMPLATE_PATH)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_would_catch_a_misspelled_property(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(sam.TEMPLATE_PATH.read_text().replace("BillingMode:", "BilingMode:"))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(broken)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode & 2 and "BilingMode" in result.stdout


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return sam.translate(sam.with_artifact_uris(sam.load()), {"Stage": "dev"}, "us-east-1")


def test_sam_translation_turns_the_iot_rule_event_into_a_topic_rule(
        translated: dict[str, Any]) -> None:
    types = {name: r["Type"] for name, r in translated["Resources"].items()}
    assert types["IngestFunction"] == "AWS::Lambda::Function"
    assert "AWS::Serverless::Function" not in types.values()
    rules = sam.topic_rules(translated)
    assert list(rules) == ["IngestFunctionTelemetry"]
    assert "FROM 'anc/v1/+/telemetry'" in rules["IngestFunctionTelemetry"]["Sql"]
    permission = translated["Resources"]["IngestFunctionTelemetryPermission"]["Properties"]
    assert permission["Principal"] == "iot.amazonaws.com"
    code = translated["Resources"]["IngestFunction"]["Properties"]["Code"]
    assert code == {"S3Bucket": sam.ARTIFACT_BUCKET, "S3Key": "IngestFunction.zip"}


def test_translation_errors_name_the_problem() -> None:
    template = sam.with_artifact_uris(sam.load())
    del template["Resources"]["IngestFunction"]["Properties"]["Handler"]
    with pytest.raises(sam.TemplateError, match="IngestFunction"):
        sam.translate(template, {"Stage": "dev"}, "us-east-1")


# --- the device policy and the ACL allow exactly the same topics ---------------------------

def _policy_statements() -> list[dict[str, Any]]:
    policy = sam.load()["Resources"]["DevicePolicy"]["Properties"]["PolicyDocument"]
    statements: list[dict[str, Any]] = policy["Statement"]
    return statements


def _resource_pattern(resource: Any, thing: str) -> str:
    """The ARN pattern of a !Sub resource with this thing's name substituted."""
    text = resource["Fn::Sub"]
    text = text.replace("${!iot:Connection.Thing.ThingName}", thing)
    for name, value in (("AWS::Partition", "aws"), ("AWS::Region", "us-east-1"),
                        ("AWS::AccountId", "123456789012")):
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, text
    return text


def policy_allows(thing: str, action: str, kind: str, name: str) -> bool:
    arn = f"arn:aws:iot:us-east-1:123456789012:{kind}/{name}"
    for statement in _policy_statements():
        actions = statement["Action"] if isinstance(statement["Action"], list) \
            else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) \
            else [statement["Resource"]]
        if statement["Effect"] == "Allow" and action in actions and any(
                fnmatch.fnmatchcase(arn, _resource_pattern(r, thing)) for r in resources):
            return True
    return False


def acl_allows(thing: str, topic: str) -> bool:
    return any(mqtt.topic_matches_sub(pattern.replace("%u", thing), topic)
               for pattern in mosquitto.DEVICE_ACL_PATTERNS)


TOPICS = [
    f"anc/v1/{t}/{channel}" for t in (THING, OTHER)
    for channel in ("telemetry", "features", "events", "adapt/request", "adapt/result")
] + [
    f"$aws/things/{t}/shadow/{op}" for t in (THING, OTHER)
    for op in ("get", "update", "update/accepted", "update/delta", "delete/rejected",
               "name/eq/update")
] + ["anc/v2/headset-1/telemetry", "$aws/things/headset-1/jobs/notify", "anc/v1",
     f"anc/v1/{THING}x/telemetry"]


@pytest.mark.parametrize("topic", TOPICS)
def test_device_policy_matches_the_acl(topic: str) -> None:
    acl = acl_allows(THING, topic)
    assert policy_allows(THING, "iot:Publish", "topic", topic) == acl
    assert policy_allows(THING, "iot:Receive", "topic", topic) == acl
    assert policy_allows(THING, "iot:Subscribe", "topicfilter", topic) == acl


def test_policy_connect_only_as_own_thing_name() -> None:
    assert policy_allows(THING, "iot:Connect", "client", THING)
    assert not policy_allows(THING, "iot:Connect", "client", OTHER)
    assert not policy_allows(THING, "iot:Connect", "client", THING + "-2")


def test_own_topics_allowed_others_refused() -> None:
    assert acl_allows(THING, f"anc/v1/{THING}/telemetry")
    assert not acl_allows(THING, f"anc/v1/{OTHER}/telemetry")
    assert not acl_allows(THING, f"$aws/things/{OTHER}/shadow/update")
