"""A moto server that enforces IAM, for the permission tests (testkit::iam_moto starts it).

moto answers every request by default; with `INITIAL_NO_AUTH_ACTION_COUNT` reached it checks
the SigV4 signature against the IAM access keys it holds and the action (and, for S3, the
object or bucket ARN) against the key owner's policies. This script:

1. starts a moto server on 127.0.0.1 (a free port) in this process, apart from the shared
   moto peer, so no other test runs with IAM enforced;
2. creates, with enforcement still off, the buckets, delivery streams and Kinesis streams the
   spec names, one IAM user per principal whose only policy is the spec's files from
   policies/ rendered with the spec's values (`${Name}` placeholders, exactly what
   scripts/infra/check_policy_drift.py compares with the template), and an access key each;
3. turns enforcement on, prints one JSON line (endpoint, keys, rendered policies) and serves
   until its stdin closes (the test process holds the other end, so the server cannot
   outlive it).

Three corrections make moto's check and answer the ones AWS makes (patched in below):
- moto names an S3 request's action after the API operation (`s3:ListObjectsV2`,
  `s3:GetObject` even with a `versionId`); IAM names the permission (`s3:ListBucket`,
  `s3:GetObjectVersion`: the Service Authorization Reference for Amazon S3). The operations
  whose permission has another name are translated ([`S3_PERMISSIONS`], [`S3_VERSIONED`]).
- moto checks the Resource element for S3 only; Firehose, Kinesis and DynamoDB actions are
  checked against `*`, which no statement scoped to a stream or table matches. The stream's or
  table's ARN is taken from the request (DeliveryStreamName, StreamName or StreamARN;
  TableName, or the table of a BatchWriteItem's RequestItems), so a policy scoped to one is
  honoured and another is refused, as on AWS.
- moto refuses every service's request with the IAM API's XML error; Firehose, Kinesis and
  DynamoDB (JSON protocol) answer `AccessDeniedException` as JSON, which is what the SDKs
  parse.

Usage: iam_moto.py SPEC.json   (spec: see testkit::iam_moto::Spec)
"""

import json
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.firehose.responses import FirehoseResponse
from moto.kinesis.responses import KinesisResponse
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMRequest, S3IAMRequest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

REPO = Path(__file__).resolve().parents[3]
POLICIES = REPO / "policies"
PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")
ACCOUNT = "123456789012"  # moto's default account: the ARNs the policies name must use it
REGION = "us-east-1"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def render(value, values: dict, unknown: set):
    if isinstance(value, str):
        def repl(m):
            if m.group(1) not in values:
                unknown.add(m.group(1))
                return m.group(0)
            return values[m.group(1)]

        return PLACEHOLDER.sub(repl, value)
    if isinstance(value, list):
        return [render(v, values, unknown) for v in value]
    if isinstance(value, dict):
        return {k: render(v, values, unknown) for k, v in value.items()}
    return value


def request_param(response, name: str):
    """A parameter of a JSON-protocol request, read from its body."""
    try:
        body = json.loads(response.body or "{}")
    except (TypeError, ValueError):
        return None
    return body.get(name) if isinstance(body, dict) else None


def firehose_resource(response) -> str:
    name = request_param(response, "DeliveryStreamName")
    if not name:
        return "*"
    return f"arn:aws:firehose:{response.region}:{response.current_account}:deliverystream/{name}"


def kinesis_resource(response) -> str:
    arn = request_param(response, "StreamARN")
    if arn:
        return arn
    name = request_param(response, "StreamName")
    if not name:
        return "*"
    return f"arn:aws:kinesis:{response.region}:{response.current_account}:stream/{name}"


def dynamodb_resource(response) -> str:
    # DynamoHandler.call_action has replaced the body with its parsed parameters.
    body = response.body
    if not isinstance(body, dict):
        try:
            body = json.loads(body or "{}")
        except (TypeError, ValueError):
            return "*"
    if not isinstance(body, dict):
        return "*"
    name = body.get("TableName")
    items = body.get("RequestItems")
    if not name and isinstance(items, dict) and len(items) == 1:
        name = next(iter(items))
    if not name:
        return "*"
    return f"arn:aws:dynamodb:{response.region}:{response.current_account}:table/{name}"


