"""template.yaml as `sam deploy` hands it to CloudFormation: the SAM translator's output, with the
code location `sam package` would put there. The deploy rehearsal creates this in moto's
CloudFormation, and the IAM checks read each function's role from it."""

from __future__ import annotations

import copy
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The template under test; STREAMOPS_TEMPLATE points the checks at another copy (e.g. an older
# one, to see which checks it fails).
TEMPLATE = Path(os.environ.get("STREAMOPS_TEMPLATE") or ROOT / "template.yaml")
ARTIFACTS_BUCKET = "streamops-artifacts"
CODE_KEY = "code.zip"


class _NoManagedPolicyLookup:
    """The translator asks IAM for managed policy ARNs only for bare names; the template uses full ARNs."""

    def load(self):
        return {}


def translate(template_path: Path | None = None) -> dict:
    """The SAM-translated (plain CloudFormation) template."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    template = yaml_parse((template_path or TEMPLATE).read_text())
    for res in template["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = f"s3://{ARTIFACTS_BUCKET}/{CODE_KEY}"
    return transform(copy.deepcopy(template), {}, _NoManagedPolicyLookup())
