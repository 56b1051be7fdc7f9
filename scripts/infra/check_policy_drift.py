"""policies/*.json are the one source of truth for every policy in infra/template.yaml.

Why a checker and not a generator: the template stays the single, readable file that
`sam deploy` reads (no build step, no generated copy to forget to regenerate), while reviewers
and parliament read the same statements as plain IAM JSON. The check runs both ways:
- each policy document in the template equals its file (after writing !Sub/!Ref/!GetAtt/!If in
  the files' ${...} notation, see common.to_file_form), statement for statement;
- no policy document in the template lacks a file (a new inline policy cannot bypass review);
- no file in policies/ is unused (a file cannot drift from a template that ignores it);
- SAM functions carry no `Policies` of their own (they would bypass the files too).
"""

import difflib
import json
import sys
from pathlib import Path

from common import POLICIES, TEMPLATE, Report, Unsupported, load_json, load_template, main_guard, to_file_form

# (resource, path to the document) -> file. A path step is a key or a PolicyName selector.
POLICY_SOURCES = {
    ("DataKey", "KeyPolicy"): "data-key.json",
    ("TweetsBucketPolicy", "PolicyDocument"): "bucket-tls-only.json",
    ("FirehoseRole", "AssumeRolePolicyDocument"): "firehose-trust.json",
    ("FirehoseRole", "Policies[firehose-delivery]"): "firehose-delivery.json",
    ("IndexerRole", "AssumeRolePolicyDocument"): "lambda-trust.json",
    ("IndexerRole", "Policies[lambda-execution]"): "lambda-execution.json",
    ("DomainLogDeliveryPolicy", "PolicyDocument"): "opensearch-log-delivery.json",
    ("SearchDomain", "AccessPolicies"): "domain-access.json",
    ("IndexerKinesisPolicy", "PolicyDocument"): "lambda-kinesis-read.json",
    ("IndexerArchivePolicy", "PolicyDocument"): "lambda-archive-write.json",
    ("KinesisProducerPolicy", "PolicyDocument"): "kinesis-producer.json",
    ("BatchOperationsRole", "AssumeRolePolicyDocument"): "batch-operations-trust.json",
    ("BatchOperationsRole", "Policies[batch-operations]"): "batch-operations.json",
    ("CaptureExecutionRole", "AssumeRolePolicyDocument"): "ecs-tasks-trust.json",
    ("CaptureExecutionRole", "Policies[capture-execution]"): "capture-execution.json",
    ("CaptureTaskRole", "AssumeRolePolicyDocument"): "ecs-tasks-trust.json",
    ("CaptureTaskRole", "Policies[capture-task]"): "capture-task.json",
    ("LambdaVpcAccessPolicy", "PolicyDocument"): "lambda-vpc-access.json",
    ("FgacSetupRole", "AssumeRolePolicyDocument"): "lambda-trust.json",
    ("FgacSetupRole", "Policies[fgac-setup]"): "fgac-setup.json",
    # OpenSearch Serverless policies: JSON of their own, not IAM (parliament skips aoss/).
    ("CollectionEncryptionPolicy", "Policy"): "aoss/collection-encryption.json",
    ("CollectionPublicNetworkPolicy", "Policy"): "aoss/collection-network-public.json",
    ("CollectionVpcNetworkPolicy", "Policy"): "aoss/collection-network-vpc.json",
    ("CollectionIndexerAccess", "Policy"): "aoss/collection-indexer-access.json",
    ("CollectionAdminAccess", "Policy"): "aoss/collection-admin-access.json",
    ("ComplyTaskRole", "AssumeRolePolicyDocument"): "ecs-tasks-trust.json",
    ("ComplyTaskRole", "Policies[comply-task]"): "comply-task.json",
    ("ComplySchedulerRole", "AssumeRolePolicyDocument"): "scheduler-trust.json",
    ("ComplySchedulerRole", "Policies[comply-scheduler]"): "comply-scheduler.json",
}

