"""What each parameter combination deploys, read from its SAM-translated template.

For every variant of scripts/infra/variants.py (DIR/NAME.translated.json; the default one is
TRANSLATED), with its conditions decided for its parameter values:
- the rules pass and the VPC guard stays off;
- the search side: a domain (fine-grained access control with the deploy-time mapping function
  as master, the indexer mapped by FgacRoleMapping to infra/fgac/tweet-indexer-writer.role.json,
  `rest.action.multi.allow_explicit_index: false`), a search collection (encryption, a public or
  VPC network policy, data access for the indexer, aoss signing), or the existing endpoint;
  the Lambda's IAM statements are the ones for that side;
- the VPC: VpcConfig on both functions, the ENI policy on their roles, VPCOptions of the domain
  (or the collection's VPC endpoint), the S3 gateway endpoint, the capture task's subnets.

And on the source template: the Rules section uses only rule functions, and each parameter
set of REFUSED is refused by the rule or guard named for it (and only that one).

Usage: check_variants.py TRANSLATED.json DIR [TEMPLATE]   (TEMPLATE: the source, for the rules)
"""

import fnmatch
import json
import sys
from pathlib import Path

from common import REPO, TEMPLATE, Report, load_template, main_guard
from variants import REFUSED, RULE_FUNCTIONS, VARIANTS, Evaluator, functions_in, with_defaults

ROLE_FILE = REPO / "infra" / "fgac" / "tweet-indexer-writer.role.json"
GETATT = lambda resource, attribute: {"Fn::GetAtt": [resource, attribute]}  # noqa: E731
REF = lambda name: {"Ref": name}  # noqa: E731


def statements(ev: Evaluator, role: str, policy: str) -> dict:
    for p in ev.properties(role).get("Policies", []):
        if p["PolicyName"] == policy:
            return {s["Sid"]: s for s in p["PolicyDocument"]["Statement"]}
    return {}


