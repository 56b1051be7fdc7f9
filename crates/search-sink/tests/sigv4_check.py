"""Independent SigV4 check: recompute the signature of a captured request with botocore.

Usage: python sigv4_check.py CAPTURE.json
CAPTURE.json: {"method", "url", "headers": [[name, value], ...], "body_b64",
               "service", "region", "access_key", "secret_key", "session_token"}
Exits 0 and prints "ok" when botocore's SigV4Auth yields the same signed headers and signature
as the Rust client sent, and the payload hash header matches the bytes on the wire.
"""
import base64
import hashlib
import json
import sys
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    cap = json.load(open(sys.argv[1]))
    headers = {}
    for name, value in cap["headers"]:
        headers[name.lower()] = value
    body = base64.b64decode(cap["body_b64"])

    auth = headers.get("authorization", "")
    prefix = "AWS4-HMAC-SHA256 "
    if not auth.startswith(prefix):
        fail("no SigV4 authorization header: %r" % auth)
    parts = dict(p.strip().split("=", 1) for p in auth[len(prefix):].split(","))
    access_key, date, region, service, terminator = parts["Credential"].split("/")
    signed_headers = parts["SignedHeaders"].split(";")
    if (access_key, region, service, terminator) != (cap["access_key"], cap["region"], cap["service"], "aws4_request"):
        fail("credential scope %r" % parts["Credential"])
    if headers.get("x-amz-date", "")[:8] != date:
        fail("x-amz-date does not match the scope date")
    if hashlib.sha256(body).hexdigest() != headers.get("x-amz-content-sha256"):
        fail("x-amz-content-sha256 is not the SHA-256 of the bytes sent")
    if headers.get("x-amz-security-token") != cap["session_token"]:
        fail("session token header missing or wrong")
    if "x-amz-security-token" not in signed_headers:
        fail("session token is not signed")
    if not urlsplit(cap["url"]).query:
        fail("the captured URL has no query string")
    if headers.get("host") != urlsplit(cap["url"]).netloc:
        fail("host header %r differs from the URL" % headers.get("host"))

    # Give botocore exactly the headers that were signed (it adds host from the URL itself).
    request = AWSRequest(
        method=cap["method"],
        url=cap["url"],
        data=body,
        headers={h: headers[h] for h in signed_headers if h != "host"},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(cap["access_key"], cap["secret_key"], cap["session_token"]), service, region)
    botocore_signed = ";".join(signer.signed_headers(signer.headers_to_sign(request)).split(";"))
    if botocore_signed != parts["SignedHeaders"]:
        fail("signed headers differ: botocore %s, rust %s" % (botocore_signed, parts["SignedHeaders"]))
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected = signer.signature(string_to_sign, request)
    if expected != parts["Signature"]:
        fail("signature differs\ncanonical request:\n%s\nbotocore %s\nrust     %s" % (canonical, expected, parts["Signature"]))
    print("ok %s %s %s" % (service, cap["method"], cap["url"]))


main()
