"""Shared helpers of the offline infrastructure checks (run with .venv-infra's python).

Each check script prints one line per finding and ends with a `check: ...` summary; it exits
non-zero when anything failed. scripts/check-infra runs them and counts the results.
"""

import json
import re
import sys
import traceback
from pathlib import Path

from samcli.yamlhelper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
POLICIES = REPO / "policies"

PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")


def load_template(path: Path = TEMPLATE) -> dict:
    """The template with short tags (!Sub, !If, ...) expanded to their Fn:: forms."""
    return yaml_parse(path.read_text(encoding="utf-8"))


def load_json(path: Path):
    with path.open(encoding="utf-8") as f:
        return json.load(f)


class Unsupported(ValueError):
    """A template construct the policy files cannot express."""


def to_file_form(value, where: str):
    """Rewrites a template value into the notation of policies/*.json.

    `!Sub "..."` becomes its string, `!Ref X` becomes "${X}", `!GetAtt R.A` becomes "${R.A}" (the
    same text `!Sub` would take), and `!If [Cond, X, !Ref AWS::NoValue]` becomes X: the files hold
    the statement a deployment with the condition true receives. Anything else is refused, so a
    policy can never silently differ from its file through an intrinsic the checker skips.
    """
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            if item == {"Ref": "AWS::NoValue"}:
                continue
            out.append(to_file_form(item, f"{where}[{i}]"))
        return out
    if isinstance(value, dict):
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return arg
                raise Unsupported(f"{where}: Fn::Sub with a variable map")
            if key == "Ref":
                return "${" + arg + "}"
            if key == "Fn::GetAtt":
                return "${" + (arg if isinstance(arg, str) else ".".join(arg)) + "}"
            if key == "Fn::If":
                cond, when_true, when_false = arg
                if when_false != {"Ref": "AWS::NoValue"}:
                    raise Unsupported(f"{where}: Fn::If {cond} with two values")
                return to_file_form(when_true, where)
            if key.startswith("Fn::"):
                raise Unsupported(f"{where}: {key}")
        return {k: to_file_form(v, f"{where}.{k}") for k, v in value.items()}
    return value


def parameter_defaults(template: dict) -> dict:
    return {
        name: str(spec.get("Default", ""))
        for name, spec in template.get("Parameters", {}).items()
    }


# Example values for a deployment of stack `tweet-indexer` in us-east-1 with every parameter at
# its default, so that linters see real ARNs instead of ${...} placeholders.
EXAMPLE_ACCOUNT = "123456789012"
EXAMPLE_REGION = "us-east-1"
EXAMPLE_STACK = "tweet-indexer"


def example_values(template: dict) -> dict:
    values = parameter_defaults(template)
    values.update(
        {
            "AWS::Partition": "aws",
            "AWS::Region": EXAMPLE_REGION,
            "AWS::AccountId": EXAMPLE_ACCOUNT,
            "AWS::StackName": EXAMPLE_STACK,
            "AWS::URLSuffix": "amazonaws.com",
            # Resource attributes, as CloudFormation would resolve them.
            "DataKey.Arn": f"arn:aws:kms:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "FailureQueue.Arn": f"arn:aws:sqs:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:{EXAMPLE_STACK}-FailureQueue-EXAMPLE",
            "IndexerRole.Arn": f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/{EXAMPLE_STACK}-IndexerRole-EXAMPLE",
            "IndexerFunction.Arn": f"arn:aws:lambda:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:function:{EXAMPLE_STACK}-indexer",
            "TweetsStream.Arn": f"arn:aws:kinesis:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:stream/{EXAMPLE_STACK}-tweets",
            "TweetsArchive.Arn": f"arn:aws:dynamodb:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:table/{EXAMPLE_STACK}-tweets-archive",
            "DeliveryStream.Arn": f"arn:aws:firehose:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:deliverystream/{EXAMPLE_STACK}-tweets",
            "CaptureTokenSecret": f"arn:aws:secretsmanager:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:secret:CaptureTokenSecret-AbCdEf",
            "FgacSetupRole.Arn": f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/{EXAMPLE_STACK}-FgacSetupRole-EXAMPLE",
            "SearchCollection.Arn": f"arn:aws:aoss:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:collection/abcdefghij0123456789",
            "CollectionVpcEndpoint": "vpce-0123456789abcdef0",
            "CaptureCluster.Arn": f"arn:aws:ecs:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:cluster/{EXAMPLE_STACK}-CaptureCluster-EXAMPLE",
            "CaptureExecutionRole.Arn": f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/{EXAMPLE_STACK}-CaptureExecutionRole-EXAMPLE",
            "ComplyTaskRole.Arn": f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/{EXAMPLE_STACK}-ComplyTaskRole-EXAMPLE",
            "ComplyTweetsTaskDefinition": f"arn:aws:ecs:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:task-definition/{EXAMPLE_STACK}-comply-tweets:1",
            "ComplyUsersTaskDefinition": f"arn:aws:ecs:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:task-definition/{EXAMPLE_STACK}-comply-users:1",
            # Optional parameter whose default is empty: the statement using it only exists
            # when it is set, so lint it with a plausible value.
            "AdminPrincipalArn": f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/SearchAdmin",
            "ExistingKinesisStreamArn": f"arn:aws:kinesis:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:stream/existing-tweets",
            "ArchiveTable": "existing-tweets-archive",
        }
    )
    return values


def substitute(value, values: dict, unknown: set):
    if isinstance(value, str):
        def repl(m):
            name = m.group(1)
            if name not in values:
                unknown.add(name)
                return m.group(0)
            return values[name]

        return PLACEHOLDER.sub(repl, value)
    if isinstance(value, list):
        return [substitute(v, values, unknown) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, values, unknown) for k, v in value.items()}
    return value


class Report:
    """Counts findings of one check script and prints its summary line."""

    def __init__(self, name: str):
        self.name = name
        self.ok = 0
        self.failures = 0

    def passed(self, msg: str):
        self.ok += 1
        print(f"  ok    {msg}")

    def failed(self, msg: str):
        self.failures += 1
        print(f"  FAIL  {msg}")

    def note(self, msg: str):
        print(f"  note  {msg}")

    def finish(self) -> int:
        print(f"{self.name}: {self.ok} ok, {self.failures} failed")
        return 1 if self.failures or not self.ok else 0


def main_guard(fn):
    try:
        sys.exit(fn())
    except Exception as e:  # a crash in a check is a failure: say so, keep the traceback on stderr
        traceback.print_exc()
        print(f"  FAIL  {type(e).__name__}: {e}")
        sys.exit(1)