def check_variant(report: Report, name: str, template: dict):
    ev = Evaluator(template)
    values = VARIANTS[name]

    def check(ok: bool, msg: str):
        (report.passed if ok else report.failed)(f"{name}: {msg}")

    check(ev.failed_rules() == [], f"the rules pass ({ev.failed_rules()})")
    check(not ev.condition("RefuseVpcHostOutsideVpc"), "the VPC guard stays off")
    backend = ev.params["SearchBackend"]
    vpc = bool("".join(ev.params["SubnetIds"]))
    env = ev.properties("IndexerFunction")["Environment"]["Variables"]
    sids = statements(ev, "IndexerRole", "lambda-execution")

    check(ev.exists("SearchDomain") == (backend == "domain"), f"a domain only with SearchBackend=domain ({backend})")
    check(ev.exists("SearchCollection") == (backend == "serverless"), "a collection only with SearchBackend=serverless")
    check(ev.exists("FgacRoleMapping") == (backend == "domain"), "the role mapping only with a created domain")
    check(("WriteTwitterIndices" in sids) == (backend != "serverless"), "es:ESHttp* on the index paths unless serverless")
    check(("UseTweetsCollection" in sids) == (backend == "serverless"), "aoss:APIAccessAll only for a collection")
    want_service = {"domain": "es", "serverless": "aoss", "existing": ""}[backend]
    check(env.get("ES_SIGV4_SERVICE") == want_service, f"ES_SIGV4_SERVICE is {want_service!r} ({env.get('ES_SIGV4_SERVICE')!r})")
    want_endpoint = {
        "domain": {"Fn::Sub": "https://${SearchDomain.DomainEndpoint}"},
        "serverless": GETATT("SearchCollection", "CollectionEndpoint"),
        "existing": REF("ExistingEndpoint"),
    }[backend]
    check(env.get("ES_ENDPOINT") == want_endpoint, f"ES_ENDPOINT is the {backend}'s ({env.get('ES_ENDPOINT')})")

    if backend == "domain":
        domain = ev.properties("SearchDomain")
        check(
            domain.get("AdvancedOptions", {}).get("rest.action.multi.allow_explicit_index") == "false",
            "the domain refuses indices named in bulk action lines",
        )
        master = domain["AdvancedSecurityOptions"]["MasterUserOptions"]["MasterUserARN"]
        check(master == GETATT("FgacSetupRole", "Arn"), f"the master user is FgacSetupRole, never the indexer ({master})")
        mapping = ev.properties("FgacRoleMapping")
        check(mapping.get("ServiceToken") == GETATT("FgacSetupFunction", "Arn"), "FgacRoleMapping runs FgacSetupFunction")
        check(mapping.get("BackendRole") == GETATT("IndexerRole", "Arn"), "the indexer role is the mapped backend role")
        check(mapping.get("AdminBackendRoles") == [REF("AdminPrincipalArn")], "AdminPrincipalArn is mapped as admin")
        role = json.loads(ROLE_FILE.read_text(encoding="utf-8"))
        index_name = ev.params["IndexName"]
        as_file = {
            "description": mapping.get("Description"),
            "cluster_permissions": mapping.get("ClusterPermissions"),
            "index_permissions": [
                {
                    "index_patterns": [
                        p.replace("${IndexName}", index_name)
                        for p in (x if isinstance(x, str) else x.get("Fn::Sub", "") for x in perm["IndexPatterns"])
                    ],
                    "allowed_actions": perm["AllowedActions"],
                }
                for perm in mapping.get("IndexPermissions", [])
            ],
        }
        check(as_file == role, "FgacRoleMapping grants what infra/fgac/tweet-indexer-writer.role.json says")
        patterns = [p for perm in as_file["index_permissions"] for p in perm["index_patterns"]]
        for index in (index_name, f"{index_name}-2026.11", f"{index_name}_compliance"):
            check(any(fnmatch.fnmatch(index, p) for p in patterns), f"the role covers index {index}")
        check(not any(fnmatch.fnmatch("other", p) for p in patterns), "the role covers no other index")
        actions = [a for perm in role["index_permissions"] for a in perm["allowed_actions"]]
        check("indices:admin/index_template/put" in role["cluster_permissions"], "the role may install the index template")
        for action in ("indices:admin/aliases", "indices:admin/delete", "indices:data/read/search*", "indices:data/write/bulk*"):
            check(action in actions, f"the role may {action}")
        options = domain.get("VPCOptions")
        want = {"SubnetIds": [{"Fn::Select": [0, REF("SubnetIds")]}], "SecurityGroupIds": REF("SecurityGroupIds")}
        check(options == (want if vpc else None), f"domain VPCOptions {'in the first subnet' if vpc else 'absent'} ({options})")
        setup = ev.properties("FgacSetupFunction")
        check(("VpcConfig" in setup) == vpc, "the mapping function runs in the VPC with the domain")

    if backend == "serverless":
        collection = ev.properties("SearchCollection")
        check(collection.get("Type") == "SEARCH", f"a search collection ({collection.get('Type')})")
        check(ev.exists("CollectionEncryptionPolicy"), "the collection has an encryption policy")
        check(ev.exists("CollectionVpcNetworkPolicy") == vpc, "a VPC network policy with SubnetIds")
        check(ev.exists("CollectionPublicNetworkPolicy") == (not vpc), "a public network policy without")
        check(ev.exists("CollectionVpcEndpoint") == vpc, "the collection's VPC endpoint with SubnetIds")
        access = ev.properties("CollectionIndexerAccess")["Policy"]
        check("${IndexerRole.Arn}" in str(access), "the data access policy names the indexer role")
        admin = bool(ev.params["AdminPrincipalArn"])
        check(ev.exists("CollectionAdminAccess") == admin, "admin data access only with AdminPrincipalArn")

    for function in ("IndexerFunction", "FgacSetupFunction"):
        if not ev.exists(function):
            continue
        config = ev.properties(function).get("VpcConfig")
        want = {"SubnetIds": REF("SubnetIds"), "SecurityGroupIds": REF("SecurityGroupIds")}
        check(config == (want if vpc else None), f"{function} VpcConfig {'set' if vpc else 'absent'}")
    for role in ("IndexerRole", "FgacSetupRole"):
        if not ev.exists(role):
            continue
        arns = ev.properties(role).get("ManagedPolicyArns", [])
        check((REF("LambdaVpcAccessPolicy") in arns) == vpc, f"{role} has the ENI permissions {'' if vpc else 'not '}")
    check(ev.exists("LambdaVpcAccessPolicy") == vpc, "the ENI policy exists only with a VPC")
    route_tables = bool("".join(ev.params["S3GatewayRouteTableIds"]))
    check(ev.exists("S3GatewayEndpoint") == route_tables, "an S3 gateway endpoint only for S3GatewayRouteTableIds")
    if ev.exists("CaptureService"):
        subnets = ev.properties("CaptureService")["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
        want = REF("CaptureSubnetIds") if "".join(ev.params["CaptureSubnetIds"]) else REF("SubnetIds")
        check(subnets == want, f"the capture task runs in {want['Ref']}")
    check(bool(values) or name == "domain", "variant parameters given")


def check_refusals(report: Report, template: dict):
    used = functions_in(template.get("Rules", {}))
    check = lambda ok, msg: (report.passed if ok else report.failed)(msg)  # noqa: E731
    check(used <= RULE_FUNCTIONS, f"Rules use rule functions only (not {sorted(used - RULE_FUNCTIONS)})")
    mapping = template.get("Mappings", {}).get("ExistingVpcDomain", {})
    for name, (values, refuser) in REFUSED.items():
        ev = Evaluator(with_defaults(template, values))
        failed = sorted({rule for rule, _ in ev.failed_rules()})
        kind, what = refuser.split(" ", 1)
        if kind == "rule":
            check(failed == [what], f"{name}: refused by rule {what} (rules failing: {failed})")
        else:
            guard = ev.condition(what)
            endpoint = ev.params["ExistingEndpoint"]
            keys = mapping.get("NeedsSubnetIdsAndSecurityGroupIds", {})
            check(
                guard and endpoint not in keys and failed == [],
                f"{name}: refused by the {what} guard (on: {guard}; rules failing: {failed})",
            )


def run() -> int:
    report = Report("variants")
    translated, folder = Path(sys.argv[1]), Path(sys.argv[2])
    for name in VARIANTS:
        path = translated if name == "domain" else folder / f"{name}.translated.json"
        if not path.is_file():
            report.failed(f"{name}: {path} missing (translation failed?)")
            continue
        check_variant(report, name, json.loads(path.read_text(encoding="utf-8")))
    check_refusals(report, load_template(Path(sys.argv[3]) if len(sys.argv) > 3 else TEMPLATE))
    return report.finish()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    main_guard(run)