# Properties that hold a policy document, per resource type.
POLICY_PROPERTIES = {
    "AWS::IAM::Role": ["AssumeRolePolicyDocument", "Policies"],
    "AWS::IAM::Policy": ["PolicyDocument"],
    "AWS::IAM::ManagedPolicy": ["PolicyDocument"],
    "AWS::IAM::User": ["Policies"],
    "AWS::IAM::Group": ["Policies"],
    "AWS::KMS::Key": ["KeyPolicy"],
    "AWS::S3::BucketPolicy": ["PolicyDocument"],
    "AWS::SQS::QueuePolicy": ["PolicyDocument"],
    "AWS::SNS::TopicPolicy": ["PolicyDocument"],
    "AWS::Logs::ResourcePolicy": ["PolicyDocument"],
    "AWS::OpenSearchService::Domain": ["AccessPolicies"],
    "AWS::Elasticsearch::Domain": ["AccessPolicies"],
    "AWS::Lambda::Permission": [],
    "AWS::Serverless::Function": ["Policies"],
    "AWS::OpenSearchServerless::AccessPolicy": ["Policy"],
    "AWS::OpenSearchServerless::SecurityPolicy": ["Policy"],
}


def documents_in(template: dict):
    """Yields (resource, path, document) for every policy document the template holds."""
    for name, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        for prop in POLICY_PROPERTIES.get(resource.get("Type"), []):
            if prop not in props:
                continue
            value = props[prop]
            if prop == "Policies":
                if resource["Type"] == "AWS::Serverless::Function":
                    yield name, prop, value  # always reported: see module doc
                    continue
                for policy in value:
                    yield name, f"Policies[{policy.get('PolicyName')}]", policy.get("PolicyDocument")
            else:
                yield name, prop, value


def canonical(doc) -> str:
    return json.dumps(doc, indent=2, sort_keys=True)


def run() -> int:
    report = Report("policy drift")
    # An optional argument names another template (the self-test feeds a mutated copy).
    template = load_template(Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE)
    used_files = set()
    for name, path, document in documents_in(template):
        where = f"{name}.{path}"
        if template["Resources"][name]["Type"] == "AWS::Serverless::Function":
            report.failed(f"{where}: SAM policies bypass policies/; give the function a Role")
            continue
        source = POLICY_SOURCES.get((name, path))
        if source is None:
            report.failed(f"{where}: policy document with no file in policies/ (add it to POLICY_SOURCES)")
            continue
        used_files.add(source)
        try:
            in_template = to_file_form(document, where)
            if isinstance(in_template, str):  # Logs and OpenSearch Serverless policies are JSON strings
                in_template = json.loads(in_template)
        except (Unsupported, json.JSONDecodeError) as e:
            report.failed(f"{where}: {e}")
            continue
        in_file = load_json(POLICIES / source)
        if in_template == in_file:
            if isinstance(in_file, dict) and "Statement" in in_file:
                sids = [s.get("Sid", "?") for s in in_file["Statement"]]
                report.passed(f"{where} == policies/{source} ({len(sids)} statements: {', '.join(sids)})")
            else:  # an OpenSearch Serverless policy: rules, not statements
                report.passed(f"{where} == policies/{source}")
        else:
            diff = difflib.unified_diff(
                canonical(in_file).splitlines(),
                canonical(in_template).splitlines(),
                f"policies/{source}",
                f"infra/template.yaml {where}",
                lineterm="",
            )
            report.failed(f"{where} differs from policies/{source}:\n" + "\n".join(diff))
    for (name, path), source in POLICY_SOURCES.items():
        if source not in used_files:
            report.failed(f"{name}.{path} (for policies/{source}) not found in the template")
    for file in sorted(POLICIES.rglob("*.json")):
        name = file.relative_to(POLICIES).as_posix()
        if name not in POLICY_SOURCES.values():
            report.failed(f"policies/{name} is used by no template resource")
    return report.finish()


if __name__ == "__main__":
    main_guard(run)
