"""Monthly cost estimate of a stack, per environment, from its template and a price table.

Operators asked "what will this cost per month, per service and per Region?". The answer
is derived, never written by hand: each resource is modelled as *cost components* (the
shape infracost uses: name, unit, monthly quantity, unit price, monthly cost), the
quantities come from the template's properties (instance class, Multi-AZ, node count,
task size x desired count, ...) evaluated with the environment's parameter values, and
usage that a template cannot say (GB stored, data transferred, load balancer capacity
units) comes from ``docgen.yml`` ``usage`` or from stated defaults. Every assumption is
returned with the estimate so that a page can show it.

Rules that keep the estimate honest:

* a unit price missing from the table is *unknown*: the component says so and is left
  out of the total (never guessed or scaled from another Region);
* a resource whose ``Condition`` is false in an environment is listed as switched off
  and not counted; when the condition cannot be evaluated it *depends* and is counted
  separately, not in the total;
* resource types without a cost model are listed as "not estimated"; usage-priced
  services (Lambda, S3, SQS, DynamoDB on demand, ...) are "usage-based" unless
  ``usage`` gives the figures.

Everything here is a pure function of its inputs (handbook, stack, environment, table).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from docgen.analyse import Fact, compute_fact
from docgen.diagnostics import ConfigError, Diagnostic
from docgen.intrinsics import SCALARS, Unknown, condition_value, evaluate, intrinsic
from docgen.knowledge.pricing import Price, PriceTable
from docgen.model import Environment, Handbook, Resource, SecretRef, Stack, Template

# ----------------------------------------------------------------------------- usage


@dataclass(frozen=True, slots=True)
class UsageKey:
    """A usage figure the estimator understands, with its documented default."""

    key: str
    unit: str
    label: str
    default: float | None  # None: usage-based, no estimate unless given
    maximum: float | None = None


USAGE_KEYS: dict[str, UsageKey] = {u.key: u for u in (
    UsageKey("hours_per_month", "hours", "Hours in a month (AWS price-list convention, "
             "24 x 365 / 12)", 730, 744),
    UsageKey("efs_storage_gb", "GB", "Data stored in each EFS file system", 100),
    UsageKey("efs_ia_share", "share", "Share of EFS data in Infrequent Access when a lifecycle "
             "policy moves files there (AWS's planning figure: about 80 % of files are rarely "
             "read)", 0.8, 1),
    UsageKey("alb_lcu", "LCU", "Average Application Load Balancer capacity units per hour", 1),
    UsageKey("nlb_nlcu", "NLCU", "Average Network Load Balancer capacity units per hour", 1),
    UsageKey("nat_gateway_data_gb", "GB", "Data processed by each NAT gateway per month", 100),
    UsageKey("cross_az_transfer_gb", "GB", "Data crossing Availability Zones per month in a "
             "stack with Multi-AZ data stores (replication plus application traffic)", 500),
    UsageKey("cross_region_transfer_gb", "GB", "Data replicated from another Region per month, "
             "per cross-region replica", 1000),
    UsageKey("s3_storage_gb", "GB", "Data stored in each S3 bucket (S3 Standard)", None),
    UsageKey("lambda_requests_millions", "million requests", "Invocations of each Lambda "
             "function per month", None),
    UsageKey("lambda_gb_seconds", "GB-seconds", "Compute of each Lambda function per month",
             None),
    UsageKey("sqs_requests_millions", "million requests", "Requests to each SQS queue per month",
             None),
)}


@dataclass(frozen=True, slots=True)
class UsageValue:
    key: str
    value: float | None
    source: str  # "docgen.yml usage" | "docgen.yml usage.stacks.<id>" | "default"


def _config_line(config_path: str | None, key: str) -> int:
    """Best-effort line of ``key`` in docgen.yml (the parsed usage mapping has no marks)."""
    if not config_path or not os.path.isfile(config_path):
        return 1
    try:
        with open(config_path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if re.match(rf"\s*{re.escape(key)}\s*:", line):
                    return n
    except OSError:
        pass
    return 1


@functools.cache
def _default_usage() -> dict[str, UsageValue]:
    """Every usage figure at its documented default (shared: UsageValue is immutable,
    and every stack of every environment starts from these)."""
    return {k: UsageValue(k, spec.default, "default") for k, spec in USAGE_KEYS.items()}


def resolve_usage(raw: Mapping[str, Any], stack_id: str | None,
                  config_path: str | None = None) -> dict[str, UsageValue]:
    """Usage figures for one stack: ``usage.stacks.<id>`` over ``usage`` over defaults.

    Raises :class:`ConfigError` (file and line) for unknown keys or bad values, so a typo
    in docgen.yml never silently falls back to a default.
    """
    path = config_path or "docgen.yml"
    diags: list[Diagnostic] = []

    def check(mapping: Mapping[str, Any], where: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in mapping.items():
            spec = USAGE_KEYS.get(key)
            if spec is None:
                diags.append(Diagnostic(path, _config_line(config_path, key), 1,
                                        f"{where}.{key}: unknown usage key (expected one of: "
                                        f"{', '.join(sorted(USAGE_KEYS))}, stacks)"))
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
                    spec.maximum is not None and value > spec.maximum):
                bound = f" and at most {spec.maximum:g}" if spec.maximum is not None else ""
                diags.append(Diagnostic(path, _config_line(config_path, key), 1,
                                        f"{where}.{key}: expected a number >= 0{bound}, "
                                        f"found {value!r}"))
                continue
            out[key] = float(value)
        return out

    top = {k: v for k, v in raw.items() if k != "stacks"}
    values = dict(_default_usage())
    for key, num in check(top, "usage").items():
        values[key] = UsageValue(key, num, "docgen.yml usage")
    per_stack = raw.get("stacks") or {}
    if not isinstance(per_stack, Mapping):
        diags.append(Diagnostic(path, _config_line(config_path, "stacks"), 1,
                                "usage.stacks: expected a mapping of stack id -> usage"))
        per_stack = {}
    for sid, mapping in per_stack.items():
        if not isinstance(mapping, Mapping):
            diags.append(Diagnostic(path, _config_line(config_path, str(sid)), 1,
                                    f"usage.stacks.{sid}: expected a mapping"))
            continue
        checked = check(mapping, f"usage.stacks.{sid}")
        if sid == stack_id:
            for key, num in checked.items():
                values[key] = UsageValue(key, num, f"docgen.yml usage.stacks.{sid}")
    if diags:
        raise ConfigError("invalid usage settings in docgen.yml", tuple(diags))
    return values


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Component:
    """One priced line of a resource: monthly quantity x unit price."""

    name: str
    service: str          # what it is billed as ("Amazon RDS", "Data transfer", ...)
    unit: str             # unit of the quantity, matching the price's unit
    quantity: float | None  # None: usage-based, not estimated
    price_id: str | None
    price: Price | None
    region: str | None
    note: str = ""

    @property
    def status(self) -> str:
        if self.quantity is None:
            return "usage-based"
        if self.price is None:
            return "unknown"
        return "estimated"

    @property
    def monthly(self) -> float | None:
        if self.quantity is None or self.price is None:
            return None
        return self.quantity * self.price.usd


@dataclass(frozen=True, slots=True)
class ResourceCost:
    """A resource (or a stack-level charge such as data transfer) and its components."""

    logical_id: str
    type: str
    service: str
    state: str  # "on" | "off" (condition false) | "depends" (condition unknown)
    kind: str   # "priced" | "free" | "usage-based" | "not-estimated"
    components: tuple[Component, ...] = ()
    detail: str = ""
    notes: tuple[str, ...] = ()
    condition: str | None = None

    @property
    def monthly(self) -> float:
        """Sum of the components whose price and quantity are known."""
        return sum(c.monthly or 0.0 for c in self.components)

    @property
    def has_unknown(self) -> bool:
        return any(c.status == "unknown" for c in self.components)


@dataclass(frozen=True, slots=True)
class Assumption:
    label: str
    value: str
    source: str


@dataclass(frozen=True)
class StackEstimate:
    """The estimate of one stack in one environment."""

    stack_id: str
    environment: str | None
    region: str | None
    resources: tuple[ResourceCost, ...]
    assumptions: tuple[Assumption, ...]
    price_dates: tuple[str, ...]

    @property
    def counted(self) -> tuple[ResourceCost, ...]:
        return tuple(r for r in self.resources if r.state == "on")

    @property
    def total(self) -> float:
        return sum(r.monthly for r in self.counted)

    @property
    def depends_total(self) -> float:
        return sum(r.monthly for r in self.resources if r.state == "depends")

    @property
    def unknown_components(self) -> tuple[tuple[ResourceCost, Component], ...]:
        return tuple((r, c) for r in self.counted for c in r.components if c.status == "unknown")

    def by_service(self) -> list[tuple[str, float]]:
        sums: dict[str, float] = {}
        for res in self.counted:
            for comp in res.components:
                if comp.monthly is not None:
                    sums[comp.service] = sums.get(comp.service, 0.0) + comp.monthly
        return sorted(sums.items(), key=lambda kv: (-round(kv[1], 2), kv[0]))

    def by_region(self) -> list[tuple[str, float]]:
        sums: dict[str, float] = {}
        for res in self.counted:
            for comp in res.components:
                if comp.monthly is not None:
                    key = comp.region or "unknown region"
                    sums[key] = sums.get(key, 0.0) + comp.monthly
        return sorted(sums.items(), key=lambda kv: (-round(kv[1], 2), kv[0]))


#: How the estimator works: shown on every cost page next to the assumptions.
METHOD_NOTES: tuple[str, ...] = (
    "On-demand list prices in USD, before tax; no free tier, Reserved Instances, Savings Plans "
    "or credits are applied.",
    "Hourly resources run every hour of the month.",
    "A Multi-AZ RDS DB instance is billed as two instances (primary and standby) and its "
    "storage twice, as the Amazon RDS user guide describes Multi-AZ billing.",
    "A read replica is billed as its own DB instance plus its own storage.",
    "Data transfer between Availability Zones is billed on both sides (out and in).",
    "Public IPv4 addresses (Fargate tasks with a public IP, internet-facing load balancers, "
    "Elastic IPs) are billed per address-hour.",
    "An unknown price is shown as unknown and left out of the total; it is never estimated "
    "from another Region or instance size.",
)

# ----------------------------------------------------------------------------- evaluation

_NOVALUE = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()

#: Resource types that cost nothing by themselves.
FREE_TYPES = frozenset({
    "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::RouteTable", "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::NetworkAcl", "AWS::EC2::NetworkAclEntry",
    "AWS::EC2::SubnetNetworkAclAssociation", "AWS::EC2::EgressOnlyInternetGateway",
    "AWS::EC2::VPCCidrBlock", "AWS::EC2::DHCPOptions", "AWS::EC2::VPCDHCPOptionsAssociation",
    "AWS::EC2::LaunchTemplate", "AWS::EC2::KeyPair", "AWS::EC2::PlacementGroup",
    "AWS::EC2::EIPAssociation",
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile",
    "AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::UserToGroupAddition", "AWS::IAM::AccessKey",
    "AWS::IAM::ServiceLinkedRole", "AWS::KMS::Alias",
    "AWS::RDS::DBSubnetGroup", "AWS::RDS::DBParameterGroup", "AWS::RDS::DBClusterParameterGroup",
    "AWS::RDS::OptionGroup", "AWS::ElastiCache::SubnetGroup", "AWS::ElastiCache::ParameterGroup",
    "AWS::ElastiCache::User", "AWS::ElastiCache::UserGroup",
    "AWS::EFS::MountTarget", "AWS::EFS::AccessPoint",
    "AWS::ECS::TaskDefinition", "AWS::ECS::ClusterCapacityProviderAssociations",
    "AWS::ElasticLoadBalancingV2::Listener", "AWS::ElasticLoadBalancingV2::ListenerRule",
    "AWS::ElasticLoadBalancingV2::TargetGroup",
    "AWS::ElasticLoadBalancingV2::ListenerCertificate",
    "AWS::SNS::Subscription", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy", "AWS::Lambda::Permission", "AWS::Lambda::Version",
    "AWS::Lambda::Alias", "AWS::Logs::SubscriptionFilter", "AWS::Logs::MetricFilter",
    "AWS::CloudFormation::WaitCondition", "AWS::CloudFormation::WaitConditionHandle",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy", "AWS::AutoScaling::ScalingPolicy",
    "AWS::AutoScaling::LifecycleHook", "AWS::Route53::RecordSet",
    "AWS::Route53::RecordSetGroup", "AWS::CertificateManager::Certificate",
    "AWS::SSM::Parameter", "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method", "AWS::ApiGateway::Account", "AWS::Events::EventBusPolicy",
    "AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Stage", "AWS::AutoScaling::LaunchConfiguration",
    "AWS::CloudFormation::Macro", "AWS::SSM::Document", "AWS::ResourceGroups::Group",
    "AWS::EC2::NetworkInterface", "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::LayerVersion", "AWS::Serverless::LayerVersion",
})

#: Resource types billed by usage (requests, GB stored, ...) that a template cannot state.
USAGE_BASED_TYPES: dict[str, str] = {
    "AWS::S3::Bucket": "Amazon S3",
    "AWS::Lambda::Function": "AWS Lambda",
    "AWS::Serverless::Function": "AWS Lambda",
    "AWS::SQS::Queue": "Amazon SQS",
    "AWS::SNS::Topic": "Amazon SNS",
    "AWS::DynamoDB::Table": "Amazon DynamoDB",
    "AWS::DynamoDB::GlobalTable": "Amazon DynamoDB",
    "AWS::Logs::LogGroup": "Amazon CloudWatch Logs",
    "AWS::Events::Rule": "Amazon EventBridge",
    "AWS::Events::EventBus": "Amazon EventBridge",
    "AWS::ApiGateway::RestApi": "Amazon API Gateway",
    "AWS::ApiGatewayV2::Api": "Amazon API Gateway",
    "AWS::StepFunctions::StateMachine": "AWS Step Functions",
    "AWS::ElastiCache::ServerlessCache": "Amazon ElastiCache",
    "AWS::ECR::Repository": "Amazon ECR",
    "AWS::CloudFront::Distribution": "Amazon CloudFront",
    "AWS::Kinesis::Stream": "Amazon Kinesis",
    "AWS::Serverless::Api": "Amazon API Gateway",
    "AWS::Serverless::HttpApi": "Amazon API Gateway",
    "AWS::Serverless::StateMachine": "AWS Step Functions",
    "AWS::Serverless::SimpleTable": "Amazon DynamoDB",
    "AWS::Config::ConfigRule": "AWS Config",
    "AWS::Pipes::Pipe": "Amazon EventBridge",
    "AWS::CodeBuild::Project": "AWS CodeBuild",
}

#: Types whose cost lives elsewhere, with the reason shown on the page.
ELSEWHERE: dict[str, str] = {
    "AWS::CloudFormation::Stack": "Nested stack: its resources are in its own template (add it "
    "to the handbook as a stack to estimate it)",
    "AWS::Serverless::Application": "Nested application: its resources are in its own template",
    "AWS::AutoScaling::AutoScalingGroup": "Its EC2 instances are billed per instance type; the "
    "price table has no EC2 instance prices",
}

SERVICE_NAMES: dict[str, str] = {
    "RDS": "Amazon RDS", "ElastiCache": "Amazon ElastiCache", "EFS": "Amazon EFS",
    "ECS": "Amazon ECS", "ElasticLoadBalancingV2": "Elastic Load Balancing",
    "ElasticLoadBalancing": "Elastic Load Balancing", "KMS": "AWS KMS",
    "CloudWatch": "Amazon CloudWatch", "EC2": "Amazon EC2",
    "SecretsManager": "AWS Secrets Manager", "Route53": "Amazon Route 53",
}

FARGATE = "AWS Fargate"
VPC_IPV4 = "Public IPv4 addresses"
TRANSFER = "Data transfer"


@dataclass
class SourceDB:
    """A DB instance in another stack (or this one) that a read replica copies."""

    resource: Resource
    properties: Mapping[str, Any]
    region: str | None
    stack_id: str




@dataclass
class _Ctx:
    template: Template
    region: str | None
    params: dict[str, Any]
    param_sources: dict[str, str]
    usage: dict[str, UsageValue]
    prices: PriceTable
    source_db: Callable[[Any], SourceDB | None] = lambda expr: None
    used_usage: list[str] = field(default_factory=list)
    facts: list[Assumption] = field(default_factory=list)

    conditions: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.conditions = {c.name: c.expression for c in self.template.conditions}

    @property
    def hours(self) -> float:
        return self.use("hours_per_month") or 730.0

    def use(self, key: str) -> float | None:
        if key not in self.used_usage:
            self.used_usage.append(key)
        return self.usage[key].value

    def resolve(self, value: Any) -> Any:
        """Deep-evaluate ``value``; ``AWS::NoValue`` removes keys and items."""
        if type(value) in SCALARS:  # most leaves: no intrinsic, mapping or list test
            return value
        if intrinsic(value) is not None:
            out = evaluate(value, self.params, self.conditions, self.template.mappings)
            if out is _NOVALUE or isinstance(out, Unknown):
                return out
            if isinstance(out, (dict, list)):
                return self.resolve(out)
            return out
        if isinstance(value, dict):
            res = {}
            for k, v in value.items():
                r = v if type(v) in SCALARS else self.resolve(v)
                if r is not _NOVALUE:
                    res[k] = r
            return res
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not _NOVALUE]
        return value

    def price(self, price_id: str | None, region: str | None = None) -> Price | None:
        if price_id is None:
            return None
        return self.prices.get(price_id, region or self.region)

    def comp(self, name: str, service: str, unit: str, quantity: float | None,
             price_id: str | None, region: str | None = None, note: str = "") -> Component:
        where = region or self.region
        return Component(name, service, unit, quantity, price_id, self.price(price_id, where),
                         where, note)

    def source_of(self, expr: Any) -> str:
        """Where a property value comes from, for the assumptions list."""
        fn = intrinsic(expr)
        if fn and fn[0] == "Ref" and isinstance(fn[1], str):
            return self.param_sources.get(fn[1], f"parameter {fn[1]}")
        if fn:
            return "template (expression evaluated for this environment)"
        return "template"

    def fact(self, label: str, value: str, source: str) -> None:
        self.facts.append(Assumption(label, value, source))


def _num(value: Any) -> float | None:
    """A count or size from a property value; None when it is not a number >= 0."""
    if isinstance(value, bool):
        return None
    out: float | None = None
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            return None
    return out if out is not None and out >= 0 and out == out and out != float("inf") else None


def _list(value: Any) -> list[Any]:
    """``value`` if it is a list (an unknown or malformed value counts as empty)."""
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _known(value: Any) -> bool:
    return value is not None and not isinstance(value, Unknown)


def _why(value: Any) -> str:
    return value.reason if isinstance(value, Unknown) else "not set"


def _fmt_qty(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


# ----------------------------------------------------------------------------- models

Model = Callable[[_Ctx, Resource, dict[str, Any]], tuple[list[Component], str, list[str]]]


def _rds_instance(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    notes: list[str] = []
    source_expr = res.properties.get("SourceDBInstanceIdentifier")
    is_replica = _known(p.get("SourceDBInstanceIdentifier")) or (
        source_expr is not None and "SourceDBInstanceIdentifier" in p)
    src = ctx.source_db(source_expr) if is_replica else None
    src_props = src.properties if src else {}
    engine = p.get("Engine", src_props.get("Engine"))
    cls = p.get("DBInstanceClass")
    multi_az = p.get("MultiAZ", False)
    if not _known(multi_az):
        notes.append(f"MultiAZ is not known for this environment ({_why(multi_az)}): "
                     "costed as Single-AZ")
        multi_az = False
    multi_az = str(multi_az).lower() == "true"
    copies = 2 if multi_az else 1
    eng = str(engine).lower() if _known(engine) else None
    if eng is not None and (eng.startswith("aurora") or "DBClusterIdentifier" in p):
        notes.append("Aurora instance: storage and I/O are billed on the cluster (usage-based)")
    price_eng = {"postgres": "postgres", "mysql": "mysql"}.get(eng or "", eng)
    comps: list[Component] = []
    label = "Read replica instance" if is_replica else "Database instance"
    deploy = "Multi-AZ: primary + standby" if multi_az else "Single-AZ"
    if not _known(cls):
        comps.append(ctx.comp(f"{label} ({deploy}, class unknown: {_why(cls)})", "Amazon RDS",
                              "hours", ctx.hours * copies, None))
    elif eng is None:
        comps.append(ctx.comp(f"{label} ({deploy}, {cls}, engine unknown)", "Amazon RDS",
                              "hours", ctx.hours * copies, None))
    else:
        comps.append(ctx.comp(f"{label} ({deploy}, {cls}, {eng})", "Amazon RDS", "hours",
                              ctx.hours * copies, f"rds.instance.{price_eng}.{cls}"))
        ctx.fact(f"{res.logical_id}: instance class", str(cls),
                 ctx.source_of(res.properties.get("DBInstanceClass")))
    if eng is None or not eng.startswith("aurora"):
        size = p.get("AllocatedStorage", src_props.get("AllocatedStorage"))
        size_src = (ctx.source_of(res.properties.get("AllocatedStorage"))
                    if "AllocatedStorage" in p else
                    f"source DB instance {src.resource.logical_id} in stack {src.stack_id}"
                    if src and "AllocatedStorage" in src_props else "")
        stype = p.get("StorageType", src_props.get("StorageType"))
        if not _known(stype):
            stype = "io1" if _known(p.get("Iops")) else "gp3"
            notes.append(f"StorageType not set: {stype} assumed (the RDS default; gp2 and gp3 "
                         "storage cost the same per GB)")
        gb = _num(size)
        if gb is None:
            comps.append(ctx.comp(f"Storage ({stype}, size unknown)", "Amazon RDS", "GB-month",
                                  None, f"rds.storage.{stype}"))
        else:
            comps.append(ctx.comp(f"Storage ({stype}, {_fmt_qty(gb)} GB"
                                  f"{' x 2 for the standby' if multi_az else ''})",
                                  "Amazon RDS", "GB-month", gb * copies,
                                  f"rds.storage.{stype}"))
            ctx.fact(f"{res.logical_id}: allocated storage", f"{_fmt_qty(gb)} GB", size_src)
        if str(stype) in ("io1", "io2") or _known(p.get("Iops")):
            notes.append("Provisioned IOPS are billed per IOPS-month: not estimated")
    if is_replica:
        src_region = None
        value = p.get("SourceDBInstanceIdentifier")
        if isinstance(value, str) and value.startswith("arn:"):
            parts = value.split(":")
            src_region = parts[3] if len(parts) > 3 else None
        elif src is not None:
            src_region = src.region
        if src_region and ctx.region and src_region != ctx.region:
            gb = ctx.use("cross_region_transfer_gb")
            comps.append(ctx.comp(f"Replication traffic from {src_region} (inter-Region "
                                  f"transfer, billed in {src_region})", TRANSFER, "GB", gb,
                                  "transfer.inter-region", src_region))
        elif not src_region:
            notes.append("Source of the read replica not resolved: cross-Region transfer "
                         "(if any) not estimated")
    notes.append("Backup storage up to the size of the database is free; beyond it, billed "
                 "per GB-month (usage-based)")
    detail = ", ".join(str(x) for x in (cls if _known(cls) else None, eng,
                                        "Multi-AZ" if multi_az else None,
                                        "read replica" if is_replica else None) if x)
    return comps, detail, notes


def _cache_nodes(p: dict[str, Any]) -> tuple[float | None, str]:
    n = _num(p.get("NumCacheClusters"))
    if n is not None:
        return n, "NumCacheClusters"
    groups = p.get("NodeGroupConfiguration")
    if isinstance(groups, list) and groups:
        total = 0.0
        for g in groups:
            rc = _num(g.get("ReplicaCount")) if isinstance(g, dict) else None
            total += 1 + (rc if rc is not None else 0)
        return total, "NodeGroupConfiguration"
    ng, rp = p.get("NumNodeGroups"), p.get("ReplicasPerNodeGroup")
    if ng is not None or rp is not None:
        ngn, rpn = _num(ng) if ng is not None else 1.0, _num(rp) if rp is not None else 0.0
        if ngn is None or rpn is None:
            return None, "NumNodeGroups/ReplicasPerNodeGroup"
        return ngn * (1 + rpn), "NumNodeGroups x (1 + ReplicasPerNodeGroup)"
    azs = p.get("PreferredCacheClusterAZs")
    if isinstance(azs, list) and azs:
        return float(len(azs)), "PreferredCacheClusterAZs"
    return 1.0, "default (one node)"


def _elasticache(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    notes: list[str] = []
    if res.type == "AWS::ElastiCache::CacheCluster":
        nodes, how = _num(p.get("NumCacheNodes")), "NumCacheNodes"
    else:
        nodes, how = _cache_nodes(p)
    node_type = p.get("CacheNodeType")
    engine = str(p.get("Engine", "redis")).lower()
    price_id = None
    if _known(node_type):
        price_id = (f"elasticache.node.{node_type}" if engine in ("redis", "memcached")
                    else f"elasticache.{engine}.node.{node_type}")
        ctx.fact(f"{res.logical_id}: node type", str(node_type),
                 ctx.source_of(res.properties.get("CacheNodeType")))
    if nodes is None:
        notes.append(f"Node count not known ({how})")
    else:
        ctx.fact(f"{res.logical_id}: nodes", _fmt_qty(nodes), f"template ({how})")
    name = (f"Cache nodes ({_fmt_qty(nodes) if nodes is not None else '?'} x "
            f"{node_type if _known(node_type) else 'unknown type'}, {engine})")
    comps = [ctx.comp(name, "Amazon ElastiCache", "hours",
                      ctx.hours * nodes if nodes is not None else None, price_id)]
    if nodes is None:
        comps = [Component(name, "Amazon ElastiCache", "hours", 0.0, price_id, None, ctx.region,
                           "node count unknown")]
    if _num(p.get("SnapshotRetentionLimit")):
        notes.append("Snapshot storage beyond one free snapshot per node group is billed per "
                     "GB-month (usage-based)")
    return comps, f"{_fmt_qty(nodes) if nodes is not None else '?'} x {node_type}", notes


def _efs(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    notes: list[str] = []
    gb = ctx.use("efs_storage_gb") or 0.0
    lifecycle = _list(p.get("LifecyclePolicies"))
    to_ia = any(isinstance(x, dict) and "TransitionToIA" in x for x in lifecycle)
    share = ctx.use("efs_ia_share") or 0.0 if to_ia else 0.0
    one_zone = "AvailabilityZoneName" in p
    cls = "onezone." if one_zone else ""
    comps = [ctx.comp(f"Standard storage ({_fmt_qty(gb * (1 - share))} GB)", "Amazon EFS",
                      "GB-month", gb * (1 - share), f"efs.storage.{cls}standard")]
    if share:
        comps.append(ctx.comp(f"Infrequent Access storage ({_fmt_qty(gb * share)} GB)",
                              "Amazon EFS", "GB-month", gb * share, f"efs.storage.{cls}ia"))
        notes.append("Reading from Infrequent Access is billed per GB (usage-based)")
    if any(isinstance(x, dict) and "TransitionToArchive" in x for x in lifecycle):
        notes.append("Archive storage is not modelled separately: costed as Infrequent Access")
    mode = p.get("ThroughputMode", "bursting")
    if mode == "provisioned":
        mibps = _num(p.get("ProvisionedThroughputInMibps"))
        comps.append(ctx.comp(f"Provisioned throughput ({_fmt_qty(mibps or 0)} MiB/s)",
                              "Amazon EFS", "MiBps-month", mibps, "efs.throughput.provisioned"))
    elif mode == "elastic":
        notes.append("Elastic throughput: data read and written is billed per GB (usage-based)")
    repl = p.get("ReplicationConfiguration")
    for dest in _list(_dict(repl).get("Destinations")):
        if not isinstance(dest, dict):
            continue
        dest_region = dest.get("Region")
        if not _known(dest_region) or dest_region == ctx.region:
            continue
        if "FileSystemId" not in dest:
            comps.append(ctx.comp(f"Replica file system storage in {dest_region} "
                                  f"({_fmt_qty(gb)} GB, Standard)", "Amazon EFS", "GB-month",
                                  gb, "efs.storage.standard", dest_region))
        else:
            notes.append(f"Replicates into an existing file system in {dest_region}: its storage "
                         "is costed where it is declared")
        comps.append(ctx.comp(f"Replication traffic to {dest_region} (inter-Region transfer)",
                              TRANSFER, "GB", ctx.use("cross_region_transfer_gb"),
                              "transfer.inter-region"))
    if one_zone:
        notes.append("EFS One Zone storage")
    detail = f"{_fmt_qty(gb)} GB" + (f", {int(share * 100)} % in Infrequent Access" if share
                                     else "")
    return comps, detail, notes


def _size(value: Any, per_unit: float) -> float | None:
    """``"512"`` (CPU units / MiB) or ``"0.5 vCPU"`` / ``"1 GB"`` -> vCPU / GB."""
    if isinstance(value, str):
        m = re.match(r"^\s*([\d.]+)\s*(vcpu|gb)\s*$", value, re.I)
        if m:
            return float(m.group(1))
    num = _num(value)
    return num / per_unit if num is not None else None


def _ecs_service(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    notes: list[str] = []
    td_expr = res.properties.get("TaskDefinition")
    fn = intrinsic(td_expr)
    td = ctx.template.resource(fn[1]) if fn and fn[0] == "Ref" and isinstance(fn[1], str) else None
    td_props = ctx.resolve(td.properties) if td is not None else {}
    launch = p.get("LaunchType")
    cps = _list(p.get("CapacityProviderStrategy"))
    providers = [str(x.get("CapacityProvider")) for x in cps if isinstance(x, dict)]
    compat = _list(td_props.get("RequiresCompatibilities"))
    if launch == "FARGATE" or "FARGATE" in providers or (
            not launch and not providers and compat == ["FARGATE"]):
        fargate = True
    else:
        fargate = False
    if p.get("SchedulingStrategy") == "DAEMON" or not fargate:
        notes.append("Runs on EC2 container instances (or a capacity provider): the instances are "
                     "billed as EC2, not estimated here")
        return [], "EC2 launch type", notes
    count = p.get("DesiredCount", 1)
    count_n = _num(count)
    if count_n is None:
        notes.append(f"DesiredCount unknown ({_why(count)})")
    ctx.fact(f"{res.logical_id}: running tasks",
             _fmt_qty(count_n) if count_n is not None else "unknown",
             ctx.source_of(res.properties.get("DesiredCount"))
             if "DesiredCount" in res.properties else "default (1)")
    cpu = _size(td_props.get("Cpu"), 1024)
    mem = _size(td_props.get("Memory"), 1024)
    if td is None:
        notes.append("Task definition not in this template: task size unknown")
    platform = _dict(td_props.get("RuntimePlatform"))
    arch = "linux-arm" if platform.get("CpuArchitecture") == "ARM64" else "linux-x86"
    if str(platform.get("OperatingSystemFamily", "LINUX")).startswith("WINDOWS"):
        arch = "windows-x86"
    spot = "FARGATE_SPOT" in providers
    if spot:
        notes.append("FARGATE_SPOT capacity is costed at the on-demand price")
    if td is not None:
        ctx.fact(f"{res.logical_id}: task size",
                 f"{_fmt_qty(cpu) if cpu else '?'} vCPU, {_fmt_qty(mem) if mem else '?'} GB",
                 f"template (Cpu and Memory of {td.logical_id})")
    tasks = count_n
    n_tasks = ("? tasks" if tasks is None else
               f"{_fmt_qty(tasks)} task{'' if tasks == 1 else 's'}")
    comps = [
        ctx.comp(f"vCPU ({n_tasks} x {_fmt_qty(cpu) if cpu else '?'} vCPU, {arch})", FARGATE,
                 "vCPU-hours", tasks * cpu * ctx.hours if tasks is not None and cpu else None,
                 f"fargate.vcpu.{arch}"),
        ctx.comp(f"Memory ({n_tasks} x {_fmt_qty(mem) if mem else '?'} GB)", FARGATE,
                 "GB-hours", tasks * mem * ctx.hours if tasks is not None and mem else None,
                 f"fargate.memory.{arch}"),
    ]
    net = _dict(_dict(p.get("NetworkConfiguration")).get("AwsvpcConfiguration"))
    if net.get("AssignPublicIp") == "ENABLED":
        comps.append(ctx.comp(f"Public IPv4 addresses (one per task, {n_tasks})",
                              VPC_IPV4, "address-hours",
                              tasks * ctx.hours if tasks is not None else None,
                              "vpc.public-ipv4"))
    if count_n == 0:
        notes.append("No task runs while DesiredCount is 0 (scaled to zero)")
    storage = _num(_dict(td_props.get("EphemeralStorage")).get("SizeInGiB"))
    if storage and storage > 20:
        notes.append("Ephemeral storage above 20 GiB is billed per GB-hour: not estimated")
    return comps, f"{n_tasks} on Fargate", notes


def _ecs_cluster(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    settings = _list(p.get("ClusterSettings"))
    insights = any(isinstance(s, dict) and s.get("Name") == "containerInsights"
                   and s.get("Value") in ("enabled", "enhanced") for s in settings)
    notes = ["Container Insights metrics and logs are billed as CloudWatch custom metrics and "
             "log ingestion (usage-based)"] if insights else []
    return [], "", notes


def _load_balancer(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    notes: list[str] = []
    if res.type == "AWS::ElasticLoadBalancing::LoadBalancer":
        kind, hour_id, cap_id, cap_key, cap_unit = "classic", "elb.classic.hour", None, None, ""
    else:
        kind = str(p.get("Type", "application"))
        hour_id = f"elb.{kind}.hour"
        cap_id, cap_key, cap_unit = {
            "application": ("elb.application.lcu", "alb_lcu", "LCU-hours"),
            "network": ("elb.network.nlcu", "nlb_nlcu", "NLCU-hours"),
        }.get(kind, (f"elb.{kind}.capacity", None, "capacity-unit-hours"))
    comps = [ctx.comp(f"Load balancer hours ({kind})", "Elastic Load Balancing", "hours",
                      ctx.hours, hour_id)]
    if cap_key:
        units = ctx.use(cap_key) or 0.0
        comps.append(ctx.comp(f"Capacity units ({_fmt_qty(units)} per hour, assumed)",
                              "Elastic Load Balancing", cap_unit, units * ctx.hours, cap_id))
    elif cap_id:
        comps.append(ctx.comp("Capacity units", "Elastic Load Balancing", cap_unit, None, cap_id))
    scheme = p.get("Scheme", "internet-facing")
    if scheme == "internet-facing" and p.get("IpAddressType") != "dualstack-without-public-ipv4":
        subnets = _list(p.get("Subnets")) or _list(p.get("SubnetMappings"))
        azs = len(subnets) if isinstance(subnets, list) and subnets else 2
        comps.append(ctx.comp(f"Public IPv4 addresses (one per Availability Zone, {azs})",
                              VPC_IPV4, "address-hours", azs * ctx.hours, "vpc.public-ipv4"))
    return comps, f"{kind}, {scheme}", notes


def _nat(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[list[Component], str, list[str]]:
    gb = ctx.use("nat_gateway_data_gb")
    return [ctx.comp("NAT gateway hours", "Amazon VPC", "hours", ctx.hours, "vpc.nat.hour"),
            ctx.comp(f"Data processed ({_fmt_qty(gb or 0)} GB, assumed)", "Amazon VPC", "GB",
                     gb, "vpc.nat.data")], str(p.get("ConnectivityType", "public")), []


def _eip(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[list[Component], str, list[str]]:
    return [ctx.comp("Public IPv4 address", VPC_IPV4, "address-hours", ctx.hours,
                     "vpc.public-ipv4")], "", []


def _ebs(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[list[Component], str, list[str]]:
    vtype = str(p.get("VolumeType", "gp2"))
    size = _num(p.get("Size"))
    notes = [] if vtype in ("gp2", "gp3") else [f"{vtype} volumes also bill provisioned IOPS"]
    return [ctx.comp(f"Volume ({vtype}, {_fmt_qty(size) if size else '?'} GB)", "Amazon EC2",
                     "GB-month", size, f"ebs.{vtype}")], f"{vtype}", notes


def _ec2_instance(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    itype = p.get("InstanceType", "m1.small")
    comps = [ctx.comp(f"Instance hours ({itype})", "Amazon EC2", "hours", ctx.hours,
                      f"ec2.instance.linux.{itype}")]
    for bdm in _list(p.get("BlockDeviceMappings")):
        ebs = bdm.get("Ebs") if isinstance(bdm, dict) else None
        if isinstance(ebs, dict) and _num(ebs.get("VolumeSize")):
            vtype = str(ebs.get("VolumeType", "gp2"))
            size = _num(ebs.get("VolumeSize")) or 0.0
            comps.append(ctx.comp(f"Volume {bdm.get('DeviceName', '')} ({vtype}, "
                                  f"{_fmt_qty(size)} GB)", "Amazon EC2", "GB-month", size,
                                  f"ebs.{vtype}"))
    return comps, str(itype), []


def _kms(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[list[Component], str, list[str]]:
    notes = ["API requests are billed per 10,000 (usage-based)"]
    if str(p.get("EnableKeyRotation", "false")).lower() == "true":
        notes.append("Automatic rotation: each of the first two rotations adds a monthly key "
                     "charge (from the second year)")
    return [ctx.comp("Customer managed key", "AWS KMS", "key-month", 1.0, "kms.key")], "", notes


def _alarm(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    metrics = p.get("Metrics")
    period = _num(p.get("Period"))
    if isinstance(metrics, list) and metrics:
        count = float(sum(1 for m in metrics if isinstance(m, dict) and "MetricStat" in m) or 1)
        periods = [_num(_dict(m.get("MetricStat")).get("Period")) for m in metrics
                   if isinstance(m, dict) and isinstance(m.get("MetricStat"), dict)]
        period = min((x for x in periods if x), default=period)
    else:
        count = 1.0
    high = period is not None and period < 60
    kind = "high-resolution" if high else "standard"
    return [ctx.comp(f"Alarm metrics ({_fmt_qty(count)}, {kind})", "Amazon CloudWatch",
                     "alarm metric-month", count, f"cloudwatch.alarm.{kind}")], kind, []


def _composite_alarm(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    return [ctx.comp("Composite alarm", "Amazon CloudWatch", "alarm-month", 1.0,
                     "cloudwatch.alarm.composite")], "", []


def _dashboard(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    return [ctx.comp("Dashboard", "Amazon CloudWatch", "dashboard-month", 1.0,
                     "cloudwatch.dashboard")], "", [
        "The first three dashboards of an account are free (not applied here)"]


def _secret(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    return [ctx.comp("Secret", "AWS Secrets Manager", "secret-month", 1.0,
                     "secretsmanager.secret")], "", [
        "API calls are billed per 10,000 (usage-based)"]


def _hosted_zone(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]]:
    return [Component("Hosted zone", "Amazon Route 53", "zone-month", 1.0,
                      "route53.hosted-zone", ctx.prices.get("route53.hosted-zone", "global"),
                      "global")], "", ["DNS queries are billed per million (usage-based)"]


def _usage_model(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> tuple[
        list[Component], str, list[str]] | None:
    """S3, Lambda and SQS when ``usage`` gives figures; None keeps them usage-based."""
    if res.type == "AWS::S3::Bucket" and ctx.usage["s3_storage_gb"].value is not None:
        gb = ctx.use("s3_storage_gb")
        return [ctx.comp(f"S3 Standard storage ({_fmt_qty(gb or 0)} GB)", "Amazon S3",
                         "GB-month", gb, "s3.standard.storage")], "", [
            "Requests and data transfer are usage-based"]
    if res.type in ("AWS::Lambda::Function", "AWS::Serverless::Function") and (
            ctx.usage["lambda_requests_millions"].value is not None
            or ctx.usage["lambda_gb_seconds"].value is not None):
        return [ctx.comp("Requests", "AWS Lambda", "million requests",
                         ctx.use("lambda_requests_millions"), "lambda.requests"),
                ctx.comp("Duration", "AWS Lambda", "GB-seconds", ctx.use("lambda_gb_seconds"),
                         "lambda.duration")], "", ["The monthly free tier is not applied"]
    if res.type == "AWS::SQS::Queue" and ctx.usage["sqs_requests_millions"].value is not None:
        fifo = str(p.get("FifoQueue", "false")).lower() == "true"
        return [ctx.comp("Requests", "Amazon SQS", "million requests",
                         ctx.use("sqs_requests_millions"),
                         "sqs.requests.fifo" if fifo else "sqs.requests.standard")], "", []
    return None


MODELS: dict[str, Model] = {
    "AWS::RDS::DBInstance": _rds_instance,
    "AWS::ElastiCache::ReplicationGroup": _elasticache,
    "AWS::ElastiCache::CacheCluster": _elasticache,
    "AWS::EFS::FileSystem": _efs,
    "AWS::ECS::Service": _ecs_service,
    "AWS::ECS::Cluster": _ecs_cluster,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::ElasticLoadBalancing::LoadBalancer": _load_balancer,
    "AWS::EC2::NatGateway": _nat,
    "AWS::EC2::EIP": _eip,
    "AWS::EC2::Volume": _ebs,
    "AWS::EC2::Instance": _ec2_instance,
    "AWS::KMS::Key": _kms,
    "AWS::KMS::ReplicaKey": _kms,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::CompositeAlarm": _composite_alarm,
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Route53::HostedZone": _hosted_zone,
}


def _service_name(res: Resource) -> str:
    if res.type in USAGE_BASED_TYPES:
        return USAGE_BASED_TYPES[res.type]
    if res.type == "AWS::ECS::Service":
        return FARGATE
    if res.type in ("AWS::EC2::NatGateway",):
        return "Amazon VPC"
    return SERVICE_NAMES.get(res.service, res.service)


#: The types :func:`_multi_az_store` reads properties of.
_MULTI_AZ_TYPES = frozenset({"AWS::RDS::DBInstance", "AWS::ElastiCache::ReplicationGroup"})


def _multi_az_store(ctx: _Ctx, res: Resource, p: dict[str, Any]) -> bool:
    """Does this resource replicate across Availability Zones (and so drive inter-AZ traffic)?"""
    if res.type == "AWS::RDS::DBInstance":
        return str(p.get("MultiAZ", False)).lower() == "true"
    if res.type == "AWS::ElastiCache::ReplicationGroup":
        nodes, _ = _cache_nodes(p)
        multi = str(p.get("MultiAZEnabled", p.get("AutomaticFailoverEnabled", False))).lower()
        return bool(nodes and nodes > 1 and multi == "true")
    if res.type == "AWS::RDS::DBCluster":
        return True
    return False


def estimate_template(template: Template, region: str | None, params: Mapping[str, Any],
                      usage: dict[str, UsageValue], prices: PriceTable, *,
                      stack_id: str = "", environment: str | None = None,
                      param_sources: Mapping[str, str] | None = None,
                      source_db: Callable[[Any], SourceDB | None] | None = None) -> StackEstimate:
    """Estimate one template deployed in ``region`` with parameter values ``params``.

    ``params`` holds parameter and pseudo-parameter values (anything absent is unknown);
    ``source_db`` resolves a read replica's ``SourceDBInstanceIdentifier`` expression to
    the source instance (possibly in another stack).
    """
    values = {k: v for k, v in params.items() if not isinstance(v, SecretRef)}
    values["AWS::NoValue"] = _NOVALUE
    if region:
        values.setdefault("AWS::Region", region)
    ctx = _Ctx(template, region, values, dict(param_sources or {}), usage, prices)
    if source_db is not None:
        ctx.source_db = source_db
    out: list[ResourceCost] = []
    multi_az_stores: list[str] = []
    for res in template.resources:
        state = "on"
        if res.condition:
            truth = condition_value(res.condition, values, ctx.conditions, template.mappings)
            state = "depends" if isinstance(truth, Unknown) else ("on" if truth else "off")
        service = _service_name(res)
        model = MODELS.get(res.type)
        # only the cost models and the multi-AZ test read properties: resolving those of
        # every other resource (most of a template) was most of the estimate's time
        if model is not None or res.type in USAGE_BASED_TYPES or res.type in _MULTI_AZ_TYPES:
            p = ctx.resolve(res.properties)
            p = p if isinstance(p, dict) else {}
        else:
            p = {}
        mark = (len(ctx.used_usage), len(ctx.facts))
        if model is not None:
            try:
                comps, detail, notes = model(ctx, res, p)
                kind = "priced" if comps else "free"
            except (TypeError, AttributeError, ValueError, KeyError) as exc:
                # a property of an unexpected shape: say so rather than guess
                comps, detail, kind = [], "", "not-estimated"
                notes = [f"Properties could not be evaluated for an estimate ({exc})"]
        elif res.type in USAGE_BASED_TYPES:
            got = _usage_model(ctx, res, p)
            if got is None:
                comps, detail, notes, kind = [], "", ["Billed by usage: not estimated (set the "
                                                      "usage figures in docgen.yml to estimate)"
                                                      ], "usage-based"
            else:
                (comps, detail, notes), kind = got, "priced"
        elif res.type in FREE_TYPES:
            comps, detail, notes, kind = [], "", [], "free"
        elif res.type.startswith("Custom::") or res.type == "AWS::CloudFormation::CustomResource":
            comps, detail, kind = [], "", "free"
            notes = ["Custom resource: no charge of its own (the function behind it is billed "
                     "by usage)"]
        elif res.type in ELSEWHERE:
            comps, detail, notes, kind = [], "", [ELSEWHERE[res.type]], "not-estimated"
        else:
            comps, detail, notes, kind = [], "", [
                "No cost model for this resource type: not estimated"], "not-estimated"
        if state == "off":  # its assumptions do not apply in this environment
            del ctx.used_usage[mark[0]:]
            del ctx.facts[mark[1]:]
        if state == "on" and _multi_az_store(ctx, res, p):
            multi_az_stores.append(res.logical_id)
        out.append(ResourceCost(res.logical_id, res.type, service, state, kind, tuple(comps),
                                detail, tuple(notes), res.condition))
    if multi_az_stores:
        gb = ctx.use("cross_az_transfer_gb") or 0.0
        comp = ctx.comp(f"Between Availability Zones ({_fmt_qty(gb)} GB, out + in)", TRANSFER,
                        "GB", gb * 2, "transfer.inter-az")
        out.append(ResourceCost("Data transfer (stack-wide)", "", TRANSFER, "on", "priced",
                                (comp,), "Multi-AZ data stores: " + ", ".join(multi_az_stores)))
    assumptions = [Assumption(USAGE_KEYS[k].label, format_usage(k, ctx.usage[k].value),
                              ctx.usage[k].source)
                   for k in ctx.used_usage if ctx.usage[k].value is not None]
    assumptions.extend(ctx.facts)
    dates = sorted({c.price.published for r in out for c in r.components if c.price})
    return StackEstimate(stack_id, environment, region, tuple(out), tuple(assumptions),
                         tuple(dates))


# ----------------------------------------------------------------------------- handbook


def _param_sources(stack: Stack, env: Environment | None) -> dict[str, str]:
    sources = {p.name: "template default" for p in stack.template.parameters if p.has_default}
    if env is not None:
        declared = {p.name for p in stack.template.parameters}
        for name in env.parameters:
            if name in declared:
                sources[name] = f"docgen.yml environment {env.name}"
        for name in env.stack_parameters.get(stack.id, {}):
            if name in declared:
                sources[name] = f"docgen.yml environment {env.name} (stack {stack.id})"
    for w in stack.config.wiring:
        sources[w.parameter] = f"output {w.output} of stack {w.from_stack}"
    return sources


def _env_params(stack: Stack, env: Environment | None) -> dict[str, Any]:
    from docgen.stackinfo import Target, parameter_values, pseudo_values, stack_name

    values = parameter_values(stack, env)
    target = Target(env.name if env else None, stack_name(stack, values), stack.config.region,
                    values)
    return pseudo_values(target)


def _source_db_resolver(handbook: Handbook, stack: Stack, env: Environment | None
                        ) -> Callable[[Any], SourceDB | None]:
    """Follow a replica's source to the DB instance: same template, or a wired output."""
    from docgen.stackinfo import follow_reference

    def resolve(expr: Any) -> SourceDB | None:
        found = follow_reference(handbook, stack, expr, "AWS::RDS::DBInstance")
        if found is None or found[1].type != "AWS::RDS::DBInstance":
            return None
        other, res = found
        ctx = _Ctx(other.template, other.config.region, _env_params(other, env), {},
                   {}, PriceTable())
        ctx.params["AWS::NoValue"] = _NOVALUE
        props = ctx.resolve(res.properties)
        return SourceDB(res, props if isinstance(props, dict) else {},
                        other.config.region, other.id)

    return resolve


