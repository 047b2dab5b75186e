"""Operations analyses: troubleshooting, provisioning time, backup, monitoring.

Pure functions over the model and the ops knowledge base
(:mod:`docgen.knowledge.ops`). They decide *what* applies to which resource; the
pages decide nothing and only lay the results out. Commands are instantiated here
from the knowledge base's structured command specs for one deployment target
(stack name + region), so every value is quoted once by :mod:`docgen.commands`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from docgen import commands as c
from docgen import stackinfo
from docgen.intrinsics import Unknown, evaluate, intrinsic, referenced_names, render
from docgen.knowledge.conditions import INTRINSIC, MISSING, Tri, lookup
from docgen.knowledge.ops import CommandSpec, OpsKnowledge, Record, Setting, Step
from docgen.liveoutputs import live_physical_id
from docgen.model import Resource, Stack, Template

_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^}?]+))?(?:\?([^}]*))?\}")
GRAPH_EDGES = ("Ref", "GetAtt", "Sub", "DependsOn")


# --- applicability ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Applied:
    """A record that applies to a resource; ``certain`` False means it depends on
    deploy-time values (a property set by ``Ref``/``Fn::If``)."""

    record: Record
    resource: Resource
    certain: bool


def applicable(kb: OpsKnowledge, kind: str, resource: Resource,
               template: Template | None = None) -> list[Applied]:
    """Records of ``kind`` for the resource whose condition is TRUE or DEPENDS."""
    out = []
    for record in kb.of_kind(kind, resource.type):
        truth = record.when.evaluate(resource, template)
        if truth is not Tri.FALSE:
            out.append(Applied(record, resource, truth is Tri.TRUE))
    return out


def types_in(template: Template) -> list[str]:
    """Resource types of the template, in first-appearance order."""
    seen: dict[str, None] = {}
    for r in template.resources:
        seen.setdefault(r.type, None)
    return list(seen)


# --- commands -------------------------------------------------------------------------------


@dataclass
class Block:
    """Commands for one target, built step by step; lookups and variables appear once,
    before their first use."""

    lines: list[c.Step] = field(default_factory=list)
    assigned: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)

    def add(self, step: c.Step) -> None:
        self.lines.append(step)

    def assign(self, assign: c.Assign) -> None:
        if assign.var.name not in self.assigned:
            self.assigned.add(assign.var.name)
            self.lines.append(assign)

    def define(self, name: str, example: str, text: str) -> None:
        if name not in self.assigned:
            self.assigned.add(name)
            self.lines.append(c.Raw(f"{name}={shlex.quote(example)}  # {_comment(text)}"))

    def comment(self, text: str) -> None:
        self.lines.append(_comment_line(text))

    def script(self) -> c.Script:
        return c.Script(tuple(self.lines))

    def render(self) -> str:
        return self.script().render()


def _comment(text: str) -> str:
    return " ".join(text.split())


@lru_cache(maxsize=4096)
def _comment_line(text: str) -> c.Raw:
    """``# text`` on one line. Memoised (a Raw is immutable, so blocks can share it): the
    same step texts head the command blocks of every stack."""
    return c.Raw(f"# {_comment(text)}")


@dataclass(frozen=True, slots=True)
class Scope:
    """What placeholders resolve against: one resource of one stack, for one target."""

    stack: Stack
    target: stackinfo.Target
    resource: Resource | None = None
    variables: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    lists: Mapping[str, Sequence[str]] = field(default_factory=dict)


def resolve_property(scope: Scope, path: str, block: Block) -> c.Value | None:
    """A property of the scope's resource as a command value: a literal, the physical id
    of a referenced resource of the same stack, or a parameter's value for the target."""
    if scope.resource is None:
        return None
    values = lookup(scope.resource.properties, path)
    value = values[0] if values else MISSING
    if value is MISSING:
        return None
    if value is INTRINSIC:
        raw: Any = scope.resource.properties
        for seg in path.split("."):
            raw = raw.get(seg) if isinstance(raw, Mapping) else None
        return _resolve_expr(scope, raw, block)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _resolve_expr(scope: Scope, expr: Any, block: Block) -> c.Value | None:
    fn = intrinsic(expr)
    template = scope.stack.template
    if fn is not None and fn[0] == "Ref" and isinstance(fn[1], str):
        target = template.resource(fn[1])
        if target is not None:
            return _physical_id(Scope(scope.stack, scope.target, target), block)
    value = evaluate(expr, stackinfo.pseudo_values(scope.target),
                     {cond.name: cond.expression for cond in template.conditions},
                     template.mappings)
    if isinstance(value, (str, int, float)) and not isinstance(value, (bool, Unknown)):
        return str(value)
    return None


