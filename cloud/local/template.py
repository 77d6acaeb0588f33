"""Reading the SAM template offline: YAML with CloudFormation tags, and SAM translation.

The translated template is plain CloudFormation: every IoTRule event has become an
`AWS::IoT::TopicRule`, which moto skips and the emulator's rule runner executes.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "template.yaml"
# Local code locations are replaced by objects in this (moto) bucket before translation.
ARTIFACT_BUCKET = "anc-local-artifacts"
_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri",
                    "AWS::Serverless::LayerVersion": "ContentUri"}


class TemplateError(ValueError):
    """The template cannot be read or translated; the message names the resource or tag."""


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref x` into {"Ref": x} and `!Sub s` into {"Fn::Sub": s}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    try:
        document = yaml.load(Path(path).read_text(), Loader=_CfnLoader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path}: a template needs a Resources mapping")
    return document


def code_locations(template: dict[str, Any]) -> dict[str, str]:
    """Logical id → local code directory (relative to the template) of each function/layer."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        prop = _CODE_PROPERTIES.get(resource.get("Type", ""))
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            found[logical_id] = uri
    return found


def with_artifact_uris(template: dict[str, Any]) -> dict[str, Any]:
    """A copy whose local CodeUri/ContentUri point at `s3://ARTIFACT_BUCKET/<logical id>.zip`."""
    result = copy.deepcopy(template)
    for logical_id in code_locations(template):
        resource = result["Resources"][logical_id]
        resource["Properties"][_CODE_PROPERTIES[resource["Type"]]] = (
            f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip")
    return result


class _NoManagedPolicies:
    """Offline stand-in for IAM's managed-policy listing (only SAM policy templates are used)."""

    def load(self) -> dict[str, str]:
        return {}


def translate(template: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """SAM → CloudFormation, offline. `template` must already use s3:// code locations."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    try:
        return transform(template, parameters, _NoManagedPolicies())
    except InvalidDocumentException as exc:
        messages = "; ".join(str(cause) for cause in exc.causes)
        raise TemplateError(f"SAM translation failed: {messages}") from exc


def topic_rules(translated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id → TopicRulePayload of every AWS::IoT::TopicRule in a translated template."""
    rules = {}
    for logical_id, resource in translated.get("Resources", {}).items():
        if resource.get("Type") == "AWS::IoT::TopicRule":
            payload = resource.get("Properties", {}).get("TopicRulePayload")
            if not isinstance(payload, dict):
                raise TemplateError(f"topic rule {logical_id}: TopicRulePayload is missing")
            rules[logical_id] = payload
    return rules