def estimate_stack(handbook: Handbook, stack: Stack, env: Environment | None,
                   prices: PriceTable) -> StackEstimate:
    """The estimate of ``stack`` in ``env`` (None: template defaults only)."""
    project = handbook.project
    usage = resolve_usage(project.usage, stack.id, project.config_path)
    return estimate_template(
        stack.template, stack.config.region, _env_params(stack, env), usage, prices,
        stack_id=stack.id, environment=env.name if env else None,
        param_sources=_param_sources(stack, env),
        source_db=_source_db_resolver(handbook, stack, env))


def stack_estimates(handbook: Handbook, stack: Stack, prices: PriceTable,
                    fact: Fact = compute_fact) -> dict[str | None, StackEstimate]:
    """The stack's estimate in every environment: ``{env name or None: estimate}``."""
    envs: tuple[Environment | None, ...] = handbook.project.environments or (None,)
    return {env.name if env else None: fact(
        stack, f"cost-estimate:{env.name if env else ''}",
        lambda env=env: estimate_stack(handbook, stack, env, prices)) for env in envs}


def estimate_handbook(handbook: Handbook, prices: PriceTable, fact: Fact = compute_fact
                      ) -> dict[str | None, tuple[StackEstimate, ...]]:
    """Every stack in every environment: ``{env name or None: (estimates in stack order)}``."""
    per_stack = [stack_estimates(handbook, st, prices, fact) for st in handbook.stacks]
    envs: tuple[Environment | None, ...] = handbook.project.environments or (None,)
    return {env.name if env else None: tuple(e[env.name if env else None] for e in per_stack)
            for env in envs}


def format_usage(key: str, value: float | None) -> str:
    """A usage figure with its unit (shares as percentages)."""
    if value is None:
        return "none: usage-based"
    unit = USAGE_KEYS[key].unit
    if unit == "share":
        return f"{value * 100:g} %"
    return f"{_fmt_qty(value)} {unit}"


def format_usd(value: float | None) -> str:
    """``$1,234.56``; None -> ``unknown``."""
    if value is None:
        return "unknown"
    return f"${value:,.2f}"


def format_unit_price(price: Price | None) -> str:
    if price is None:
        return "unknown"
    text = f"{price.usd:.6f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{price.usd:.2f}"
    return f"${text} per {price.unit}"