#: Types whose ``Ref`` (the physical id) is an ARN or URL, not the name property, so a
#: literal name must not stand in for it. (Reported to the owner of docgen.stackinfo.)
_REF_NOT_NAME = frozenset({"AWS::SNS::Topic", "AWS::SQS::Queue"})


def _physical_id(scope: Scope, block: Block) -> c.Value | None:
    if scope.resource is None:
        return None
    if scope.resource.type in _REF_NOT_NAME:
        live = live_physical_id(scope.stack, scope.resource, scope.target.live)
        if live is not None:  # a `Ref` output in the live outputs file is the ARN/URL itself
            return live
        var = c.var_name(scope.resource.logical_id, "ID")
        block.assign(c.physical_id_lookup(var, scope.target.stack_name,
                                          scope.resource.logical_id, scope.target.region))
        return c.ShellVar(var)
    value, lookups = stackinfo.resource_id(scope.stack, scope.resource, scope.target)
    for a in lookups:
        block.assign(a)
    return value


class Unresolved(Exception):
    """A placeholder the command cannot do without (``{prop:X}`` without ``?``)."""


@lru_cache(maxsize=4096)
def _placeholders(text: str) -> tuple[tuple[tuple[str, str, str | None, str | None], ...], str]:
    """``text`` split at its placeholders: ((literal before, name, arg, default), ...)
    and the literal after the last one. Memoised: the knowledge base has a few hundred
    option values, filled tens of thousands of times per corpus build."""
    pieces = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        pieces.append((text[pos:m.start()], m.group(1), m.group(2), m.group(3)))
        pos = m.end()
    return tuple(pieces), text[pos:]


def fill(text: str, scope: Scope, block: Block) -> c.Value | None:
    """Replace placeholders in one option value; None drops the option (an optional
    ``{prop:X?}`` without a value), :class:`Unresolved` drops the whole command."""
    if "{" not in text:  # most option values: a literal (no placeholder can match)
        return text
    if text == "{stack}":  # the most common placeholder, alone: the loop below gives this
        return scope.target.stack_name
    pieces, tail = _placeholders(text)
    parts: list[str | c.ShellVar] = []
    for before, name, arg, default in pieces:
        parts.append(before)
        value: c.Value | None
        if name == "stack":
            value = scope.target.stack_name
        elif name == "logical_id":
            value = scope.resource.logical_id if scope.resource else None
        elif name == "physical_id":
            value = _physical_id(scope, block)
        elif name == "var" and arg:
            if arg in scope.variables:
                example, why = scope.variables[arg]
                block.define(arg, example, why)
            value = c.ShellVar(arg)
        elif name == "prop" and arg:
            value = resolve_property(scope, arg, block)
            if value is None and default:
                value = default
            if value is None and default is None:
                raise Unresolved(f"{arg} has no value known before deployment")
        else:
            value = None
        if value is None:
            return None
        if isinstance(value, c.Concat):
            parts.extend(value.parts)
        elif isinstance(value, c.ShellVar):
            parts.append(value)
        else:
            parts.append(str(value))
    parts.append(tail)
    parts = [p for p in parts if p != ""]
    if all(isinstance(p, str) for p in parts):
        return "".join(p for p in parts if isinstance(p, str))
    if len(parts) == 1 and isinstance(parts[0], c.ShellVar):
        return parts[0]
    return c.Concat(tuple(parts))


