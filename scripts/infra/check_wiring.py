"""The SAM-translated template wires the pipeline as docs/deploy.md says.

Linters check that each resource is valid; this checks that they are connected the intended
way, on the template CloudFormation would really receive (after the SAM transform):
- the bucket notifies the indexer for s3:ObjectCreated:* under FirehosePrefix only, and the
  Lambda permission for it is limited to this account's bucket;
- failed asynchronous invocations go to the SQS failure queue;
- Firehose writes GZIP under FirehosePrefix, appends a newline to each record, and puts its
  error output outside FirehosePrefix (so the Lambda never indexes Firehose's error records);
- the function's DEAD_LETTER_BUCKET names the capture bucket and its prefix differs from the
  trigger prefix.

Usage: check_wiring.py TRANSLATED.json
"""

import json
import sys
from pathlib import Path

from common import Report, main_guard

REF_PREFIX = {"Ref": "FirehosePrefix"}


def run() -> int:
    report = Report("wiring")
    with Path(sys.argv[1]).open(encoding="utf-8") as f:
        resources = json.load(f)["Resources"]

    def check(ok: bool, msg: str):
        (report.passed if ok else report.failed)(msg)

    bucket = resources["TweetsBucket"]["Properties"]
    configs = bucket.get("NotificationConfiguration", {}).get("LambdaConfigurations", [])
    check(len(configs) == 1, f"the bucket has one Lambda notification ({len(configs)})")
    for config in configs:
        rules = config.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        check(config.get("Event") == "s3:ObjectCreated:*", f"notification event is {config.get('Event')}")
        check(
            rules == [{"Name": "prefix", "Value": REF_PREFIX}],
            f"notification filter is the FirehosePrefix only ({rules})",
        )
        check(config.get("Function") == {"Fn::GetAtt": ["IndexerFunction", "Arn"]}, "notification targets IndexerFunction")

    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    s3_permissions = [p for p in permissions if p.get("Principal") == "s3.amazonaws.com"]
    check(len(s3_permissions) == 1, f"one S3 invoke permission ({len(s3_permissions)})")
    for p in s3_permissions:
        check(p.get("SourceAccount") == {"Ref": "AWS::AccountId"}, "the S3 invoke permission is limited to this account")

    invoke = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    check(len(invoke) == 1, "one EventInvokeConfig")
    for p in invoke:
        on_failure = p.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        check(on_failure == {"Fn::GetAtt": ["FailureQueue", "Arn"]}, "failed async invocations go to FailureQueue")

    s3_dest = resources["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    prefix = s3_dest.get("Prefix", {})
    check(
        isinstance(prefix, dict) and str(prefix.get("Fn::Sub", "")).startswith("${FirehosePrefix}"),
        f"Firehose writes under FirehosePrefix ({prefix})",
    )
    error_prefix = s3_dest.get("ErrorOutputPrefix", "")
    check(
        isinstance(error_prefix, str) and error_prefix.startswith("firehose-errors/"),
        f"Firehose errors go outside FirehosePrefix ({error_prefix})",
    )
    check(s3_dest.get("CompressionFormat") == "GZIP", "Firehose compresses with GZIP")
    processors = [p.get("Type") for p in s3_dest.get("ProcessingConfiguration", {}).get("Processors", [])]
    check(
        s3_dest.get("ProcessingConfiguration", {}).get("Enabled") is True and "AppendDelimiterToRecord" in processors,
        f"Firehose appends a newline to each record ({processors})",
    )

    env = resources["IndexerFunction"]["Properties"]["Environment"]["Variables"]
    check(env.get("DEAD_LETTER_BUCKET") == bucket.get("BucketName"), "DEAD_LETTER_BUCKET names the capture bucket")
    check(env.get("DEAD_LETTER_PREFIX") == {"Ref": "DeadLetterPrefix"}, "DEAD_LETTER_PREFIX is the DeadLetterPrefix parameter")
    return report.finish()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    main_guard(run)
