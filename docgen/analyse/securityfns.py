"""Named security checks: the logic a YAML condition cannot express.

Knowledge records name these functions (``function: sg_ingress_open``) with ``args``.
Each resource function sees one concrete *variant* of the resource's properties (see
:mod:`docgen.analyse.expand`: intrinsics already resolved per parameter value or
condition branch, unknowns as :class:`~docgen.analyse.expand.Opaque`) and returns a
:class:`FnResult`. Template functions look at the template as a whole. The two tables
at the bottom are the only registry: nothing registers itself on import.

Secrets are never echoed: functions about passwords say *that* a value is written in
the template, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from docgen.analyse.expand import ABSENT, Opaque, OtherValue, ResRef, is_unknown
from docgen.intrinsics import intrinsic
from docgen.model import Resource, Template

# ``isinstance(x, (dict, Mapping))`` is ``isinstance(x, Mapping)``, dict tested first: the
# plain type test is C, Mapping's ABC test a Python call (tens of thousands per corpus build).

PASS, FAIL, UNKNOWN, NA = "pass", "fail", "unknown", "not-applicable"
WORLD = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True, slots=True)
class FnResult:
    status: str  # pass | fail | unknown | not-applicable
    detail: str = ""
    path: tuple[str | int, ...] = ()  # under Properties, for file:line


@dataclass(eq=False)
class FnContext:
    resource: Resource
    props: Mapping[str, Any]
    template: Template
    args: Mapping[str, Any]
    #: looks up the documented default for a path (records that it was used)
    default: Callable[[str], Any] = field(default=lambda path: ABSENT)
    #: scratch space shared by the checks of one template (see ``_open_rules``)
    cache: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TemplateResult:
    subject: str  # what the finding is about (a parameter name, ...)
    subject_type: str
    status: str
    detail: str
    path: tuple[str | int, ...]  # from the template root


# --- helpers -------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is ABSENT or value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _port(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _refers_to(value: Any, logical_id: str) -> bool:
    return isinstance(value, ResRef) and value.target == logical_id


def _statements(doc: Any) -> list[Mapping[str, Any]]:
    if not isinstance(doc, (dict, Mapping)):
        return []
    return [s for s in _as_list(doc.get("Statement")) if isinstance(s, (dict, Mapping))]


# --- network -------------------------------------------------------------------------


def _ingress_rules(ctx: FnContext) -> Iterator[tuple[tuple[str | int, ...], Mapping[str, Any]]]:
    if ctx.resource.type == "AWS::EC2::SecurityGroupIngress":
        yield (), ctx.props
        return
    for i, rule in enumerate(_as_list(ctx.props.get("SecurityGroupIngress", ABSENT))):
        if isinstance(rule, (dict, Mapping)):
            yield ("SecurityGroupIngress", i), rule


def open_ingress(rule: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(source, None) when a rule admits the whole internet, ("", text) when it may
    (computed CIDR), None when it does not."""
    for key in ("CidrIp", "CidrIpv6"):
        value = rule.get(key)
        if isinstance(value, str) and value.strip() in WORLD:
            return value.strip(), None
        if is_unknown(value):
            return "", value.text if isinstance(value, Opaque) else f"parameter {value.parameter}"
    return None


def port_range(rule: Mapping[str, Any]) -> tuple[int, int] | None:
    """The TCP/UDP port range a rule opens (0-65535 for all traffic); None for ICMP."""
    proto = str(rule.get("IpProtocol", "")).lower()
    if proto in ("-1", "all"):
        return 0, 65535
    if proto not in ("tcp", "udp", "6", "17"):
        return None
    lo, hi = _port(rule.get("FromPort")), _port(rule.get("ToPort"))
    if lo is None or hi is None or lo == -1 or hi == -1:
        return 0, 65535
    return lo, hi