def instantiate(spec: CommandSpec, scope: Scope, block: Block) -> c.AwsCommand | None:
    """A real command from a spec; optional options whose placeholders cannot be
    resolved are dropped, a required one raises :class:`Unresolved`. Returns None when
    a list placeholder (``{skippable}``) is empty."""
    # Options are collected as ``c.aws`` would normalise them (every value tuple
    # already built), so the AwsCommand is made directly: a few hundred thousand fewer
    # calls and isinstance tests per corpus build.
    options: list[tuple[str, tuple[c.Value, ...]]] = []
    if spec.waiter:
        options.append((spec.waiter, ()))
    lists = scope.lists
    for opt, values in spec.options:
        filled: list[c.Value] = []
        for v in values:
            if lists and v.startswith("{") and v.endswith("}") and v.strip("{}") in lists:
                items = list(lists[v.strip("{}")])
                if not items:
                    return None
                filled.extend(items)
                continue
            value = fill(v, scope, block)
            if value is not None:
                filled.append(value)
        if values and not filled:
            block.missing.append(opt)
            continue
        options.append((opt, tuple(filled)))
    region = scope.target.region
    if region:
        options.append(("--region", (region,)))
    return c.AwsCommand(spec.service, spec.operation, tuple(options))


def steps_block(steps: Sequence[Step], scope: Scope, block: Block | None = None,
                numbered: bool = True, start: int = 1) -> Block:
    """The commands of a list of steps, each preceded by a ``# n. text`` comment
    (numbers match the step list shown above the block)."""
    block = block if block is not None else Block()
    sub = Block()  # one step's lookups, kept only when its command is: reused per step
    for i, step in enumerate(steps, start):
        if step.command is None:
            continue
        sub.lines.clear()
        sub.missing.clear()
        sub.assigned = set(block.assigned)
        try:
            command = instantiate(step.command, scope, sub)
        except Unresolved as exc:
            block.comment(f"{i}. {step.text} (no command: {exc})")
            continue
        if command is None:
            continue
        block.assigned.update(sub.assigned)
        block.comment(f"{i}. {step.text}" if numbered else step.text)
        block.lines.extend(sub.lines)
        block.missing.extend(sub.missing)
        if step.capture:
            block.assigned.add(step.capture)
            block.add(c.Assign(c.ShellVar(step.capture), command))
        else:
            block.add(command)
    return block


def record_variables(record: Record) -> dict[str, tuple[str, str]]:
    return {v.name: (v.example, v.text) for v in record.variables}


# --- troubleshooting ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A resource of the stack that a recovery command can name (skip / retain)."""

    resource: Resource
    record: Record
    certain: bool


def recovery_candidates(kb: OpsKnowledge, template: Template, action: str) -> list[Candidate]:
    """Resources of the template named by recovery records with ``action``."""
    out = []
    for resource in template.resources:
        for applied in applicable(kb, "recovery", resource, template):
            if applied.record.action == action:
                out.append(Candidate(resource, applied.record, applied.certain))
                break
    return out


@dataclass(frozen=True, slots=True)
class TypeAdvice:
    """Failures and pitfalls for one resource type present in the template."""

    type: str
    resources: tuple[Resource, ...]
    failures: tuple[Applied, ...]
    pitfalls: tuple[Applied, ...]
    #: record id -> every resource of the type it applies to
    applied: Mapping[str, tuple[Applied, ...]] = field(default_factory=dict)


def advice_by_type(kb: OpsKnowledge, template: Template) -> list[TypeAdvice]:
    """Per type present: the failure and pitfall records that apply to at least one
    of its resources (each record once, with the resources it applies to)."""
    out = []
    for rtype in types_in(template):
        resources = template.resources_of_type(rtype)
        found: dict[str, dict[str, Applied]] = {"failure": {}, "pitfall": {}}
        applied: dict[str, list[Applied]] = {}
        for kind, bucket in found.items():
            for res in resources:
                for a in applicable(kb, kind, res, template):
                    bucket.setdefault(a.record.id, a)
                    applied.setdefault(a.record.id, []).append(a)
        out.append(TypeAdvice(rtype, resources, tuple(found["failure"].values()),
                              tuple(found["pitfall"].values()),
                              {k: tuple(v) for k, v in applied.items()}))
    return out


