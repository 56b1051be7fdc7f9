"""parliament on policies/*.json (checkov does not read bare policy files). policies/aoss/
holds OpenSearch Serverless policies, a JSON language of their own that parliament does not
read: the drift check compares them with the template.

The files use CloudFormation's ${...} placeholders, which parliament reads as malformed ARNs, so
each file is linted after substituting the values of an example deployment (stack
`tweet-indexer`, us-east-1, every parameter at its default; see common.example_values). A
placeholder without a value is itself a failure.

Every finding fails the check except the few below, each accepted for one file with its reason:
they are properties of the policy kind that parliament (an identity-policy linter) does not
model, not weaknesses of these policies.
"""

import json

import parliament

from common import POLICIES, Report, example_values, load_json, load_template, main_guard, substitute

ACCEPTED = {
    ("lambda-trust.json", "MALFORMED"): "a role trust policy has no Resource element",
    ("firehose-trust.json", "MALFORMED"): "a role trust policy has no Resource element",
    ("batch-operations-trust.json", "MALFORMED"): "a role trust policy has no Resource element",
    ("ecs-tasks-trust.json", "MALFORMED"): "a role trust policy has no Resource element",
    ("scheduler-trust.json", "MALFORMED"): "a role trust policy has no Resource element",
    ("capture-execution.json", "CREDENTIALS_EXPOSURE"): (
        "ECS pulls the capture image from ECR with the execution role: ecr:GetAuthorizationToken "
        "(resource-less) yields a registry login, and the role is assumable by ECS tasks only"
    ),
    ("comply-scheduler.json", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "EventBridge Scheduler runs the comply task by passing its two roles to ECS: iam:PassRole "
        "names exactly those two roles, and only to ecs-tasks.amazonaws.com"
    ),
    ("data-key.json", "RESOURCE_STAR"): 'in a key policy "Resource": "*" means this key only',
    ("data-key.json", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "the account-root statement is AWS's default key policy: it delegates key administration "
        "to IAM policies; without it the key becomes unmanageable"
    ),
}


def run() -> int:
    report = Report("parliament")
    values = example_values(load_template())
    files = sorted(POLICIES.glob("*.json"))
    if not files:
        report.failed("no policy files in policies/")
    for file in files:
        unknown: set = set()
        policy = substitute(load_json(file), values, unknown)
        if unknown:
            report.failed(f"{file.name}: no example value for ${{{'}, ${'.join(sorted(unknown))}}}")
            continue
        analyzed = parliament.analyze_policy_string(
            json.dumps(policy, indent=2), filepath=str(file.relative_to(POLICIES.parent)),
            include_community_auditors=True,
        )
        bad = 0
        seen = set()
        for finding in analyzed.findings:
            key = (finding.issue, str(finding.detail), str(finding.location))
            if key in seen:  # parliament repeats a condition finding once per expanded action
                continue
            seen.add(key)
            reason = ACCEPTED.get((file.name, finding.issue))
            if reason:
                report.note(f"{file.name}: accepted {finding.issue}: {reason}")
                continue
            bad += 1
            report.failed(f"{file.name}: {finding.severity} {finding.issue}: {finding.detail} {finding.location}")
        if not bad:
            report.passed(f"{file.name}: no findings left after the accepted ones")
    return report.finish()


if __name__ == "__main__":
    main_guard(run)
