"""The parameter combinations the template is linted in, and a small evaluator of its
conditions and rules for given parameter values.

The template deploys different resources for SearchBackend (domain, serverless, existing),
with or without a VPC (SubnetIds), an existing VPC endpoint, the capture and a Kinesis stream:
a linter run on the template with its defaults sees one of those deployments only. Each
variant below is the template with other parameter defaults, written as JSON
(`variants.py write DIR` -> DIR/NAME.json), which scripts/check-infra validates, lints,
translates and scans like the template itself; check_variants.py then reads what each
translated variant really deploys. REFUSED lists parameter sets that CloudFormation must refuse
before creating anything, and the rule (or guard) that does it.

The evaluator knows what conditions and rules use here (Fn::Equals, Fn::And, Fn::Or, Fn::Not,
Condition, Fn::Join, Fn::Select, Fn::Split, Fn::Contains, Fn::EachMemberEquals,
Fn::EachMemberIn, Ref of parameters) and resolves Fn::If in resource properties; anything else
is left as it is (Ref of resources, Fn::GetAtt, Fn::Sub).

Usage: variants.py write OUTDIR [TEMPLATE]
"""

import copy
import json
import sys
from pathlib import Path

from common import TEMPLATE, load_template

SUBNETS = "subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d4e5f60002"
VPC = {
    "SubnetIds": SUBNETS,
    "SecurityGroupIds": "sg-0a1b2c3d4e5f60001",
    "VpcId": "vpc-0a1b2c3d4e5f60001",
}
ADMIN = {"AdminPrincipalArn": "arn:aws:iam::123456789012:role/SearchAdmin"}
CAPTURE = {"CaptureImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tweet-capture:1"}
PUBLIC_ENDPOINT = "https://search-tweets-abc123.us-east-1.es.amazonaws.com"
VPC_ENDPOINT = "https://vpc-tweets-abc123.us-east-1.es.amazonaws.com"

# name -> parameter values other than the defaults. "domain" is the template as it is (the
# main steps of scripts/check-infra lint it); the others are written out and linted in turn.
VARIANTS = {
    "domain": {},
    "domain-vpc": {
        **VPC,
        **ADMIN,
        **CAPTURE,
        "S3GatewayRouteTableIds": "rtb-0a1b2c3d4e5f60001",
        "CreateKinesisStream": "true",
        "CreateArchiveTable": "true",
        "ArchiveRetention": "2y",
    },
    "serverless": {"SearchBackend": "serverless", **ADMIN},
    "serverless-vpc": {"SearchBackend": "serverless", **VPC},
    "existing": {
        "SearchBackend": "existing",
        "ExistingEndpoint": PUBLIC_ENDPOINT,
        "ArchiveTable": "tweets-archive",
    },
    "existing-vpc": {"SearchBackend": "existing", "ExistingEndpoint": VPC_ENDPOINT, **VPC},
}

# name -> (parameter values, what refuses them: "rule NAME" or "guard CONDITION").
REFUSED = {
    "vpc-endpoint-outside-the-vpc": (
        {"SearchBackend": "existing", "ExistingEndpoint": VPC_ENDPOINT},
        "guard RefuseVpcHostOutsideVpc",
    ),
    "endpoint-without-existing-backend": (
        {"ExistingEndpoint": PUBLIC_ENDPOINT},
        "rule EndpointOnlyWithExistingBackend",
    ),
    "existing-backend-without-endpoint": (
        {"SearchBackend": "existing"},
        "rule ExistingBackendNeedsEndpoint",
    ),
    "subnets-without-security-groups": (
        {"SubnetIds": SUBNETS},
        "rule VpcNeedsSecurityGroups",
    ),
    "security-groups-without-subnets": (
        {"SecurityGroupIds": VPC["SecurityGroupIds"]},
        "rule SecurityGroupsNeedVpc",
    ),
    "collection-in-vpc-without-vpc-id": (
        {"SearchBackend": "serverless", "SubnetIds": SUBNETS, "SecurityGroupIds": VPC["SecurityGroupIds"]},
        "rule CollectionInVpcNeedsVpcId",
    ),
    "s3-endpoint-without-vpc-id": (
        {**{k: v for k, v in VPC.items() if k != "VpcId"}, "S3GatewayRouteTableIds": "rtb-0a1b2c3d4e5f60001"},
        "rule S3GatewayEndpointNeedsVpcId",
    ),
    "capture-without-network": (CAPTURE, "rule CaptureNetwork"),
}