def step_uses_resource(steps: Sequence[Step]) -> bool:
    """Whether any command refers to the resource (then it is repeated per resource)."""
    for step in steps:
        if step.command is None:
            continue
        for _, values in step.command.options:
            if any(("{physical_id}" in v or "{logical_id}" in v or "{prop:" in v)
                   for v in values):
                return True
    return False


# --- provisioning time ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Duration:
    resource: Resource
    minutes: tuple[float, float] | None
    records: tuple[Record, ...]
    certain: bool


def provisioning(kb: OpsKnowledge, template: Template) -> list[Duration]:
    """Per resource: the sourced range, first record whose condition holds; records
    that only *may* hold before it widen the range (a property set at deploy time)."""
    out = []
    for resource in template.resources:
        chosen: list[Record] = []
        for applied in applicable(kb, "provisioning", resource, template):
            chosen.append(applied.record)
            if applied.certain:
                break
        # one record whose condition surely holds: a definite figure; otherwise a range
        # that spans what the deploy-time values may select
        certain = len(chosen) == 1 and chosen[0].when.evaluate(resource, template) is Tri.TRUE
        minutes = None
        if chosen:
            lows = [r.minutes[0] for r in chosen if r.minutes]
            highs = [r.minutes[1] for r in chosen if r.minutes]
            minutes = (min(lows), max(highs))
        out.append(Duration(resource, minutes, tuple(chosen), certain or not chosen))
    return out


def dependency_edges(template: Template) -> dict[str, set[str]]:
    """Resource -> resources it waits for (DependsOn and Ref/GetAtt/Sub edges)."""
    names = {r.logical_id for r in template.resources}
    deps: dict[str, set[str]] = {n: set() for n in names}
    for ref in template.references:
        if ref.kind in GRAPH_EDGES and ref.source in names and ref.target in names \
                and ref.source != ref.target:
            deps[ref.source].add(ref.target)
    for r in template.resources:
        deps[r.logical_id].update(d for d in r.depends_on if d in names and d != r.logical_id)
    return deps


@dataclass(frozen=True, slots=True)
class CriticalPath:
    """The longest chain of dependent resources, by upper-bound duration."""

    path: tuple[str, ...]
    low: float
    high: float
    unknown_on_path: tuple[str, ...]
    unknown_total: int
    known_total: int


def critical_path(template: Template, durations: Sequence[Duration]) -> CriticalPath:
    """Longest path through the dependency graph (not the sum of all resources):
    CloudFormation creates independent resources in parallel."""
    deps = dependency_edges(template)
    dur = {d.resource.logical_id: d.minutes for d in durations}
    order = [r.logical_id for r in template.resources]
    best: dict[str, tuple[float, float, tuple[str, ...]]] = {}
    visiting: set[str] = set()

    def visit(name: str) -> tuple[float, float, tuple[str, ...]]:
        if name in best:
            return best[name]
        if name in visiting:  # a cycle (invalid template): cut it
            return (0.0, 0.0, ())
        visiting.add(name)
        lo_here, hi_here = dur.get(name) or (0.0, 0.0)
        prev = (0.0, 0.0, ())
        for d in sorted(deps.get(name, ())):
            cand = visit(d)
            if (cand[1], cand[0], len(cand[2])) > (prev[1], prev[0], len(prev[2])):
                prev = cand
        visiting.discard(name)
        best[name] = (prev[0] + lo_here, prev[1] + hi_here, (*prev[2], name))
        return best[name]

    top = (0.0, 0.0, ())
    for name in order:
        cand = visit(name)
        if (cand[1], cand[0], len(cand[2])) > (top[1], top[0], len(top[2])):
            top = cand
    path = top[2] if top[1] > 0 else ()
    unknown = [d.resource.logical_id for d in durations if d.minutes is None]
    return CriticalPath(path, top[0], top[1],
                        tuple(n for n in path if dur.get(n) is None),
                        len(unknown), len(durations) - len(unknown))


