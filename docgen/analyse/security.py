"""Security posture of one template: checks from the knowledge base, evaluated purely
over the model.

For every resource and every check that names its type, the resource's properties are
expanded into the variants a deployment can produce (:mod:`docgen.analyse.expand`), the
check runs on each variant, and the outcomes are folded into one :class:`Finding`:

* ``pass`` / ``fail`` when every variant agrees;
* ``depends`` when they do not, with the parameters/conditions that decide it and each
  branch's outcome (never a guess);
* ``not-applicable`` when the check's ``applies_when`` is false (e.g. a read replica
  inherits encryption from its source);
* ``suppressed`` when the resource's Metadata suppresses a failing check, with the reason.

An absent property is judged by the service's documented default, which the finding
cites. Each finding points at ``file:line`` through the node marks of the template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docgen.analyse.expand import (
    ABSENT,
    Env,
    Expander,
    Opaque,
    OtherValue,
    ResRef,
    describe_choice,
    is_unknown,
)
from docgen.analyse.securityfns import (
    FAIL,
    FUNCTIONS,
    NA,
    PASS,
    TEMPLATE_FUNCTIONS,
    UNKNOWN,
    FnContext,
    FnResult,
)
from docgen.diagnostics import Diagnostic
from docgen.intrinsics import render
from docgen.knowledge import conditions as cond
from docgen.knowledge.security import Check, Default, SecurityKB
from docgen.model import Location, Resource, Template
from docgen.nodes import locate

# ``isinstance(x, (dict, Mapping))`` is ``isinstance(x, Mapping)``, dict tested first: the
# plain type test is C, Mapping's ABC test a Python call (tens of thousands per corpus build).

DEPENDS, SUPPRESSED = "depends", "suppressed"
#: Display order of statuses (worst first).
STATUS_ORDER = (FAIL, DEPENDS, SUPPRESSED, PASS, NA)


@dataclass(frozen=True, slots=True)
class Branch:
    """One deploy-time alternative of a ``depends`` finding."""

    label: str  # "condition IsProd is true", "parameter Env = prod (default)"
    status: str  # pass | fail | unknown | not-applicable
    detail: str = ""


_NOT_ANCHOR = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Finding:
    check: Check
    resource: str  # logical id (or parameter name for template checks)
    resource_type: str
    status: str
    message: str
    location: Location
    depends_on: tuple[str, ...] = ()
    branches: tuple[Branch, ...] = ()
    default: Default | None = None  # the documented default that decided it
    suppression: str | None = None  # the reason, for suppressed findings
    suppressed_status: str | None = None  # what it would be without the suppression
    resource_condition: str | None = None  # resource only exists when this holds

    @property
    def severity(self) -> str:
        return self.check.severity

    @property
    def rule_id(self) -> str:
        return self.check.id

    @property
    def anchor(self) -> str:
        return _NOT_ANCHOR.sub("-", f"{self.check.id}-{self.resource}".lower()).strip("-")

    @property
    def is_problem(self) -> bool:
        return self.status in (FAIL, DEPENDS)


# --- condition evaluation over one variant ----------------------------------------------


def _lookup(tree: Any, path: str) -> list[Any]:
    """Values at a dotted path (``*`` walks list items); ABSENT where missing."""
    current: list[Any] = [tree]
    for seg in path.split("."):
        nxt: list[Any] = []
        for v in current:
            if v is ABSENT or is_unknown(v) or isinstance(v, ResRef):
                nxt.append(v if v is not ABSENT else ABSENT)
            elif seg == "*":
                nxt.extend(v if isinstance(v, list) and v else [ABSENT])
            elif isinstance(v, (dict, Mapping)):
                nxt.append(v.get(seg, ABSENT))
            else:
                nxt.append(ABSENT)
        current = nxt
    return current or [ABSENT]


def _norm(actual: Any, expected: Any) -> Any:
    if isinstance(expected, bool) and isinstance(actual, str):
        low = actual.strip().lower()
        if low in ("true", "false"):
            return low == "true"
    if (
        isinstance(expected, (int, float))
        and not isinstance(expected, bool)
        and isinstance(actual, str)
    ):
        try:
            return float(actual)
        except ValueError:
            return actual
    if (
        isinstance(expected, str)
        and isinstance(actual, (int, float))
        and not isinstance(actual, bool)
    ):
        return str(actual)
    return actual


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@dataclass(eq=False)
class _Eval:
    """Evaluates one check's conditions against one variant, remembering which
    documented default was used and what made a leaf fail or stay unknown."""

    check: Check
    variant: Mapping[str, Any]  # {"Properties": ..., "DeletionPolicy": ..., ...}
    resource: Resource
    template: Template
    used_default: Default | None = None
    notes: list[str] = field(default_factory=list)

    def default_for(self, path: str, kind: str = "property") -> Any:
        for d in self.check.defaults:
            if d.path == path and d.source_kind == kind and self.tri(d.when) is cond.Tri.TRUE:
                self.used_default = self.used_default or d
                return d.value
        return ABSENT

    def tri(self, c: cond.Condition) -> cond.Tri:
        T, F, D = cond.Tri.TRUE, cond.Tri.FALSE, cond.Tri.DEPENDS
        if c.op == "always":
            return T
        if c.op in ("all", "any"):
            rs = [self.tri(ch) for ch in c.children]
            decisive, other = (F, T) if c.op == "all" else (T, F)
            if decisive in rs:
                return decisive
            return D if D in rs else other
        if c.op == "not":
            return ~self.tri(c.children[0])
        if c.op == "predicate":
            return cond.PREDICATES[c.value](self.resource, self.template)
        if c.source == "attribute":
            values = [self.variant.get(c.path, ABSENT)]
        else:
            values = _lookup(self.variant.get("Properties", {}), c.path)
        results = [self._leaf(c, v) for v in values]
        if T in results:
            return T
        return D if D in results else F

    def _leaf(self, c: cond.Condition, actual: Any) -> cond.Tri:
        F, D = cond.Tri.FALSE, cond.Tri.DEPENDS
        if c.op == "exists":
            self.notes.append(f"{c.path} is {'not set' if actual is ABSENT else 'set'}")
            return cond.Tri.of((actual is not ABSENT) == bool(c.value))
        if is_unknown(actual) or isinstance(actual, ResRef):
            self.notes.append(f"{c.path} is set at deploy time ({_show(actual)})")
            return D
        if actual is ABSENT:
            actual = (
                c.default if c.default is not cond.MISSING else self.default_for(c.path, c.source)
            )
            if actual is ABSENT:
                self.notes.append(f"{c.path} is not set")
                return F
            self.notes.append(f"{c.path} is not set; documented default: {_show(actual)}")
        else:
            self.notes.append(f"{c.path} = {_show(actual)}")
        if c.op == "equals":
            return cond.Tri.of(_norm(actual, c.value) == c.value)
        if c.op == "in":
            return cond.Tri.of(any(_norm(actual, v) == v for v in c.value))
        n = _num(actual)
        if n is None:
            return F if not isinstance(actual, str) else D
        return cond.Tri.of(n > c.value if c.op == "greater_than" else n < c.value)


def _show(value: Any) -> str:
    if isinstance(value, Opaque):
        return value.text
    if isinstance(value, OtherValue):
        return f"parameter {value.parameter}"
    if isinstance(value, ResRef):
        return f"!GetAtt {value.target}.{value.attr}" if value.attr else f"!Ref {value.target}"
    text = render(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- running checks ---------------------------------------------------------------------


def _condition_paths(c: cond.Condition | None) -> set[str]:
    if c is None:
        return set()
    if c.children:
        out: set[str] = set()
        for ch in c.children:
            out |= _condition_paths(ch)
        return out
    return {c.path.split(".")[0]} if c.path and c.source == "property" else set()


def _relevant_properties(check: Check) -> set[str] | None:
    """Top-level properties a check reads (None: all, for functions)."""
    if check.function is not None:
        return None
    paths = _condition_paths(check.applies_when) | _condition_paths(check.expect)
    for d in check.defaults:
        paths |= _condition_paths(d.when)
    return paths


def _variant_tree(resource: Resource, keys: set[str] | None) -> dict[str, Any]:
    props = resource.properties
    if keys is not None:
        props = {k: v for k, v in props.items() if k in keys}
    tree: dict[str, Any] = {"Properties": props}
    for name, value in (
        ("DeletionPolicy", resource.deletion_policy),
        ("UpdateReplacePolicy", resource.update_replace_policy),
    ):
        if value is not None:
            tree[name] = value
    return tree


def _run_variant(
    check: Check, variant: Mapping[str, Any], resource: Resource, template: Template,
    cache: dict[Any, Any] | None = None,
) -> tuple[str, str, tuple[str | int, ...], Default | None]:
    """One check on one variant; ``cache``: what the functions of one template share."""
    ev = _Eval(check, variant, resource, template)
    applies = ev.tri(check.applies_when)
    if applies is cond.Tri.FALSE:
        return NA, check.not_applicable or "not applicable", (), None
    ev.notes.clear()
    if check.function is not None:
        ctx = FnContext(
            resource, variant.get("Properties", {}), template, check.args, default=ev.default_for,
            cache={} if cache is None else cache,
        )
        res: FnResult = FUNCTIONS[check.function](ctx)
        return res.status, res.detail, res.path, ev.used_default
    assert check.expect is not None
    result = ev.tri(check.expect)
    # identity tests, not a dict: an Enum's __hash__ runs Python code
    status = PASS if result is cond.Tri.TRUE else FAIL if result is cond.Tri.FALSE else UNKNOWN
    detail = "; ".join(dict.fromkeys(ev.notes))
    return status, detail, (), ev.used_default


def _minimal_keys(outcomes: Sequence[tuple[Env, str]]) -> list[tuple[str, str]]:
    """The smallest set of choices (greedy) that still decides every outcome."""
    keys: list[tuple[str, str]] = []
    for env, _ in outcomes:
        for k, _v in env:
            if k not in keys:
                keys.append(k)

    def decides(ks: list[tuple[str, str]]) -> bool:
        seen: dict[tuple[Any, ...], str] = {}
        for env, status in outcomes:
            proj = tuple((k, repr(v)) for k, v in env if k in ks)
            if seen.setdefault(proj, status) != status:
                return False
        return True

    for k in list(keys):
        trial = [x for x in keys if x != k]
        if decides(trial):
            keys = trial
    return keys


def _short_label(label: str) -> str:
    """``condition IsProd is true`` -> ``true``; ``parameter Env = prod`` -> ``prod`` when
    the message already names the single deciding key."""
    if ";" in label:
        return label
    for sep in (" is ", " = "):
        if sep in label:
            return label.split(sep, 1)[1]
    return label


def _describe_keys(keys: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(f"{kind} {name}" for kind, name in keys)


def evaluate_check(
    check: Check, resource: Resource, template: Template, expander: Expander
) -> Finding:
    """Run one check on one resource over all its variants and fold the outcomes."""
    keys = _relevant_properties(check)
    # Checks of one resource mostly read the same properties (every function check reads
    # them all): expanding them once per (resource, properties read) instead of once per
    # check removes most of the expansion work. Variants are only read, never changed.
    memo_key = (resource.logical_id, None if keys is None else frozenset(keys))
    variants = expander.memo.get(memo_key)
    if variants is None:
        expander.variants_seen = 1
        variants = expander.memo[memo_key] = expander.expand(_variant_tree(resource, keys))
    outcomes: list[tuple[Env, str, str, tuple[str | int, ...], Default | None]] = []
    for env, variant in variants:
        outcomes.append((env, *_run_variant(check, variant, resource, template,
                                            expander.scratch)))
    statuses = {o[1] for o in outcomes}
    first_bad = next((o for o in outcomes if o[1] == FAIL), None) or outcomes[0]
    path = first_bad[3] or (tuple(check.path.split(".")) if check.path else ())
    default = first_bad[4]
    if statuses == {NA}:
        status, message = NA, outcomes[0][2]
    elif len(statuses) == 1 and statuses <= {PASS, FAIL}:
        status = statuses.pop()
        message = check.message if status == FAIL and check.message else first_bad[2]
    elif statuses <= {PASS, NA}:
        status, message = PASS, next(o[2] for o in outcomes if o[1] == PASS)
    else:
        status = DEPENDS
        decisive = _minimal_keys([(o[0], o[1]) for o in outcomes])
        branches: dict[str, Branch] = {}
        for env, st, detail, _p, _d in outcomes:
            label = "; ".join(describe_choice((k, v), template) for k, v in env if k in decisive)
            branches.setdefault(
                label or "at deploy time", Branch(label or "at deploy time", st, detail)
            )
        depends_on = (
            _describe_keys(decisive)
            or tuple(dict.fromkeys(o[2] for o in outcomes if o[1] == UNKNOWN and o[2]))
            or ("deploy-time values",)
        )
        if decisive:
            message = (
                "depends on "
                + ", ".join(depends_on)
                + " ("
                + "; ".join(f"{_short_label(b.label)} → {b.status}" for b in branches.values())
                + ")"
            )
        else:  # nothing in the template decides it: say what is only known at deploy time
            message = "depends on deploy-time values: " + "; ".join(depends_on)
            depends_on, branches = ("deploy-time values",), {}
        return Finding(
            check,
            resource.logical_id,
            resource.type,
            status,
            message,
            _location(template, resource, path),
            depends_on,
            tuple(branches.values()),
            default,
            resource_condition=resource.condition,
        )
    return Finding(
        check,
        resource.logical_id,
        resource.type,
        status,
        message,
        _location(template, resource, path),
        default=default,
        resource_condition=resource.condition,
    )


def _present(node: Any, path: Sequence[str | int]) -> bool:
    for step in path:
        if isinstance(node, (dict, Mapping)) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return False
    return True


def _location(template: Template, resource: Resource, path: Sequence[str | int]) -> Location:
    """The property's line when it is in the template, else the resource's line (an
    absent property is judged by its default: the resource is what to look at)."""
    if path and _present(resource.properties, path):
        line, col = locate(template.raw, ("Resources", resource.logical_id, "Properties", *path))
    else:
        line, col = resource.location.line, resource.location.col
    return Location(template.path, line, col)


# --- suppressions --------------------------------------------------------------------


def suppressions(metadata: Mapping[str, Any]) -> dict[str, str]:
    """``{rule id or alias: reason}`` from ``Metadata.docgen.suppress`` and
    ``Metadata.cfn_nag.rules_to_suppress`` (both lists of ``{id, reason}``)."""
    out: dict[str, str] = {}
    sources = []
    dg = metadata.get("docgen") if isinstance(metadata, (dict, Mapping)) else None
    if isinstance(dg, Mapping):
        sources.append(dg.get("suppress"))
    nag = metadata.get("cfn_nag") if isinstance(metadata, (dict, Mapping)) else None
    if isinstance(nag, Mapping):
        sources.append(nag.get("rules_to_suppress"))
    for items in sources:
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                reason = item.get("reason")
                out[item["id"]] = (
                    reason if isinstance(reason, str) and reason.strip() else "(no reason given)"
                )
    return out


def _apply_suppression(finding: Finding, suppressed: Mapping[str, str]) -> Finding:
    if not finding.is_problem:
        return finding
    for key in (finding.check.id, *finding.check.aliases):
        if key in suppressed:
            return Finding(
                finding.check,
                finding.resource,
                finding.resource_type,
                SUPPRESSED,
                finding.message,
                finding.location,
                finding.depends_on,
                finding.branches,
                finding.default,
                suppressed[key],
                finding.status,
                finding.resource_condition,
            )
    return finding


# --- the whole template -------------------------------------------------------------


def check_template(template: Template, kb: SecurityKB) -> tuple[Finding, ...]:
    """Every finding (all statuses) for one template, in document order."""
    findings: list[Finding] = []
    expander = Expander(template)
    template_sup = suppressions(template.metadata)
    for check in kb.checks:
        if "template" in check.resource_types and check.function in TEMPLATE_FUNCTIONS:
            for r in TEMPLATE_FUNCTIONS[check.function](template):
                line, col = locate(template.raw, r.path)
                f = Finding(
                    check,
                    r.subject,
                    r.subject_type,
                    r.status,
                    r.detail or check.title,
                    Location(template.path, line, col),
                )
                findings.append(_apply_suppression(f, template_sup))
    for resource in template.resources:
        checks = kb.checks_for(resource.type)
        if not checks:
            continue
        sup = {**template_sup, **suppressions(resource.metadata)}
        for check in checks:
            try:
                finding = evaluate_check(check, resource, template, expander)
            except Exception as exc:  # a crashing check is a finding, never a crash
                finding = Finding(
                    check,
                    resource.logical_id,
                    resource.type,
                    DEPENDS,
                    f"check could not be evaluated ({type(exc).__name__}); review by hand",
                    resource.location,
                    depends_on=("manual review",),
                )
            findings.append(_apply_suppression(finding, sup))
    findings.sort(key=lambda f: (f.location.line, f.location.col, f.check.id))
    return tuple(findings)


def unknown_suppressions(template: Template, kb: SecurityKB) -> list[Diagnostic]:
    """``Metadata.docgen.suppress`` entries whose id names no check (a typo would
    otherwise suppress nothing, silently). cfn_nag ids are not reported: they may belong
    to cfn_nag's own rules."""
    known = {c.id for c in kb.checks} | {a for c in kb.checks for a in c.aliases}
    owners: list[tuple[tuple[str, ...], Any]] = [((), template.metadata)]
    owners += [(("Resources", r.logical_id), r.metadata) for r in template.resources]
    out = []
    for path, metadata in owners:
        dg = metadata.get("docgen") if isinstance(metadata, Mapping) else None
        items = dg.get("suppress") if isinstance(dg, Mapping) else None
        for item in items if isinstance(items, list) else []:
            sid = item.get("id") if isinstance(item, Mapping) else None
            if isinstance(sid, str) and sid not in known:
                line, col = locate(template.raw, (*path, "Metadata", "docgen", "suppress"))
                out.append(
                    Diagnostic(
                        template.path, line, col, f"suppression of unknown check {sid!r}", "warning"
                    )
                )
    return out


def at_or_above(findings: Iterable[Finding], threshold: str) -> list[Finding]:
    """Failing findings whose severity is at least ``threshold`` (the CI gate)."""
    from docgen.knowledge.security import SEVERITIES

    rank = SEVERITIES.index(threshold)
    return [f for f in findings if f.status == FAIL and f.check.severity_rank >= rank]