# S3 API operation -> the IAM permission it needs, where the names differ.
S3_PERMISSIONS = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "ListParts": "ListMultipartUploadParts",
}
# Permission -> the one a request naming a `versionId` needs instead.
S3_VERSIONED = {
    "GetObject": "GetObjectVersion",
    "DeleteObject": "DeleteObjectVersion",
    "GetObjectAcl": "GetObjectVersionAcl",
    "GetObjectTagging": "GetObjectVersionTagging",
}
_s3_request_init = S3IAMRequest.__init__


def s3_request_init(self, *args, **kwargs):
    _s3_request_init(self, *args, **kwargs)
    service, _, operation = self._action.partition(":")
    permission = S3_PERMISSIONS.get(operation, operation)
    if "versionId" in parse_qs(urlparse(self._path).query):
        permission = S3_VERSIONED.get(permission, permission)
    self._action = f"{service}:{permission}"


S3IAMRequest.__init__ = s3_request_init
JSON_PROTOCOL = {"firehose", "kinesis", "dynamodb"}
_raise_access_denied = IAMRequest._raise_access_denied


def raise_access_denied(self):
    if self._service in JSON_PROTOCOL:
        raise JsonRESTError(
            "AccessDeniedException",
            f"User: {self._access_key.arn} is not authorized to perform: {self._action}",
        )
    _raise_access_denied(self)


IAMRequest._raise_access_denied = raise_access_denied
FirehoseResponse._determine_resource = firehose_resource
KinesisResponse._determine_resource = kinesis_resource
DynamoHandler._determine_resource = dynamodb_resource


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    values = dict(spec.get("values", {}))
    values.setdefault("AWS::Partition", "aws")
    values.setdefault("AWS::Region", REGION)
    values.setdefault("AWS::AccountId", ACCOUNT)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    session = boto3.session.Session(aws_access_key_id="setup", aws_secret_access_key="setup", region_name=REGION)

    def client(service):
        return session.client(service, endpoint_url=endpoint)

    s3, iam = client("s3"), client("iam")
    for bucket in spec.get("buckets", []):
        s3.create_bucket(Bucket=bucket["name"])
        if bucket.get("versioned"):
            s3.put_bucket_versioning(Bucket=bucket["name"], VersioningConfiguration={"Status": "Enabled"})
    for name in spec.get("kinesis_streams", []):
        client("kinesis").create_stream(StreamName=name, ShardCount=1)
    for name in spec.get("dynamodb_tables", []):
        client("dynamodb").create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "id", "AttributeType": "N"},
                {"AttributeName": "timestamp", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "id", "KeyType": "HASH"},
                {"AttributeName": "timestamp", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    for stream in spec.get("delivery_streams", []):
        client("firehose").create_delivery_stream(
            DeliveryStreamName=stream["name"],
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose",
                "BucketARN": f"arn:aws:s3:::{stream['bucket']}",
                "Prefix": stream.get("prefix", ""),
            },
        )

    principals = {"admin": ADMIN_POLICY}
    for name, files in spec.get("principals", {}).items():
        statements = []
        for file in files:
            unknown: set = set()
            document = render(json.loads((POLICIES / file).read_text(encoding="utf-8")), values, unknown)
            if unknown:
                raise SystemExit(f"iam_moto: no value for {sorted(unknown)} in policies/{file}")
            statements.extend(document["Statement"])
        principals[name] = {"Version": "2012-10-17", "Statement": statements}
    keys = {}
    for name, document in principals.items():
        iam.create_user(UserName=name)
        if document["Statement"]:
            iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = {
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
            "policy": document,
        }

    # From here on every request is authenticated and authorised.
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    print(json.dumps({"endpoint": endpoint, "principals": keys}), flush=True)
    sys.stdin.read()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