# --- backup -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingValue:
    setting: Setting
    value: str  # rendered template value, "" when not set
    is_set: bool


@dataclass(frozen=True, slots=True)
class BackupFinding:
    resource: Resource
    record: Record
    settings: tuple[SettingValue, ...]
    gaps: tuple[tuple[str, bool], ...]  # (text, certain)


def _setting_value(resource: Resource, setting: Setting) -> SettingValue:
    if setting.source_kind == "attribute":
        raw = {"DeletionPolicy": resource.deletion_policy,
               "UpdateReplacePolicy": resource.update_replace_policy}.get(setting.path)
    else:
        raw = resource.properties
        for seg in setting.path.split("."):
            raw = raw.get(seg) if isinstance(raw, Mapping) and intrinsic(raw) is None else None
    if raw is None:
        return SettingValue(setting, "", False)
    return SettingValue(setting, render(raw), True)


def backups(kb: OpsKnowledge, template: Template) -> list[BackupFinding]:
    """Data-bearing resources (those with a backup record) and their configuration."""
    out = []
    for resource in template.resources:
        for applied in applicable(kb, "backup", resource, template):
            record = applied.record
            gaps = []
            for gap in record.missing:
                truth = gap.when.evaluate(resource, template)
                if truth is not Tri.FALSE:
                    gaps.append((gap.text, truth is Tri.TRUE))
            out.append(BackupFinding(resource, record,
                                     tuple(_setting_value(resource, s) for s in record.settings),
                                     tuple(gaps)))
            break
    return out


# --- monitoring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateAlarm:
    """An ``AWS::CloudWatch::Alarm`` of the template, flattened for display."""

    resource: Resource
    namespace: str
    metric: str
    statistic: str
    threshold: str
    comparison: str
    period: str
    evaluation_periods: str
    datapoints: str
    dimensions: tuple[tuple[str, str], ...]
    watched: tuple[str, ...]
    actions: tuple[str, ...]
    description: str
    meaning: str


def _refs_in(expr: Any, names: set[str]) -> list[str]:
    """The names in ``names`` that ``expr`` refers to, in order, each once."""
    return list(dict.fromkeys(n for n in referenced_names(expr) if n in names))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return render(value)


def template_alarms(kb: OpsKnowledge, template: Template) -> list[TemplateAlarm]:
    """Alarms defined in the template; one entry per metric (metric-math alarms list
    each metric they read)."""
    names = {r.logical_id for r in template.resources}
    out = []
    for res in template.resources_of_type("AWS::CloudWatch::Alarm"):
        p = res.properties
        metrics: list[Mapping[str, Any]] = []
        if "MetricName" in p:
            metrics.append({"Namespace": p.get("Namespace"), "MetricName": p.get("MetricName"),
                            "Dimensions": p.get("Dimensions"),
                            "Stat": p.get("Statistic", p.get("ExtendedStatistic")),
                            "Period": p.get("Period")})
        for m in p.get("Metrics") or [] if isinstance(p.get("Metrics"), list) else []:
            stat = m.get("MetricStat") if isinstance(m, Mapping) else None
            metric = stat.get("Metric") if isinstance(stat, Mapping) else None
            if isinstance(metric, Mapping):
                metrics.append({"Namespace": metric.get("Namespace"),
                                "MetricName": metric.get("MetricName"),
                                "Dimensions": metric.get("Dimensions"),
                                "Stat": stat.get("Stat"), "Period": stat.get("Period")})
        if not metrics:
            metrics.append({"Namespace": None, "MetricName": None, "Dimensions": None,
                            "Stat": None, "Period": p.get("Period")})
        actions = tuple(_text(a) for a in p.get("AlarmActions") or []
                        if isinstance(p.get("AlarmActions"), list))
        for m in metrics:
            dims_raw = m["Dimensions"] if isinstance(m["Dimensions"], list) else []
            dims = tuple((_text(d.get("Name")), _text(d.get("Value")))
                         for d in dims_raw if isinstance(d, Mapping))
            watched = tuple(_refs_in(dims_raw, names))
            namespace, metric = _text(m["Namespace"]), _text(m["MetricName"])
            out.append(TemplateAlarm(
                res, namespace, metric, _text(m["Stat"]), _text(p.get("Threshold")),
                _text(p.get("ComparisonOperator")), _text(m["Period"]),
                _text(p.get("EvaluationPeriods")), _text(p.get("DatapointsToAlarm")),
                dims, watched, actions, _text(p.get("AlarmDescription")),
                _meaning(kb, template, namespace, metric, watched)))
    return out