def describe_range(rule: Mapping[str, Any]) -> str:
    proto = str(rule.get("IpProtocol", "")).lower()
    rng = port_range(rule)
    if proto in ("-1", "all"):
        return "all traffic"
    if rng is None:
        return f"protocol {proto}"
    lo, hi = rng
    return f"{proto} {lo}" if lo == hi else f"{proto} {lo}-{hi}"


def _open_rules(ctx: FnContext) -> list[tuple[tuple[str | int, ...], Mapping[str, Any],
                                               tuple[str, str | None],
                                               tuple[int, int] | None]]:
    """(path, rule, ``open_ingress``, ``port_range``) of the rules open to the internet.
    Several checks (one per port list) read the same variant of a security group, and a
    group can have hundreds of rules: scanned once per variant (the variant is kept with
    the answer, so its id cannot be reused)."""
    key = ("open ingress", id(ctx.props))
    hit = ctx.cache.get(key)
    if hit is None or hit[0] is not ctx.props:
        rules = []
        for path, rule in _ingress_rules(ctx):
            opened = open_ingress(rule)
            if opened is not None:
                rules.append((path, rule, opened, port_range(rule)))
        hit = ctx.cache[key] = (ctx.props, rules)
    return hit[1]  # type: ignore[no-any-return]


def sg_ingress_open(ctx: FnContext) -> FnResult:
    """Ingress from 0.0.0.0/0 or ::/0. ``args.ports``: fail only when the opened range
    covers one of these ports (ranges and all-traffic rules count); ``args.allowed_ports``:
    fail when any port outside this list is open."""
    ports = [int(p) for p in ctx.args.get("ports", [])]
    allowed = {int(p) for p in ctx.args.get("allowed_ports", [])}
    bad: list[str] = []
    unsure: list[str] = []
    first: tuple[str | int, ...] = ()
    for path, rule, opened, rng in _open_rules(ctx):
        if rng is None and ports:
            continue
        lo, hi = rng if rng is not None else (0, 0)
        if ports:
            hits = [p for p in ports if lo <= p <= hi]
            if not hits:
                continue
            what = f"{describe_range(rule)} (covers {', '.join(map(str, hits))})"
        else:
            if rng is not None and allowed and all(p in allowed for p in range(lo, hi + 1)):
                continue
            what = describe_range(rule)
        source, computed = opened
        if computed is not None:
            unsure.append(f"{what} from {computed}")
        else:
            bad.append(f"{what} from {source}")
            first = first or (*path, "CidrIp" if source == "0.0.0.0/0" else "CidrIpv6")
    if bad:
        return FnResult(FAIL, "ingress open to the internet: " + "; ".join(bad), first)
    if unsure:
        return FnResult(UNKNOWN, "ingress from a CIDR set at deploy time: " + "; ".join(unsure))
    return FnResult(PASS)


def vpc_flow_logs(ctx: FnContext) -> FnResult:
    """A VPC with an ``AWS::EC2::FlowLog`` in the same template pointing at it."""
    for res in ctx.template.resources_of_type("AWS::EC2::FlowLog"):
        props = res.properties
        targets = [props.get("ResourceId"), *_as_list(props.get("ResourceIds"))]
        for t in targets:
            fn = intrinsic(t)
            if fn and fn[0] == "Ref" and fn[1] == ctx.resource.logical_id:
                return FnResult(PASS, f"flow log {res.logical_id}")
    return FnResult(FAIL, "no AWS::EC2::FlowLog in this template captures this VPC's traffic")


def lb_attribute(ctx: FnContext) -> FnResult:
    """A load balancer attribute (``LoadBalancerAttributes`` key/value list)."""
    key, want = str(ctx.args["key"]), str(ctx.args.get("equals", "true")).lower()
    for i, item in enumerate(_as_list(ctx.props.get("LoadBalancerAttributes", ABSENT))):
        if isinstance(item, Mapping) and item.get("Key") == key:
            value = item.get("Value")
            if is_unknown(value):
                return FnResult(
                    UNKNOWN, f"{key} is set at deploy time", ("LoadBalancerAttributes", i)
                )
            ok = str(value).lower() == want
            return FnResult(PASS if ok else FAIL, f"{key} = {value}", ("LoadBalancerAttributes", i))
    default = ctx.default(f"LoadBalancerAttributes.{key}")
    if default is ABSENT:
        return FnResult(FAIL, f"{key} is not set")
    ok = str(default).lower() == want
    return FnResult(PASS if ok else FAIL, f"{key} is not set (default {default})")


