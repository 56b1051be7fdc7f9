"""Proves the infra checks can fail: each case breaks a copy of a file the way a real mistake
would, runs the check that should catch it, and fails if that check still passes.

Usage: self_test.py WORKDIR   (scratch folder; scripts/check-infra passes target/infra/self-test)
"""

import shutil
import subprocess
import sys
from pathlib import Path

from common import REPO, TEMPLATE, Report, main_guard

HERE = Path(__file__).resolve().parent
PY = sys.executable
CFN_LINT = str(Path(PY).with_name("cfn-lint"))


def run(*cmd) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=REPO)


def mutate(text: str, old: str, new: str) -> str:
    if old not in text:
        raise AssertionError(f"self-test is stale: {old!r} no longer occurs")
    return text.replace(old, new, 1)


def expect_failure(report: Report, what: str, result: subprocess.CompletedProcess, needle: str):
    out = result.stdout + result.stderr
    if result.returncode != 0 and needle in out:
        report.passed(f"{what}: caught ({needle})")
    else:
        report.failed(f"{what}: not caught (exit {result.returncode}, no {needle!r} in output)\n{out[-2000:]}")


def run_all(work: Path) -> int:
    report = Report("self-test")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    template = TEMPLATE.read_text(encoding="utf-8")

    # 1. An action added to the template but not to policies/ is drift.
    drifted = work / "drift.yaml"
    drifted.write_text(mutate(template, "- es:ESHttpHead", "- es:ESHttpDelete"), encoding="utf-8")
    expect_failure(report, "policy added in the template only", run(PY, HERE / "check_policy_drift.py", drifted), "differs from policies/lambda-execution.json")

    # 2. The classic SAM cycle (function env -> bucket -> notification -> function): plain
    #    cfn-lint accepts it, the translated template must not.
    cyclic = work / "cycle.yaml"
    cyclic.write_text(
        mutate(
            template,
            'DEAD_LETTER_BUCKET: !Sub "${BucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"',
            "DEAD_LETTER_BUCKET: !Ref TweetsBucket",
        ),
        encoding="utf-8",
    )
    translated = work / "cycle.translated.json"
    step = run(PY, HERE / "translate.py", cyclic, translated)
    if step.returncode != 0:
        report.failed(f"translate.py failed on the cycle template:\n{step.stdout}{step.stderr}")
    else:
        expect_failure(report, "bucket/function circular dependency", run(CFN_LINT, translated), "E3004")

    # 3. Dashboards: an aggregation on a text field, and a dangling panel reference.
    boards = work / "dashboards"
    boards.mkdir()
    source = (REPO / "infra" / "dashboards" / "opensearch-dashboards.ndjson").read_text(encoding="utf-8")
    (boards / "text-field.ndjson").write_text(mutate(source, '\\"field\\":\\"hashtags\\"', '\\"field\\":\\"text\\"'), encoding="utf-8")
    expect_failure(report, "terms aggregation on a text field", run(PY, HERE / "check_dashboards.py", boards), "the mapping says text")
    (boards / "text-field.ndjson").unlink()
    (boards / "dangling.ndjson").write_text(mutate(source, '"id":"tweet-indexer-sentiment-pie"', '"id":"renamed-pie"'), encoding="utf-8")
    expect_failure(report, "reference to a missing visualization", run(PY, HERE / "check_dashboards.py", boards), "is not in the file")

    # 4. An environment variable the binary never reads.
    unread = work / "unread-env.yaml"
    unread.write_text(mutate(template, "          ES_INDEX: !Ref IndexName\n", "          ES_INDEX: !Ref IndexName\n          ES_TIMEOUT_SECS: '30'\n"), encoding="utf-8")
    result = run(PY, HERE / "check_lambda_contract.py", unread)
    if "SKIPPED" in result.stdout:
        report.note("unread environment variable: skipped (no crate builds the Lambda binary yet)")
    else:
        expect_failure(report, "environment variable the binary never reads", result, "ES_TIMEOUT_SECS")

    # 5. A function CloudFormation does not take in Rules (it refuses the whole template; no
    #    linter notices).
    joined = work / "rule-join.yaml"
    joined.write_text(
        mutate(
            template,
            "RuleCondition: !Not [!Contains [!Ref SubnetIds, \"\"]]",
            "RuleCondition: !Not [!Equals [!Join [\"\", !Ref SubnetIds], \"\"]]",
        ),
        encoding="utf-8",
    )
    variants = REPO / "target" / "infra" / "variants" / "translated"
    default = REPO / "target" / "infra" / "template.translated.json"
    expect_failure(report, "Fn::Join in a rule", run(PY, HERE / "check_variants.py", default, variants, joined), "Rules use rule functions only")

    # 6. A rule lost: subnets without security groups are no longer refused.
    unguarded = work / "no-sg-rule.yaml"
    unguarded.write_text(
        mutate(template, "      - Assert: !Not [!Contains [!Ref SecurityGroupIds, \"\"]]\n", "      - Assert: !Equals [a, a]\n"),
        encoding="utf-8",
    )
    expect_failure(report, "a missing rule", run(PY, HERE / "check_variants.py", default, variants, unguarded), "subnets-without-security-groups: refused by rule")

    # 7. The indexer left outside the VPC while the domain is in it: read from the translated
    #    variant (the other variants as check-infra translated them).
    outside = work / "no-vpc-config.yaml"
    outside.write_text(
        mutate(template, "      VpcConfig: !If\n        - HasVpc\n", "      VpcConfig: !If\n        - CreateCollection\n"),
        encoding="utf-8",
    )
    mutated = work / "variants"
    shutil.copytree(variants, mutated / "translated")
    step = run(PY, HERE / "variants.py", "write", mutated / "src", outside)
    step = step if step.returncode else run(
        PY, HERE / "translate.py", mutated / "src" / "domain-vpc.json", mutated / "translated" / "domain-vpc.translated.json"
    )
    if step.returncode != 0:
        report.failed(f"could not translate the mutated VPC variant:\n{step.stdout}{step.stderr}")
    else:
        expect_failure(report, "a function outside the VPC", run(PY, HERE / "check_variants.py", default, mutated / "translated"), "IndexerFunction VpcConfig set")
    return report.finish()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    main_guard(lambda: run_all(Path(sys.argv[1])))