def _meaning(kb: OpsKnowledge, template: Template, namespace: str, metric: str,
             watched: Sequence[str]) -> str:
    types = {r.type for n in watched if (r := template.resource(n)) is not None}
    for record in kb.of_kind("alarm"):
        if record.namespace == namespace and record.metric == metric and (
                not types or types & set(record.types)):
            return record.text
    return ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A recommended alarm for a resource the template's alarms do not cover."""

    resource: Resource
    record: Record
    certain: bool
    dimensions: tuple[tuple[str, Any], ...] | None  # CloudFormation expressions, None: unknown
    unresolved: tuple[str, ...]


def dimension_expr(template: Template, resource: Resource, spec: str) -> Any:
    """A dimension value template as a CloudFormation expression (None: not derivable).

    ``{ref}`` -> ``!Ref R``; ``{getatt:A}`` -> ``!GetAtt R.A``; ``{prop:P?default}`` -> the
    property's own expression; ``{fn:name}`` -> :data:`DIMENSION_FUNCTIONS`; anything
    mixed with text becomes a ``Fn::Sub``.
    """
    whole = _PLACEHOLDER.fullmatch(spec)
    if whole:
        return _dimension_part(template, resource, whole)
    pieces: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(spec):
        pieces.append(spec[pos:m.start()].replace("${", "${!"))
        pos = m.end()
        expr = _dimension_part(template, resource, m)
        fn = intrinsic(expr)
        if fn and fn[0] == "Ref":
            pieces.append("${" + fn[1] + "}")
        elif fn and fn[0] == "Fn::GetAtt":
            pieces.append("${" + ".".join(fn[1]) + "}")
        elif isinstance(expr, str):
            pieces.append(expr.replace("${", "${!"))
        else:
            return None
    pieces.append(spec[pos:].replace("${", "${!"))
    return {"Fn::Sub": "".join(pieces)}


def _dimension_part(template: Template, resource: Resource, m: re.Match[str]) -> Any:
    name, arg, default = m.group(1), m.group(2), m.group(3)
    if name == "ref":
        return {"Ref": resource.logical_id}
    if name == "getatt" and arg:
        return {"Fn::GetAtt": [resource.logical_id, arg]}
    if name == "prop" and arg:
        value: Any = resource.properties
        for seg in arg.split("."):
            value = value.get(seg) if isinstance(value, Mapping) and intrinsic(value) is None \
                else None
        if value is None:
            return default
        return value
    if name == "fn" and arg in DIMENSION_FUNCTIONS:
        return DIMENSION_FUNCTIONS[arg](template, resource)
    return None


def _load_balancer_of_target_group(template: Template, resource: Resource) -> Any:
    """``LoadBalancerFullName`` of the load balancer whose listener forwards to the group."""
    listeners = [r for r in template.resources
                 if r.type in ("AWS::ElasticLoadBalancingV2::Listener",
                               "AWS::ElasticLoadBalancingV2::ListenerRule")]
    names = {r.logical_id for r in template.resources}
    for listener in listeners:
        if resource.logical_id not in _refs_in(listener.properties, names):
            continue
        owner = listener
        if listener.type.endswith("ListenerRule"):
            refs = _refs_in(listener.properties.get("ListenerArn"), names)
            owner = template.resource(refs[0]) if refs else None
            if owner is None:
                continue
        lbs = _refs_in(owner.properties.get("LoadBalancerArn"), names)
        if lbs:
            return {"Fn::GetAtt": [lbs[0], "LoadBalancerFullName"]}
    return None