def lb_type_matches(ctx: FnContext) -> bool:
    types = ctx.args.get("lb_types")
    if not types:
        return True
    lb_type = ctx.props.get("Type", "application")
    return not isinstance(lb_type, str) or lb_type in types


def lb_attribute_typed(ctx: FnContext) -> FnResult:
    """:func:`lb_attribute` restricted to some load balancer types (``args.lb_types``)."""
    if not lb_type_matches(ctx):
        return FnResult(NA, "not applicable to this load balancer type")
    return lb_attribute(ctx)


# --- IAM and resource policies ------------------------------------------------------


def policy_documents(
    resource: Resource, props: Mapping[str, Any]
) -> list[tuple[tuple[str | int, ...], str, Any]]:
    """(path, policy name, document) for every identity policy a resource carries."""
    out: list[tuple[tuple[str | int, ...], str, Any]] = []
    if resource.type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        name = props.get("PolicyName") or props.get("ManagedPolicyName") or resource.logical_id
        out.append(
            (
                ("PolicyDocument",),
                str(name) if isinstance(name, str) else resource.logical_id,
                props.get("PolicyDocument"),
            )
        )
    for i, pol in enumerate(_as_list(props.get("Policies", ABSENT))):
        if isinstance(pol, (dict, Mapping)):
            name = pol.get("PolicyName")
            out.append(
                (
                    ("Policies", i, "PolicyDocument"),
                    name if isinstance(name, str) else f"#{i + 1}",
                    pol.get("PolicyDocument"),
                )
            )
    return out


_READ_VERBS = ("Describe", "List", "Get", "BatchGet", "Head", "Query", "Scan", "Search", "Lookup")


