"""The security posture of one template, as facts a page can render directly.

Built on the findings of :mod:`docgen.analyse.security`: an encryption table (each data
store: at rest, in transit, which key), the network exposure (security group rules open to
the internet, internet-facing load balancers, public databases and buckets), and an IAM
summary (who can assume each role, its managed and inline policies, wildcards).
Decisions are made here; templates only loop over the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docgen.analyse.expand import ABSENT, Expander, Opaque, OtherValue, ResRef, describe_choice
from docgen.analyse.security import DEPENDS, FAIL, NA, PASS, SUPPRESSED, Finding, check_template
from docgen.analyse.securityfns import (
    describe_range,
    open_ingress,
    policy_documents,
    statement_wildcards,
)
from docgen.intrinsics import intrinsic, render
from docgen.knowledge.conditions import Tri
from docgen.knowledge.security import SEVERITIES, DataStore, SecurityKB
from docgen.model import Location, Resource, Template

# ``isinstance(x, (dict, Mapping))`` is ``isinstance(x, Mapping)``, dict tested first: the
# plain type test is C, Mapping's ABC test a Python call (tens of thousands per corpus build).

#: Status of an exposure row that is open to the internet by design of the template.
OPEN = "open"


@dataclass(frozen=True, slots=True)
class Cell:
    """One verdict in the encryption table: short text, a status for styling and the
    finding it comes from (for a link)."""

    text: str
    status: str  # pass | fail | depends | suppressed | not-applicable | info
    anchor: str = ""


@dataclass(frozen=True, slots=True)
class EncryptionRow:
    resource: str
    label: str
    resource_type: str
    location: Location
    at_rest: Cell
    in_transit: Cell
    key: str


@dataclass(frozen=True, slots=True)
class ExposureRow:
    kind: str  # "security group ingress" | "load balancer" | finding category
    resource: str
    detail: str
    status: str  # open | depends | a finding status
    location: Location
    anchor: str = ""


@dataclass(frozen=True, slots=True)
class IdentitySummary:
    name: str
    kind: str  # Role | User | Group
    location: Location
    assumed_by: tuple[str, ...]
    managed_policies: tuple[str, ...]
    inline_policies: tuple[tuple[str, tuple[str, ...]], ...]  # (name, actions)
    attached_policies: tuple[str, ...]  # AWS::IAM::Policy / ManagedPolicy in the template
    wildcard_actions: tuple[str, ...]
    wildcard_resources: bool
    admin: bool


@dataclass(frozen=True, slots=True)
class SecurityReport:
    template: Template
    findings: tuple[Finding, ...]
    encryption: tuple[EncryptionRow, ...]
    exposure: tuple[ExposureRow, ...]
    identities: tuple[IdentitySummary, ...]

    @property
    def problems(self) -> tuple[Finding, ...]:
        """Failing and parameter-dependent findings, worst severity first."""
        order = {FAIL: 0, DEPENDS: 1}
        items = [f for f in self.findings if f.status in order]
        return tuple(
            sorted(items, key=lambda f: (-f.check.severity_rank, order[f.status], f.location.line))
        )

    @property
    def suppressed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == SUPPRESSED)

    def counts(self) -> dict[str, dict[str, int]]:
        """{severity: {status: n}} for the summary table (severities high to low)."""
        out = {sev: dict.fromkeys((FAIL, DEPENDS, SUPPRESSED, PASS), 0)
               for sev in reversed(SEVERITIES)}
        for f in self.findings:  # one pass, not one per severity
            row = out.get(f.check.severity)
            if row is not None and f.status in row:
                row[f.status] += 1
        return out


# --- encryption -----------------------------------------------------------------------


def _cell(finding: Finding | None, note: str) -> Cell:
    """A verdict; it links to the finding only when the page lists that finding (failing,
    depending or suppressed ones)."""
    if finding is None:
        return Cell(note or "not described by the template", "info")
    if finding.status == PASS:
        by_default = finding.default is not None
        return Cell("yes (service default)" if by_default else "yes", PASS)
    if finding.status == FAIL:
        return Cell("no", FAIL, finding.anchor)
    if finding.status == DEPENDS:
        return Cell("depends on " + ", ".join(finding.depends_on), DEPENDS, finding.anchor)
    if finding.status == SUPPRESSED:
        return Cell(f"no (accepted: {finding.suppression})", SUPPRESSED, finding.anchor)
    return Cell(finding.message, NA)


def _raw_path(props: Mapping[str, Any], path: str) -> Any:
    node: Any = props
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return ABSENT
    return node


def describe_key(template: Template, value: Any) -> str:
    """A key reference in words: the customer key defined in this template (by logical
    id), an AWS managed key alias, or the expression it comes from."""
    if isinstance(value, ResRef):
        res = template.resource(value.target)
        if res is not None and res.type == "AWS::KMS::Key":
            return f"customer managed key {res.logical_id}"
        if res is not None and res.type == "AWS::KMS::Alias":
            target = intrinsic(res.properties.get("TargetKeyId"))
            key_id = target[1] if target and target[0] == "Ref" else None
            if isinstance(key_id, list):
                key_id = key_id[0]
            return (
                f"customer managed key {key_id} (alias {res.logical_id})"
                if key_id
                else f"key of alias {res.logical_id}"
            )
        return f"key from {value.target}"
    if isinstance(value, str):
        if value.startswith("alias/aws/") or ":alias/aws/" in value:
            return (
                f"AWS managed key {value.split(':alias/')[-1] if ':alias/' in value else value[6:]}"
            )
        return f"key {value}"
    if isinstance(value, OtherValue):
        return f"key from parameter {value.parameter}"
    if isinstance(value, Opaque):
        return f"key from {value.text}"
    return render(value)


def _key_text(template: Template, resource: Resource, store: DataStore, expander: Expander) -> str:
    for path in store.key_paths:
        raw = _raw_path(resource.properties, path)
        if raw is ABSENT:
            continue
        expander.variants_seen = 1
        variants = expander.expand(raw)
        texts = list(
            dict.fromkeys(
                describe_key(template, v)
                + (
                    f" ({'; '.join(describe_choice(c, template) for c in env)})"
                    if len(variants) > 1 and env
                    else ""
                )
                for env, v in variants
                if v is not ABSENT
            )
        )
        if texts:
            return " / ".join(texts)
    for when, text in store.default_key_when:
        if when.evaluate(resource, template) is Tri.TRUE:
            return text
    return store.default_key if store.default_key != "none" else "—"


def encryption_rows(
    template: Template, kb: SecurityKB, findings: Sequence[Finding]
) -> tuple[EncryptionRow, ...]:
    by_key = {(f.check.id, f.resource): f for f in findings}
    expander = Expander(template)
    rows = []
    for res in template.resources:
        store = kb.datastores.get(res.type)
        if store is None:
            continue
        rest = by_key.get((store.at_rest, res.logical_id)) if store.at_rest else None
        transit = by_key.get((store.in_transit, res.logical_id)) if store.in_transit else None
        at_rest = _cell(rest, store.at_rest_note)
        key = _key_text(template, res, store, expander) if at_rest.status != FAIL else "—"
        rows.append(
            EncryptionRow(
                res.logical_id,
                store.label,
                res.type,
                res.location,
                at_rest,
                _cell(transit, store.in_transit_note),
                key,
            )
        )
    return tuple(rows)


# --- network exposure -------------------------------------------------------------------


def _listeners(template: Template, lb_id: str) -> list[str]:
    out = []
    for res in template.resources_of_type("AWS::ElasticLoadBalancingV2::Listener"):
        target = intrinsic(res.properties.get("LoadBalancerArn"))
        if target and target[0] == "Ref" and target[1] == lb_id:
            proto, port = res.properties.get("Protocol", "?"), res.properties.get("Port", "?")
            text = f"{render(proto)} {render(port)}"
            out.append(text + (f" (when {res.condition})" if res.condition else ""))
    return out


def exposure_rows(template: Template, findings: Sequence[Finding]) -> tuple[ExposureRow, ...]:
    rows: list[ExposureRow] = []
    expander = Expander(template)
    for res in template.resources_of_type(
        "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress"
    ):
        node = (
            res.properties
            if res.type.endswith("Ingress")
            else res.properties.get("SecurityGroupIngress")
        )
        if node is None:
            continue
        expander.variants_seen = 1
        seen: dict[str, str] = {}
        for env, value in expander.expand(node):
            rules = (
                [value]
                if res.type.endswith("Ingress")
                else (value if isinstance(value, list) else [])
            )
            when = None  # the variant's choices, described once (groups have many rules)
            for rule in rules:
                if not isinstance(rule, (dict, Mapping)):
                    continue
                opened = open_ingress(rule)
                if opened is None:
                    continue
                source, computed = opened
                text = f"{describe_range(rule)} from {source or computed}"
                if when is None:
                    when = "; ".join(describe_choice(c, template) for c in env)
                status = DEPENDS if computed is not None or when else OPEN
                seen.setdefault(text, status)
        for text, status in seen.items():
            rows.append(
                ExposureRow("security group ingress", res.logical_id, text, status, res.location)
            )
    for res in template.resources_of_type(
        "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancing::LoadBalancer"
    ):
        scheme = res.properties.get("Scheme", "internet-facing")
        if scheme == "internal":
            continue
        listeners = _listeners(template, res.logical_id)
        detail = "internet-facing" if isinstance(scheme, str) else f"scheme {render(scheme)}"
        if listeners:
            detail += "; listeners: " + ", ".join(listeners)
        rows.append(
            ExposureRow(
                "load balancer",
                res.logical_id,
                detail,
                OPEN if isinstance(scheme, str) else DEPENDS,
                res.location,
            )
        )
    for f in findings:
        if (
            f.check.category == "public-access"
            and f.is_problem
            and not f.check.id.startswith("elb-")
        ):
            rows.append(
                ExposureRow(f.check.title, f.resource, f.message, f.status, f.location, f.anchor)
            )
    return tuple(rows)


# --- IAM --------------------------------------------------------------------------------


def _principals(doc: Any) -> tuple[str, ...]:
    out: list[str] = []
    stmts = doc.get("Statement") if isinstance(doc, Mapping) else None
    for stmt in stmts if isinstance(stmts, list) else [stmts] if isinstance(stmts, Mapping) else []:
        principal = stmt.get("Principal") if isinstance(stmt, Mapping) else None
        if isinstance(principal, Mapping):
            for kind, value in principal.items():
                for v in value if isinstance(value, list) else [value]:
                    out.append(f"{kind}: {render(v)}")
        elif principal is not None:
            out.append(render(principal))
    return tuple(dict.fromkeys(out))


def _policy_name(value: Any) -> str:
    fn = intrinsic(value)
    text = fn[1] if fn and fn[0] == "Fn::Sub" and isinstance(fn[1], str) else render(value)
    return text.split(":policy/", 1)[1] if ":policy/" in text else text


def _attached(template: Template, res: Resource) -> list[Resource]:
    prop = {"AWS::IAM::Role": "Roles", "AWS::IAM::User": "Users", "AWS::IAM::Group": "Groups"}[
        res.type
    ]
    out = []
    for pol in template.resources_of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        targets = pol.properties.get(prop)
        for t in targets if isinstance(targets, list) else []:
            fn = intrinsic(t)
            if (fn and fn[0] == "Ref" and fn[1] == res.logical_id) or t == res.logical_id:
                out.append(pol)
    return out


def identity_rows(template: Template) -> tuple[IdentitySummary, ...]:
    rows = []
    for res in template.resources_of_type("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
        props = res.properties
        inline = []
        wild: list[str] = []
        wild_res = admin = False
        attached = _attached(template, res)
        docs = policy_documents(res, props) + [
            d for p in attached for d in policy_documents(p, p.properties)
        ]
        for _path, name, doc in docs:
            actions: list[str] = []
            stmts = doc.get("Statement") if isinstance(doc, Mapping) else None
            for stmt in (
                stmts if isinstance(stmts, list) else [stmts] if isinstance(stmts, Mapping) else []
            ):
                if not isinstance(stmt, Mapping):
                    continue
                acts = stmt.get("Action", stmt.get("NotAction"))
                actions += [
                    render(a) for a in (acts if isinstance(acts, list) else [acts]) if a is not None
                ]
                a, w, r = statement_wildcards(stmt)
                admin, wild_res = admin or a, wild_res or r
                wild += w
            inline.append((name, tuple(dict.fromkeys(actions))))
        inline_only = tuple(
            i for i, d in zip(inline, docs, strict=True) if d in policy_documents(res, props)
        )
        managed = props.get("ManagedPolicyArns")
        rows.append(
            IdentitySummary(
                res.logical_id,
                res.type.split("::")[-1],
                res.location,
                _principals(props.get("AssumeRolePolicyDocument")),
                tuple(_policy_name(m) for m in (managed if isinstance(managed, list) else [])),
                inline_only,
                tuple(p.logical_id for p in attached),
                tuple(dict.fromkeys(wild)),
                wild_res,
                admin,
            )
        )
    return tuple(rows)


# --- entry point ------------------------------------------------------------------------


def analyse(template: Template, kb: SecurityKB) -> SecurityReport:
    """Findings plus the encryption, exposure and IAM tables of one template."""
    findings = check_template(template, kb)
    return SecurityReport(
        template,
        findings,
        encryption_rows(template, kb, findings),
        exposure_rows(template, findings),
        identity_rows(template),
    )