#: Dimension values a template cannot express in YAML: the one explicit table.
DIMENSION_FUNCTIONS = {
    "load_balancer_of_target_group": _load_balancer_of_target_group,
}


def covered(alarms: Sequence[TemplateAlarm], resource: Resource, record: Record) -> bool:
    return any(a.namespace == record.namespace and a.metric == record.metric
               and resource.logical_id in a.watched for a in alarms)


def recommendations(kb: OpsKnowledge, template: Template,
                    alarms: Sequence[TemplateAlarm]) -> list[Recommendation]:
    """Recommended alarms per resource that no template alarm already covers."""
    out = []
    for resource in template.resources:
        for applied in applicable(kb, "alarm", resource, template):
            if covered(alarms, resource, applied.record):
                continue
            dims: list[tuple[str, Any]] = []
            unresolved: list[str] = []
            for name, spec in applied.record.dimensions:
                expr = dimension_expr(template, resource, spec)
                if expr is None:
                    unresolved.append(name)
                dims.append((name, expr))
            out.append(Recommendation(resource, applied.record, applied.certain,
                                      None if unresolved else tuple(dims), tuple(unresolved)))
    return out


@dataclass(frozen=True, slots=True)
class AlarmCoverage:
    resource: Resource
    recommended: int
    covered: int


def coverage(kb: OpsKnowledge, template: Template,
             alarms: Sequence[TemplateAlarm]) -> list[AlarmCoverage]:
    out = []
    for resource in template.resources:
        recs = applicable(kb, "alarm", resource, template)
        if recs:
            out.append(AlarmCoverage(resource, len(recs),
                                     sum(covered(alarms, resource, a.record) for a in recs)))
    return out


@dataclass(frozen=True, slots=True)
class DashboardMetric:
    resource: Resource
    namespace: str
    metric: str
    statistic: str
    dimensions: tuple[tuple[str, str], ...]
    text: str
    on_dashboard: bool


def dashboard_metrics(kb: OpsKnowledge, template: Template) -> list[DashboardMetric]:
    """Metrics worth a widget, per resource; marks those the template's dashboards show."""
    bodies = _dashboard_texts(template)
    out = []
    for resource in template.resources:
        for applied in applicable(kb, "dashboard", resource, template):
            for m in applied.record.metrics:
                dims = tuple((n, render(dimension_expr(template, resource, s)) or "?")
                             for n, s in m.dimensions)
                shown = any(m.metric in text and resource.logical_id in refs
                            for text, refs in bodies)
                out.append(DashboardMetric(resource, m.namespace, m.metric, m.statistic, dims,
                                           m.text, shown))
    return out


def _dashboard_texts(template: Template) -> list[tuple[str, set[str]]]:
    names = {r.logical_id for r in template.resources}
    out = []
    for res in template.resources_of_type("AWS::CloudWatch::Dashboard"):
        body = res.properties.get("DashboardBody")
        out.append((render(body), set(_refs_in(body, names))))
    return out


def alarm_actions(alarms: Sequence[TemplateAlarm], template: Template) -> Any:
    """The alarm action most template alarms use (so new alarms notify the same place)."""
    counts: dict[str, tuple[int, Any]] = {}
    for res in template.resources_of_type("AWS::CloudWatch::Alarm"):
        actions = res.properties.get("AlarmActions")
        if isinstance(actions, list) and actions:
            key = render(actions)
            n, _ = counts.get(key, (0, actions))
            counts[key] = (n + 1, actions)
    if not counts:
        return None
    return max(counts.values(), key=lambda item: item[0])[1]


# --- CloudFormation snippet for recommended alarms ----------------------------------------


_NAME = re.compile(r"^[A-Za-z0-9:.]+$")  # safe as a bare YAML scalar after a short tag