def _is_read_only(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return any(verb.startswith(v) for v in _READ_VERBS)


def statement_wildcards(stmt: Mapping[str, Any]) -> tuple[bool, list[str], bool]:
    """(admin, wildcard actions, wildcard resource with write actions) of an Allow."""
    if stmt.get("Effect") != "Allow":
        return False, [], False
    actions = [a for a in _as_list(stmt.get("Action")) if isinstance(a, str)]
    resources = [r for r in _as_list(stmt.get("Resource")) if isinstance(r, str)]
    star_res = "*" in resources
    wild = [a for a in actions if a == "*" or a.endswith(":*")]
    if "NotAction" in stmt:
        wild.append("NotAction")
    admin = ("*" in actions or "NotAction" in stmt) and star_res
    writes = star_res and any(not _is_read_only(a) for a in actions)
    return admin, wild, writes


def iam_wildcards(ctx: FnContext) -> FnResult:
    """``args.mode``: ``admin`` (Action * on Resource *), ``action`` (``*`` or
    ``service:*`` actions), ``resource`` (write actions on Resource *)."""
    mode = ctx.args.get("mode", "admin")
    hits: list[str] = []
    first: tuple[str | int, ...] = ()
    unknown = False
    for path, name, doc in policy_documents(ctx.resource, ctx.props):
        if is_unknown(doc):
            unknown = True
            continue
        for j, stmt in enumerate(_statements(doc)):
            admin, wild, writes = statement_wildcards(stmt)
            hit = {"admin": admin, "action": bool(wild), "resource": writes}[mode]
            if hit:
                what = (
                    ", ".join(wild)
                    if mode == "action"
                    else ("Resource *" if mode == "resource" else "Action * on Resource *")
                )
                hits.append(f"policy {name}: {what}")
                first = first or (*path, "Statement", j)
    if hits:
        return FnResult(FAIL, "; ".join(hits), first)
    return FnResult(UNKNOWN if unknown else PASS)


def iam_inline_policies(ctx: FnContext) -> FnResult:
    names = [
        name
        for _, name, _ in policy_documents(ctx.resource, ctx.props)
        if ctx.resource.type not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
    ]
    if names:
        return FnResult(FAIL, "inline policies: " + ", ".join(names), ("Policies",))
    return FnResult(PASS)


def _public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(v == "*" or (isinstance(v, list) and "*" in v) for v in principal.values())
    return False


def resource_policy_public(ctx: FnContext) -> FnResult:
    """An Allow statement to every principal without a Condition narrowing it
    (``args.property``: where the policy document is)."""
    prop = str(ctx.args.get("property", "PolicyDocument"))
    doc = ctx.props.get(prop, ABSENT)
    if doc is ABSENT:
        return FnResult(NA, f"{prop} not set")
    if is_unknown(doc):
        return FnResult(UNKNOWN, f"{prop} is computed at deploy time")
    for j, stmt in enumerate(_statements(doc)):
        if (
            stmt.get("Effect") == "Allow"
            and _public_principal(stmt.get("Principal"))
            and not stmt.get("Condition")
        ):
            return FnResult(
                FAIL,
                f"statement {j + 1} allows every principal (*) without a Condition",
                (prop, "Statement", j),
            )
    return FnResult(PASS)


def _denies_insecure_transport(doc: Any) -> bool:
    for stmt in _statements(doc):
        if stmt.get("Effect") != "Deny":
            continue
        condition = stmt.get("Condition")
        if not isinstance(condition, Mapping):
            continue
        for op, body in condition.items():
            if isinstance(body, Mapping) and "Bool" in str(op):
                for key, val in body.items():
                    if (
                        key.lower() == "aws:securetransport"
                        and _truthy(val[0] if isinstance(val, list) and val else val) is False
                    ):
                        return True
    return False


def secure_transport_policy(ctx: FnContext) -> FnResult:
    """A resource policy in this template denies requests not sent over TLS.
    ``args.policy_type`` / ``args.target_property``: the policy resource and the property
    that points at this resource (``Bucket`` for S3, ``Queues``/``Topics`` lists)."""
    ptype, target = str(ctx.args["policy_type"]), str(ctx.args["target_property"])
    me = ctx.resource.logical_id
    for res in ctx.template.resources_of_type(ptype):
        refs = _as_list(res.properties.get(target))
        if not any(_mentions(r, me) for r in refs):
            continue
        doc = res.properties.get("PolicyDocument")
        if _denies_insecure_transport(doc):
            return FnResult(PASS, f"{res.logical_id} denies aws:SecureTransport = false")
    return FnResult(
        FAIL, "no policy in this template denies requests without TLS (aws:SecureTransport = false)"
    )


def _mentions(value: Any, logical_id: str) -> bool:
    fn = intrinsic(value)
    if fn is None:
        return False
    name, arg = fn
    if name == "Ref":
        return arg == logical_id
    if name == "Fn::GetAtt":
        return (arg[0] if isinstance(arg, list) else str(arg).split(".")[0]) == logical_id
    if name == "Fn::Sub":
        text = arg if isinstance(arg, str) else (arg[0] if isinstance(arg, list) and arg else "")
        return isinstance(text, str) and ("${" + logical_id) in text
    return any(_mentions(v, logical_id) for v in (arg if isinstance(arg, list) else [arg]))


# --- secrets -------------------------------------------------------------------------


def _alternatives(node: Any) -> Iterator[Any]:
    """Every leaf value a raw node can take (both branches of each Fn::If)."""
    fn = intrinsic(node)
    if fn and fn[0] == "Fn::If" and isinstance(fn[1], list) and len(fn[1]) == 3:
        yield from _alternatives(fn[1][1])
        yield from _alternatives(fn[1][2])
    else:
        yield node


def _raw_at(props: Mapping[str, Any], path: str) -> Any:
    node: Any = props
    for part in path.split("."):
        if not isinstance(node, (dict, Mapping)) or part not in node:
            return ABSENT
        node = node[part]
    return node


def secret_not_plaintext(ctx: FnContext) -> FnResult:
    """A password-like property must come from a NoEcho parameter or a dynamic reference
    (``{{resolve:secretsmanager:...}}``/``ssm-secure``), never a literal. Looks at the raw
    template node: the expanded variant would have substituted parameter defaults."""
    path = str(ctx.args["property"])
    raw = _raw_at(ctx.resource.properties, path)
    if raw is ABSENT:
        return FnResult(NA, f"{path} not set")
    where = tuple(path.split("."))
    for value in _alternatives(raw):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value)
            if "{{resolve:" in text:
                continue
            return FnResult(FAIL, f"{path} is written in the template as a literal value", where)
        fn = intrinsic(value)
        if fn and fn[0] == "Ref" and isinstance(fn[1], str):
            param = ctx.template.parameter(fn[1])
            if param is not None and not param.no_echo:
                return FnResult(
                    FAIL,
                    f"{path} comes from parameter {param.name}, which is not "
                    "NoEcho: its value shows in the console and API",
                    where,
                )
            continue
        if fn and "{{resolve:" in repr(value):
            continue
    return FnResult(PASS)