# What CloudFormation takes in a Rules section (besides Ref): anything else refuses the
# whole template ("Following functions are not supported in the Rules block").
RULE_FUNCTIONS = {
    "Fn::And", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn", "Fn::Equals",
    "Fn::Not", "Fn::Or", "Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll", "Ref",
}

NO_VALUE = object()


def with_defaults(template: dict, values: dict) -> dict:
    """A copy of `template` whose parameters default to `values`."""
    variant = copy.deepcopy(template)
    for name, value in values.items():
        if name not in variant["Parameters"]:
            raise KeyError(f"no parameter {name}")
        variant["Parameters"][name]["Default"] = value
    return variant


class Evaluator:
    """Conditions, rules and Fn::If of `template` for its parameters' default values."""

    def __init__(self, template: dict):
        self.template = template
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            default = str(spec.get("Default", ""))
            if spec.get("Type") == "CommaDelimitedList" or spec.get("Type", "").startswith("List<"):
                self.params[name] = default.split(",")
            else:
                self.params[name] = default
        self.params.update({"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"})
        self._conditions = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self._conditions[name]

    def value(self, node):
        """Evaluates a condition or rule expression (parameters only)."""
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict) or len(node) != 1:
            return node
        (fn, arg), = node.items()
        if fn == "Ref":
            if arg not in self.params:
                raise ValueError(f"Ref {arg}: not a parameter")
            return self.params[arg]
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Equals":
            a, b = self.value(arg)
            return a == b
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.value(a) for a in arg)
        if fn == "Fn::Join":
            sep, parts = arg
            parts = self.value(parts)
            return sep.join(p for part in parts for p in (part if isinstance(part, list) else [part]))
        if fn == "Fn::Split":
            sep, text = arg
            return self.value(text).split(sep)
        if fn == "Fn::Select":
            index, items = arg
            return self.value(items)[int(self.value(index))]
        if fn == "Fn::Contains":
            items, item = self.value(arg)
            return item in items
        if fn == "Fn::EachMemberEquals":
            items, item = self.value(arg)
            return all(i == item for i in items)
        if fn == "Fn::EachMemberIn":
            items, allowed = self.value(arg)
            return all(i in allowed for i in items)
        raise ValueError(f"{fn} is not evaluated here")

    def failed_rules(self) -> list:
        """(rule, assertion description) of every assertion that fails."""
        failed = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.value(assertion["Assert"]):
                    failed.append((name, assertion.get("AssertDescription", "")))
        return failed

    def exists(self, resource: str) -> bool:
        spec = self.template["Resources"].get(resource)
        return spec is not None and ("Condition" not in spec or self.condition(spec["Condition"]))

    def resolve(self, node):
        """`node` with every Fn::If decided and AWS::NoValue removed."""
        if isinstance(node, list):
            out = [self.resolve(n) for n in node]
            return [n for n in out if n is not NO_VALUE]
        if isinstance(node, dict):
            if node == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            if len(node) == 1 and "Fn::If" in node:
                name, when_true, when_false = node["Fn::If"]
                return self.resolve(when_true if self.condition(name) else when_false)
            out = {k: self.resolve(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not NO_VALUE}
        return node

    def properties(self, resource: str) -> dict:
        return self.resolve(self.template["Resources"][resource].get("Properties", {}))


def functions_in(node, found=None) -> set:
    """Every intrinsic function name (Fn::*, Ref, Condition) used in `node`."""
    found = set() if found is None else found
    if isinstance(node, list):
        for n in node:
            functions_in(n, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("Fn::") or key in ("Ref", "Condition"):
                found.add(key)
            functions_in(value, found)
    return found


def write(outdir: Path, source: Path = TEMPLATE) -> int:
    template = load_template(source)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.json"):
        old.unlink()
    for name, values in VARIANTS.items():
        if not values:
            continue
        path = outdir / f"{name}.json"
        path.write_text(json.dumps(with_defaults(template, values), indent=1) + "\n", encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] != "write":
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    sys.exit(write(Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) == 4 else TEMPLATE))