@lru_cache(maxsize=4096)
def _yaml_str(text: str) -> str:
    """A string as a YAML (JSON) scalar; memoised: the alarm records' texts, metric
    names and statistics repeat in the snippet of every stack."""
    return json.dumps(text)


def _yaml_expr(value: Any) -> str:
    """One CloudFormation value in YAML short form (``!Ref X``, ``!GetAtt A.B``, ``!Sub``)."""
    if type(value) is str:
        return _yaml_str(value)
    fn = intrinsic(value)
    if fn is not None:
        name, arg = fn
        if name == "Ref" and isinstance(arg, str) and _NAME.match(arg):
            return f"!Ref {arg}"
        if name == "Fn::GetAtt" and isinstance(arg, list) and all(
                isinstance(a, str) and _NAME.match(a) for a in arg):
            return f"!GetAtt {'.'.join(arg)}"
        if name == "Fn::Sub" and isinstance(arg, str):
            return f"!Sub {json.dumps(arg)}"
        return json.dumps(_plain(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return json.dumps(str(value))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def _ident(*parts: str) -> str:
    return "".join(_NOT_ALNUM.sub("", p) for p in parts)


@dataclass(frozen=True, slots=True)
class Snippet:
    text: str
    alarm_ids: tuple[str, ...]
    parameter_ids: tuple[str, ...]
    skipped: tuple[Recommendation, ...]


def alarm_snippet(template: Template, recs: Sequence[Recommendation],
                  actions: Any = None) -> Snippet:
    """Ready-to-add ``Parameters``/``Resources`` YAML for the recommendations whose
    dimensions can be derived. A threshold without a universal value becomes a
    parameter without a default: the operator must choose it, docgen never guesses."""
    taken = {r.logical_id for r in template.resources} | {p.name for p in template.parameters}
    params: list[str] = []
    resources: list[str] = []
    alarm_ids: list[str] = []
    param_ids: list[str] = []
    skipped: list[Recommendation] = []

    def unique(base: str) -> str:
        name, n = base, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        return name

    for rec in recs:
        if rec.dimensions is None:
            skipped.append(rec)
            continue
        record = rec.record
        alarm_id = unique(_ident(rec.resource.logical_id, record.metric, "Alarm"))
        if record.threshold is None:
            pid = unique(_ident(rec.resource.logical_id, record.metric, "Threshold"))
            params += [f"  {pid}:", "    Type: Number",
                       f"    Description: {_yaml_expr(record.threshold_reason)}"]
            param_ids.append(pid)
            threshold = f"!Ref {pid}"
        else:
            threshold = _yaml_expr(record.threshold)
        stat_key = "Statistic" if record.statistic[0].isupper() else "ExtendedStatistic"
        lines = [
            f"  {alarm_id}:",
            "    Type: AWS::CloudWatch::Alarm",
            "    Properties:",
            f"      AlarmDescription: {_yaml_expr(record.text)}",
            f"      Namespace: {_yaml_expr(record.namespace)}",
            f"      MetricName: {_yaml_expr(record.metric)}",
            "      Dimensions:",
        ]
        for name, expr in rec.dimensions:
            lines += [f"        - Name: {_yaml_expr(name)}", f"          Value: {_yaml_expr(expr)}"]
        lines += [
            f"      {stat_key}: {_yaml_expr(record.statistic)}",
            f"      Period: {record.period}",
            f"      EvaluationPeriods: {record.evaluation_periods}",
            f"      DatapointsToAlarm: {record.datapoints}",
            f"      Threshold: {threshold}",
            f"      ComparisonOperator: {record.comparison}",
            "      TreatMissingData: missing",
        ]
        if actions:
            lines.append("      AlarmActions:")
            lines += [f"        - {_yaml_expr(a)}" for a in actions]
        resources += lines
        alarm_ids.append(alarm_id)
    text = ""
    if params:
        text += "Parameters:\n" + "\n".join(params) + "\n"
    if resources:
        text += "Resources:\n" + "\n".join(resources) + "\n"
    return Snippet(text, tuple(alarm_ids), tuple(param_ids), tuple(skipped))