_SECRET_NAME = re.compile(
    r"(?i)(passw(or)?d|passwd|secret|token|api[_-]?key|private[_-]?key|credential|auth)"
)
_REFERENCE_NAME = re.compile(r"(?i)(_arn|_name|_id|_path|_param(eter)?|_url|_uri|_region)$")


def env_no_literal_secrets(ctx: FnContext) -> FnResult:
    """Variables whose name says secret (PASSWORD, TOKEN, API_KEY...) with a literal value
    in the template. Names that point at a secret (``*_ARN``, ``*_NAME``...), ARNs and
    dynamic references pass. The value is never repeated."""
    path = str(ctx.args.get("property", "Environment.Variables"))
    raw = _raw_at(ctx.resource.properties, path)
    if raw is ABSENT:
        return FnResult(NA, f"{path} not set")
    if not isinstance(raw, Mapping):
        return FnResult(PASS)
    hits = []
    for name, node in raw.items():
        if not _SECRET_NAME.search(str(name)) or _REFERENCE_NAME.search(str(name)):
            continue
        for value in _alternatives(node):
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                text = str(value)
                if text and "{{resolve:" not in text and not text.startswith("arn:"):
                    hits.append(str(name))
                    break
    if hits:
        return FnResult(FAIL, "literal value in the template for " + ", ".join(hits),
                        (*path.split("."), hits[0]))
    return FnResult(PASS)


def noecho_defaults(template: Template) -> list[TemplateResult]:
    """A NoEcho parameter with a Default: the secret sits in the template file."""
    out = []
    for p in template.parameters:
        if p.no_echo:
            status = FAIL if p.has_default and p.default not in ("", None) else PASS
            detail = (
                "NoEcho parameter has a Default: the secret is stored in the template"
                if status == FAIL
                else ""
            )
            out.append(
                TemplateResult(
                    p.name,
                    "Parameter",
                    status,
                    detail,
                    ("Parameters", p.name, "Default") if status == FAIL else ("Parameters", p.name),
                )
            )
    return out


# --- databases -----------------------------------------------------------------------

_FORCE_SSL = {
    "postgres": "rds.force_ssl",
    "aurora-postgresql": "rds.force_ssl",
    "sqlserver": "rds.force_ssl",
    "mysql": "require_secure_transport",
    "mariadb": "require_secure_transport",
    "aurora-mysql": "require_secure_transport",
}


