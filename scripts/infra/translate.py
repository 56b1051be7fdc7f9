"""Translates infra/template.yaml (SAM) into plain CloudFormation, offline.

The AWS::Serverless-2016-10-31 transform normally runs inside CloudFormation. Linting only the SAM
source misses what the transform generates (the Lambda permission, the bucket notification, the
event invoke config) and transform-time errors such as circular dependencies between them, so we
run the same samtranslator library that aws-sam-cli uses, here, with no AWS credentials:
- the local CodeUri (the cargo workspace that `sam build` compiles) is replaced by a placeholder
  S3 URI, as `sam package` would after uploading the zip;
- no managed-policy lookups are needed (the template names no managed policies), so the loader
  returns an empty map instead of calling IAM.

Usage: translate.py TEMPLATE OUTPUT.json
"""

import json
import sys

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.parser import parser
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.translator import Translator

PLACEHOLDER_CODE_URI = "s3://placeholder-bucket/tweet-indexer-lambda.zip"


def translate(template: dict) -> dict:
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if isinstance(props.get("CodeUri"), str) and not props["CodeUri"].startswith("s3://"):
                props["CodeUri"] = PLACEHOLDER_CODE_URI
    translator = Translator(
        managed_policy_map=None,
        sam_parser=parser.Parser(),
        plugins=[],
        # Only the region and partition are read from the session; no request is made.
        boto_session=boto3.session.Session(region_name="us-east-1"),
    )
    return translator.translate(
        sam_template=template, parameter_values={}, get_managed_policy_map=lambda: {}
    )


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    try:
        translated = translate(template)
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"translate: {cause}", file=sys.stderr)
        print(f"translate: {e}", file=sys.stderr)
        return 1
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(translated, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"translated {sys.argv[1]} -> {sys.argv[2]} ({len(translated['Resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