def _engine_family(engine: str) -> str:
    engine = engine.lower()
    if engine.startswith("sqlserver"):
        return "sqlserver"
    if engine in ("aurora", "aurora-mysql"):
        return "aurora-mysql"
    return engine


def rds_tls_required(ctx: FnContext) -> FnResult:
    """The database refuses connections without TLS: its (cluster) parameter group in
    this template sets rds.force_ssl / require_secure_transport, or the engine's
    documented default already does (``args.default_on``: engine -> minimum major)."""
    engine = ctx.props.get("Engine", ABSENT)
    if is_unknown(engine):
        return FnResult(UNKNOWN, "engine is chosen at deploy time")
    if not isinstance(engine, str):
        return FnResult(UNKNOWN, "engine not set in the template")
    family = _engine_family(engine)
    name = _FORCE_SSL.get(family)
    if name is None:
        return FnResult(NA, f"no TLS-enforcing parameter known for engine {engine}")
    group_prop = (
        "DBClusterParameterGroupName"
        if ctx.resource.type == "AWS::RDS::DBCluster"
        else "DBParameterGroupName"
    )
    group = ctx.props.get(group_prop, ABSENT)
    if isinstance(group, ResRef):
        res = ctx.template.resource(group.target)
        params = res.properties.get("Parameters") if res is not None else None
        if isinstance(params, Mapping) and name in params:
            value = params[name]
            on = str(value).strip().lower() in ("1", "on", "true")
            if intrinsic(value) is not None:
                return FnResult(UNKNOWN, f"{name} is set at deploy time in {group.target}")
            return FnResult(
                PASS if on else FAIL, f"{group.target} sets {name} = {value}", (group_prop,)
            )
    elif is_unknown(group):
        return FnResult(UNKNOWN, f"{group_prop} is chosen at deploy time")
    minimum = ctx.args.get("default_on", {}).get(family)
    if minimum is not None:
        version = ctx.props.get("EngineVersion", ABSENT)
        if version is ABSENT:
            ctx.default(name)
            return FnResult(
                PASS, f"{name} is on by default for the current default {engine} version"
            )
        if is_unknown(version):
            return FnResult(UNKNOWN, "engine version is chosen at deploy time")
        major = (
            _port(str(version).split(".")[0]) if isinstance(version, (str, int, float)) else None
        )
        if major is not None and major >= int(minimum):
            ctx.default(name)  # records the documented default this verdict rests on
            return FnResult(
                PASS, f"{name} is on by default for {engine} {major}", ("EngineVersion",)
            )
    return FnResult(
        FAIL, f"no parameter group in the template sets {name}: clients may connect without TLS"
    )


# --- the registry --------------------------------------------------------------------

ResourceFn = Callable[[FnContext], FnResult]
TemplateFn = Callable[[Template], list[TemplateResult]]

#: Resource checks by name (``function:`` in a knowledge record).
FUNCTIONS: Mapping[str, ResourceFn] = {
    "sg_ingress_open": sg_ingress_open,
    "vpc_flow_logs": vpc_flow_logs,
    "lb_attribute": lb_attribute_typed,
    "iam_wildcards": iam_wildcards,
    "iam_inline_policies": iam_inline_policies,
    "resource_policy_public": resource_policy_public,
    "secure_transport_policy": secure_transport_policy,
    "secret_not_plaintext": secret_not_plaintext,
    "rds_tls_required": rds_tls_required,
    "env_no_literal_secrets": env_no_literal_secrets,
}

#: Checks over the template as a whole (``resource_types: [template]``).
TEMPLATE_FUNCTIONS: Mapping[str, TemplateFn] = {
    "noecho_defaults": noecho_defaults,
}

__all__ = [
    "FAIL",
    "FUNCTIONS",
    "NA",
    "PASS",
    "TEMPLATE_FUNCTIONS",
    "UNKNOWN",
    "FnContext",
    "FnResult",
    "OtherValue",
    "TemplateResult",
]
