"""Disaster-recovery topology and failover procedure, derived from the handbook.

A handbook has a DR topology when ``docgen.yml`` gives stacks the ``primary`` / ``dr``
roles, or when its resources imply one: an RDS read replica of a database in another
Region (``SourceDBInstanceIdentifier`` with ``SourceRegion`` or an ARN), an Aurora global
cluster, EFS or S3 ``ReplicationConfiguration``, a DynamoDB global table, Route 53
failover records. From that, this module builds the failover procedure in phases whose
time budget adds up to the configured RTO (split by the weights of the knowledge file
``docgen/knowledge/dr/phases.yml``), the failback, a drill checklist, and where the RPO and
RTO figures come from. It is pure: commands are :mod:`docgen.commands` values per
environment; the page renders them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from docgen import commands as c
from docgen import stackinfo
from docgen.analyse import Fact, compute_fact
from docgen.diagnostics import Diagnostic, KnowledgeError
from docgen.intrinsics import Unknown, evaluate, intrinsic
from docgen.loader import parse_yaml
from docgen.model import Handbook, Resource, Stack
from docgen.nodes import line_of

KINDS = ("rds-read-replica", "aurora-global", "efs-replication", "s3-replication",
         "dynamodb-global", "route53-failover")
SERVICE_KINDS = ("ecs-standby",)

# --- knowledge --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    id: str
    title: str
    weight: float
    needs: tuple[str, ...]
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class ReplicationSpec:
    kind: str
    title: str
    rpo_minutes: float | None
    rpo_text: str
    lag_namespace: str | None
    lag_metric: str | None
    lag_unit: str | None
    source: str


@dataclass(frozen=True, slots=True)
class DRKnowledge:
    default_rto_minutes: float
    default_rto_source: str
    phases: tuple[PhaseSpec, ...]
    replication: tuple[ReplicationSpec, ...]
    path: str

    def replication_spec(self, kind: str) -> ReplicationSpec | None:
        return next((r for r in self.replication if r.kind == kind), None)


PHASE_IDS = ("detect", "promote", "scale", "dns", "validate")


class _Bad(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line




def _field(node: Any, key: str, kinds: type | tuple[type, ...], where: str,
           required: bool = True, default: Any = None) -> Any:
    if not isinstance(node, dict):
        raise _Bad(line_of(node), f"{where}: expected a mapping")
    if key not in node:
        if required:
            raise _Bad(line_of(node), f"{where}: missing {key!r}")
        return default
    value = node[key]
    if value is None and not required:
        return default
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _Bad(line_of(node, key), f"{where}.{key}: wrong type {type(value).__name__}")
    return value


def _only(node: Any, allowed: Iterable[str], where: str) -> None:
    for key in node:
        if key not in allowed:
            raise _Bad(line_of(node, key), f"{where}: unknown key {key!r}")


def parse_knowledge(text: str, path: str) -> DRKnowledge:
    """Parse and validate the DR knowledge file; errors name the file and the line."""
    data, diags = parse_yaml(text, path)
    if diags:
        raise KnowledgeError(f"cannot read {path}", tuple(diags))
    try:
        if not isinstance(data, dict):
            raise _Bad(1, "expected a mapping at the top")
        _only(data, ("default_rto_minutes", "default_rto_source", "phases", "replication"), "")
        rto = _field(data, "default_rto_minutes", (int, float), "top")
        if rto <= 0:
            raise _Bad(line_of(data, "default_rto_minutes"), "default_rto_minutes must be > 0")
        phases = []
        plist = _field(data, "phases", list, "top")
        for i, node in enumerate(plist):
            where = f"phases[{i}]"
            _only(node, ("id", "title", "weight", "needs", "text", "source"), where)
            pid = _field(node, "id", str, where)
            if pid not in PHASE_IDS:
                raise _Bad(line_of(node, "id"), f"{where}.id: expected one of {PHASE_IDS}")
            weight = _field(node, "weight", (int, float), where)
            if weight < 0:
                raise _Bad(line_of(node, "weight"), f"{where}.weight must be >= 0")
            needs = _field(node, "needs", list, where)
            for n in needs:
                if n not in (*KINDS, *SERVICE_KINDS):
                    raise _Bad(line_of(node, "needs"), f"{where}.needs: unknown kind {n!r}")
            phases.append(PhaseSpec(pid, _field(node, "title", str, where), float(weight),
                                    tuple(needs), " ".join(_field(node, "text", str,
                                                                  where).split()),
                                    " ".join(_field(node, "source", str, where).split())))
        if [p.id for p in phases] != list(PHASE_IDS):
            raise _Bad(line_of(data, "phases"), f"phases must be, in order: {PHASE_IDS}")
        reps = []
        for i, node in enumerate(_field(data, "replication", list, "top")):
            where = f"replication[{i}]"
            _only(node, ("kind", "title", "rpo_minutes", "rpo_text", "lag_metric", "source"),
                  where)
            kind = _field(node, "kind", str, where)
            if kind not in KINDS:
                raise _Bad(line_of(node, "kind"), f"{where}.kind: expected one of {KINDS}")
            lag = _field(node, "lag_metric", dict, where, required=False)
            if lag is not None:
                _only(lag, ("namespace", "metric", "unit"), f"{where}.lag_metric")
            rpo = _field(node, "rpo_minutes", (int, float), where, required=False)
            reps.append(ReplicationSpec(
                kind, _field(node, "title", str, where), rpo,
                " ".join(_field(node, "rpo_text", str, where).split()),
                _field(lag, "namespace", str, where) if lag else None,
                _field(lag, "metric", str, where) if lag else None,
                _field(lag, "unit", str, where) if lag else None,
                " ".join(_field(node, "source", str, where).split())))
        return DRKnowledge(float(rto), " ".join(_field(data, "default_rto_source", str,
                                                       "top").split()),
                           tuple(phases), tuple(reps), path)
    except _Bad as exc:
        raise KnowledgeError(f"invalid DR knowledge file {path}",
                             (Diagnostic(path, exc.line, 1, str(exc)),)) from exc


_PACKAGE: list[DRKnowledge] = []


def load_knowledge(user_folder: str | None = None) -> DRKnowledge:
    """The package file, or ``<user_folder>/dr/phases.yml`` when the project has one."""
    if user_folder:
        path = os.path.join(user_folder, "dr", "phases.yml")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                return parse_knowledge(fh.read(), path)
    if not _PACKAGE:
        res = resources.files("docgen.knowledge") / "dr" / "phases.yml"
        _PACKAGE.append(parse_knowledge(res.read_text("utf-8"),
                                        "docgen/knowledge/dr/phases.yml"))
    return _PACKAGE[0]


# --- topology ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replication:
    """One replicated resource that makes (or serves) the DR topology."""

    kind: str
    stack: str  # stack holding the resource named by logical_id
    logical_id: str
    resource_type: str
    source_stack: str | None = None  # where the data comes from (when in the handbook)
    source_logical_id: str | None = None
    target_stack: str | None = None  # where it goes (EFS/S3: when in the handbook)
    target_logical_id: str | None = None
    condition: str = ""  # the condition that switches the replication on, if any


@dataclass(frozen=True, slots=True)
class Standby:
    """A service in a DR stack that is scaled up on failover."""

    stack: str
    logical_id: str
    cluster_logical_id: str | None
    cluster_literal: str | None
    primary_stack: str | None
    primary_logical_id: str | None


@dataclass(frozen=True, slots=True)
class LagAlarm:
    stack: str
    logical_id: str
    metric: str
    threshold: Any
    unit: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class Topology:
    primary: tuple[str, ...]
    dr: tuple[str, ...]
    roles_from: str  # "docgen.yml" | "resources"
    replications: tuple[Replication, ...]
    standbys: tuple[Standby, ...]
    lag_alarms: tuple[LagAlarm, ...]
    failover_records: tuple[tuple[str, str], ...] = ()  # (stack, logical id)

    @property
    def kinds(self) -> frozenset[str]:
        out = {r.kind for r in self.replications}
        if self.standbys:
            out.add("ecs-standby")
        return frozenset(out)


def _values(handbook: Handbook, stack: Stack) -> dict[str, Any]:
    return stackinfo.pseudo_values(stackinfo.targets(handbook, stack)[0])


def _conds(stack: Stack) -> dict[str, Any]:
    return {c_.name: c_.expression for c_ in stack.template.conditions}


def _ref_name(value: Any) -> str | None:
    """The logical id or parameter an expression points at (Ref, GetAtt, or a Sub of one)."""
    fn = intrinsic(value)
    if fn is None:
        return None
    name, arg = fn
    if name == "Ref" and isinstance(arg, str):
        return arg
    if name == "Fn::GetAtt":
        if isinstance(arg, list) and arg and isinstance(arg[0], str):
            return arg[0]
        if isinstance(arg, str):
            return arg.split(".", 1)[0]
    if name == "Fn::Sub" and isinstance(arg, str):
        from docgen.intrinsics import sub_variables

        names = [v.split(".", 1)[0] for v in sub_variables(arg) if not v.startswith("AWS::")]
        return names[0] if len(names) == 1 else None
    if name == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
        return _ref_name(arg[1]) or _ref_name(arg[2])
    return None


def _region_of_arn(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("arn:"):
        parts = value.split(":")
        return parts[3] if len(parts) > 3 and parts[3] else None
    return None


def _is_cross_region(handbook: Handbook, stack: Stack, res: Resource,
                     source: tuple[Stack, Resource] | None) -> bool:
    props = res.properties
    if "SourceRegion" in props:
        return True
    value = evaluate(props.get("SourceDBInstanceIdentifier"), _values(handbook, stack))
    arn_region = _region_of_arn(value)
    if arn_region and arn_region != stack.config.region:
        return True
    if source is not None and source[0] is not stack and source[0].config.region and \
            source[0].config.region != stack.config.region:
        return True
    return False


def _condition_of(res: Resource, prop: str) -> str:
    if res.condition:
        return res.condition
    fn = intrinsic(res.properties.get(prop))
    if fn and fn[0] == "Fn::If" and isinstance(fn[1], list) and fn[1] and \
            isinstance(fn[1][0], str):
        return fn[1][0]
    return ""


def _efs_explicit(handbook: Handbook, stack: Stack, res: Resource
                  ) -> tuple[tuple[str, str] | None, tuple[str, ...]]:
    """The handbook file system a replication names through a wiring, if it does, and
    the Regions its destinations are in (to match candidates in other stacks)."""
    config = res.properties.get("ReplicationConfiguration")
    fn = intrinsic(config)
    if fn and fn[0] == "Fn::If" and isinstance(fn[1], list) and len(fn[1]) == 3:
        config = fn[1][1] if isinstance(fn[1][1], dict) else fn[1][2]
    dests = config.get("Destinations") if isinstance(config, dict) else None
    regions: set[str] = set()
    values = _values(handbook, stack)
    for d in dests if isinstance(dests, list) else []:
        if isinstance(d, dict):
            r = evaluate(d.get("Region"), values)
            if isinstance(r, str):
                regions.add(r)
            found = stackinfo.follow_reference(handbook, stack, d.get("FileSystemId"))
            if found and found[1].type == "AWS::EFS::FileSystem":
                return (found[0].id, found[1].logical_id), ()
    return None, tuple(sorted(regions))


def _efs_replication_targets(stack: Stack) -> tuple[str, ...]:
    """File systems of a stack that can receive a replication (overwrite protection off)."""
    out = []
    for fs in stack.template.resources_of_type("AWS::EFS::FileSystem"):
        prot = fs.properties.get("FileSystemProtection")
        if isinstance(prot, dict) and prot.get("ReplicationOverwriteProtection") == "DISABLED":
            out.append(fs.logical_id)
    return tuple(out)


#: A stack's replications; an EFS one whose destination is not wired carries the
#: Regions to look for a receiving file system in (matched across stacks afterwards).
_StackReplication = tuple[Replication, tuple[str, ...] | None]


def _stack_replications(handbook: Handbook, st: Stack) -> list[_StackReplication]:
    out: list[_StackReplication] = []
    for res in st.template.resources:
        props = res.properties
        if res.type == "AWS::RDS::DBInstance" and "SourceDBInstanceIdentifier" in props:
            source = stackinfo.follow_reference(handbook, st,
                                                props["SourceDBInstanceIdentifier"])
            if _is_cross_region(handbook, st, res, source):
                out.append((Replication(
                    "rds-read-replica", st.id, res.logical_id, res.type,
                    source[0].id if source else None,
                    source[1].logical_id if source else None,
                    condition=res.condition or ""), None))
        elif res.type == "AWS::RDS::GlobalCluster":
            out.append((Replication("aurora-global", st.id, res.logical_id, res.type,
                                    condition=res.condition or ""), None))
        elif res.type == "AWS::RDS::DBCluster" and "GlobalClusterIdentifier" in props \
                and not st.template.resources_of_type("AWS::RDS::GlobalCluster"):
            out.append((Replication("aurora-global", st.id, res.logical_id, res.type,
                                    condition=res.condition or ""), None))
        elif res.type == "AWS::EFS::FileSystem" and "ReplicationConfiguration" in props:
            dest, regions = _efs_explicit(handbook, st, res)
            out.append((Replication(
                "efs-replication", st.id, res.logical_id, res.type, st.id, res.logical_id,
                dest[0] if dest else None, dest[1] if dest else None,
                _condition_of(res, "ReplicationConfiguration")),
                None if dest else regions))
        elif res.type == "AWS::S3::Bucket" and "ReplicationConfiguration" in props:
            out.append((Replication("s3-replication", st.id, res.logical_id, res.type,
                                    st.id, res.logical_id,
                                    condition=_condition_of(res, "ReplicationConfiguration")),
                        None))
        elif res.type == "AWS::DynamoDB::GlobalTable":
            replicas = props.get("Replicas")
            if isinstance(replicas, list) and len(replicas) > 1:
                out.append((Replication("dynamodb-global", st.id, res.logical_id, res.type,
                                        condition=res.condition or ""), None))
        elif res.type in ("AWS::Route53::RecordSet", "AWS::Route53::RecordSetGroup"):
            sets = props.get("RecordSets") if res.type.endswith("Group") else [props]
            if any(isinstance(s, dict) and "Failover" in s for s in sets or []):
                out.append((Replication("route53-failover", st.id, res.logical_id, res.type,
                                        condition=res.condition or ""), None))
    return out


def stack_facts(handbook: Handbook, st: Stack, knowledge: DRKnowledge, fact: Fact) -> None:
    """Compute, through ``fact``, what :func:`topology` reads of one stack."""
    _replications_of(handbook, st, fact)
    _lag_alarms_of(st, knowledge, fact)


def _replications_of(handbook: Handbook, st: Stack, fact: Fact) -> list[_StackReplication]:
    return fact(st, "dr-replications",  # type: ignore[no-any-return]
                lambda: _stack_replications(handbook, st))


def _lag_alarms_of(st: Stack, knowledge: DRKnowledge, fact: Fact) -> list[LagAlarm]:
    return fact(st, "dr-lag-alarms",  # type: ignore[no-any-return]
                lambda: _stack_lag_alarms(st, knowledge))


def _replications(handbook: Handbook, fact: Fact = compute_fact) -> list[Replication]:
    per_stack = [(st, _replications_of(handbook, st, fact)) for st in handbook.stacks]
    out: list[Replication] = []
    for st, found in per_stack:
        for rep, regions in found:
            if regions is not None:  # an EFS destination to find among the other stacks
                candidates = [
                    (other.id, logical_id) for other in handbook.stacks
                    if other is not st and not (regions and other.config.region not in regions)
                    for logical_id in fact(other, "dr-efs-targets",
                                           lambda o=other: _efs_replication_targets(o))]
                if len(candidates) == 1:
                    rep = dataclasses.replace(rep, target_stack=candidates[0][0],
                                              target_logical_id=candidates[0][1])
            out.append(rep)
    return out


def _service_count_resource(stack: Stack) -> list[Resource]:
    return list(stack.template.resources_of_type("AWS::ECS::Service"))


def _standbys(handbook: Handbook, primary: list[str], dr: list[str]) -> list[Standby]:
    out = []
    prim_services = [(sid, r) for sid in primary
                     for r in _service_count_resource(handbook.stack(sid))  # type: ignore[arg-type]
                     ]
    for sid in dr:
        st = handbook.stack(sid)
        assert st is not None
        services = _service_count_resource(st)
        for svc in services:
            match = next(((p, r) for p, r in prim_services if r.logical_id == svc.logical_id),
                         None)
            if match is None and len(services) == 1 and len(prim_services) == 1:
                match = prim_services[0]
            cluster = svc.properties.get("Cluster")
            cl_name = _ref_name(cluster)
            cl_res = st.template.resource(cl_name) if cl_name else None
            out.append(Standby(sid, svc.logical_id, cl_res.logical_id if cl_res else None,
                               cluster if isinstance(cluster, str) else None,
                               match[0] if match else None, match[1].logical_id if match else None))
    return out


def _stack_lag_alarms(st: Stack, knowledge: DRKnowledge) -> list[LagAlarm]:
    metrics = {(r.lag_namespace, r.lag_metric): r for r in knowledge.replication
               if r.lag_metric}
    out = []
    for res in st.template.resources_of_type("AWS::CloudWatch::Alarm"):
        key = (res.properties.get("Namespace"), res.properties.get("MetricName"))
        spec = metrics.get(key)
        if spec is not None:
            out.append(LagAlarm(st.id, res.logical_id, str(key[1]),
                                res.properties.get("Threshold"), spec.lag_unit, spec.kind))
    return out


def _lag_alarms(handbook: Handbook, knowledge: DRKnowledge, fact: Fact = compute_fact
                ) -> list[LagAlarm]:
    return [alarm for st in handbook.stacks for alarm in _lag_alarms_of(st, knowledge, fact)]


def topology(handbook: Handbook, knowledge: DRKnowledge | None = None,
             fact: Fact = compute_fact) -> Topology | None:
    """The handbook's DR topology, or None when it has none.

    ``fact``: how per-stack findings are obtained (the page layer passes
    ``PageContext.stack_fact``, so that unchanged stacks need not be parsed)."""
    knowledge = knowledge or load_knowledge(handbook.project.knowledge_dir)
    reps = _replications(handbook, fact)
    primary = [s.id for s in handbook.stacks if s.config.role == "primary"]
    dr = [s.id for s in handbook.stacks if s.config.role == "dr"]
    roles_from = "docgen.yml"
    if not dr:
        if not reps:
            return None
        roles_from = "resources"
        dr = sorted({r.stack for r in reps if r.kind == "rds-read-replica"} |
                    {r.target_stack for r in reps if r.kind == "efs-replication"
                     and r.target_stack} |
                    {r.stack for r in reps if r.kind == "aurora-global"
                     and r.resource_type == "AWS::RDS::DBCluster"},
                    key=[s.id for s in handbook.stacks].index)
        primary = primary or sorted(
            {r.source_stack for r in reps if r.source_stack and r.source_stack not in dr},
            key=[s.id for s in handbook.stacks].index)
    standbys = _standbys(handbook, primary, dr)
    lag = _lag_alarms(handbook, knowledge, fact)
    failover = tuple((r.stack, r.logical_id) for r in reps if r.kind == "route53-failover")
    return Topology(tuple(primary), tuple(dr), roles_from, tuple(reps), tuple(standbys),
                    tuple(lag), failover)


# --- procedure --------------------------------------------------------------------------------


@dataclass
class Action:
    """One thing to do, with commands per environment and how to check it worked."""

    text: str
    commands: list[tuple[str | None, list[Any]]] = field(default_factory=list)
    check_text: str = ""
    check: list[tuple[str | None, list[Any]]] = field(default_factory=list)


@dataclass
class Phase:
    id: str
    title: str
    start: float
    end: float
    text: str
    source: str
    actions: list[Action] = field(default_factory=list)


@dataclass
class Figure:
    """RPO or RTO with where it comes from."""

    minutes: float | None
    source: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class Procedure:
    topology: Topology
    rto: Figure
    rpo: Figure
    phases: list[Phase]
    failback: list[Action]
    drill: list[str]
    replications: list[dict[str, Any]]
    knowledge_path: str


def budget(knowledge: DRKnowledge, rto: float, kinds: Iterable[str]
           ) -> list[tuple[PhaseSpec, float, float]]:
    """(phase, start, end) for the phases that apply, scaled so the last end is ``rto``.

    Boundaries are rounded to half minutes; the cumulative rounding keeps the sum exact.
    """
    present = set(kinds)
    phases = [p for p in knowledge.phases if not p.needs or present & set(p.needs)]
    total = sum(p.weight for p in phases)
    out = []
    acc = 0.0
    for p in phases:
        start = _half(acc * rto / total) if total else 0.0
        acc += p.weight
        end = _half(acc * rto / total) if total else rto
        out.append((p, start, end))
    if out:
        last = out[-1]
        out[-1] = (last[0], min(last[1], rto), rto)
    return out


def _half(x: float) -> float:
    return round(x * 2) / 2


Targets = list[tuple[str | None, Any]]


def _per_env(handbook: Handbook, stack: Stack,
             build: Callable[[stackinfo.Target], list[Any]]) -> list[tuple[str | None, list[Any]]]:
    return [(t.env, build(t)) for t in stackinfo.targets(handbook, stack)]


def _target_for(handbook: Handbook, stack: Stack, env: str | None) -> stackinfo.Target:
    ts = stackinfo.targets(handbook, stack)
    return next((t for t in ts if t.env == env), ts[0])


def _ident(stack: Stack, res: Resource, target: stackinfo.Target, suffix: str = "ID"
           ) -> tuple[c.Value, list[Any]]:
    value, lookups = stackinfo.resource_id(stack, res, target, suffix)
    return value, list(lookups)


def _eval_in(handbook: Handbook, stack: Stack, value: Any, env: str | None) -> Any:
    target = _target_for(handbook, stack, env)
    return evaluate(value, stackinfo.pseudo_values(target), _conds(stack),
                    stack.template.mappings)


def _rds_actions(handbook: Handbook, rep: Replication) -> tuple[list[Action], list[Action]]:
    """(promote actions, detect checks) for one read replica."""
    st = handbook.stack(rep.stack)
    assert st is not None
    res = st.template.resource(rep.logical_id)
    assert res is not None
    src = handbook.stack(rep.source_stack) if rep.source_stack else None
    src_res = src.template.resource(rep.source_logical_id) if src and rep.source_logical_id \
        else None

    def promote(t: stackinfo.Target) -> list[Any]:
        ident, lookups = _ident(st, res, t)
        retention = None
        if src is not None and src_res is not None:
            v = _eval_in(handbook, src, src_res.properties.get("BackupRetentionPeriod"), t.env)
            if isinstance(v, (int, str)) and str(v).isdigit() and int(v) > 0:
                retention = int(v)
        return [*lookups, c.aws("rds", "promote-read-replica",
                                ("--db-instance-identifier", ident),
                                ("--backup-retention-period", retention), region=t.region)]

    def check(t: stackinfo.Target) -> list[Any]:
        ident, _ = _ident(st, res, t)
        return [c.AwsCommand("rds", "wait db-instance-available",
                             (("--db-instance-identifier", (ident,)),
                              *((("--region", (t.region,)),) if t.region else ()))),
                c.aws("rds", "describe-db-instances", ("--db-instance-identifier", ident),
                      ("--query", "DBInstances[0].[DBInstanceStatus,"
                                  "ReadReplicaSourceDBInstanceIdentifier]"),
                      ("--output", "text"), region=t.region)]

    def status(t: stackinfo.Target) -> list[Any]:
        ident, lookups = _ident(st, res, t)
        return [*lookups, c.aws("rds", "describe-db-instances",
                                ("--db-instance-identifier", ident),
                                ("--query", "DBInstances[0].[DBInstanceStatus,"
                                            "StatusInfos[0].Status]"),
                                ("--output", "text"), region=t.region)]

    retention_note = ""
    if src_res is not None and "BackupRetentionPeriod" in src_res.properties:
        retention_note = (" The promoted instance keeps automated backups for as many days as "
                          f"the source {src_res.logical_id} of {src.id if src else ''} "
                          "(BackupRetentionPeriod).")
    promote_action = Action(
        f"Promote the read replica {res.logical_id} of stack {st.id} to a standalone "
        f"database.{retention_note} The application must then write to it (its endpoint "
        "does not change).",
        _per_env(handbook, st, promote),
        "Wait until the instance is available again; the second column (the replication "
        "source) must be None.",
        _per_env(handbook, st, check))
    detect = Action(
        f"Check that the replica {res.logical_id} of stack {st.id} is replicating: the second "
        "column shows the replication state (replicating, lagging, error).",
        _per_env(handbook, st, status))
    return [promote_action], [detect]


def _efs_actions(handbook: Handbook, rep: Replication) -> tuple[list[Action], list[Action]]:
    st = handbook.stack(rep.target_stack or rep.stack)
    assert st is not None
    res = st.template.resource(rep.target_logical_id or rep.logical_id)
    assert res is not None
    in_dr = rep.target_stack is not None

    def delete(t: stackinfo.Target) -> list[Any]:
        ident, lookups = _ident(st, res, t, "FS_ID")
        src_var = c.ShellVar("SOURCE_FS_ID")
        if in_dr:
            capture = c.Assign(src_var, c.aws(
                "efs", "describe-replication-configurations", ("--file-system-id", ident),
                ("--query", "Replications[0].SourceFileSystemId"), ("--output", "text"),
                region=t.region))
            return [*lookups, capture,
                    c.aws("efs", "delete-replication-configuration",
                          ("--source-file-system-id", src_var), region=t.region)]
        return [*lookups, c.aws("efs", "delete-replication-configuration",
                                ("--source-file-system-id", ident), region=t.region)]

    def check(t: stackinfo.Target) -> list[Any]:
        if not in_dr:
            return [c.aws("efs", "describe-replication-configurations",
                          ("--file-system-id", _ident(st, res, t, "FS_ID")[0]),
                          region=t.region)]
        ident, _ = _ident(st, res, t, "FS_ID")
        return [c.aws("efs", "describe-file-systems", ("--file-system-id", ident),
                      ("--query", "FileSystems[0].FileSystemProtection."
                                  "ReplicationOverwriteProtection"),
                      ("--output", "text"), region=t.region)]

    where = f"file system {res.logical_id} of stack {st.id}"
    text = (f"Stop the EFS replication into {where} so that it becomes writable (deleting the "
            "replication configuration from the destination Region works while the source "
            "Region is down; add --deletion-mode LOCAL_CONFIGURATION_ONLY only if the "
            "deletion cannot reach the source Region).")
    if not in_dr:
        text = (f"Stop the EFS replication of {where} (its destination is not a stack of the "
                "handbook: run this where the source Region answers).")
    cond = f" It is switched on by condition {rep.condition}." if rep.condition else ""
    return [Action(text + cond, _per_env(handbook, st, delete),
                   "The replica is writable when its replication overwrite protection reads "
                   "ENABLED again (it reads REPLICATING while it is a destination)." if in_dr
                   else "The replication configuration is gone.",
                   _per_env(handbook, st, check))], []


def _aurora_actions(handbook: Handbook, rep: Replication) -> list[Action]:
    st = handbook.stack(rep.stack)
    assert st is not None
    res = st.template.resource(rep.logical_id)
    assert res is not None
    dr_clusters = [(s, r) for s in handbook.stacks for r in
                   s.template.resources_of_type("AWS::RDS::DBCluster")
                   if "GlobalClusterIdentifier" in r.properties and
                   (s.config.role == "dr" or s is not st)]
    actions = []
    for dst, cluster in dr_clusters[:1]:
        def cmds(t: stackinfo.Target, dst: Stack = dst, cluster: Resource = cluster
                 ) -> list[Any]:
            cl_id, lookups = _ident(dst, cluster, t, "CLUSTER_ID")
            gid = _eval_in(handbook, dst, cluster.properties.get("GlobalClusterIdentifier"),
                           t.env)
            g_value: c.Value = gid if isinstance(gid, str) else c.ShellVar("GLOBAL_CLUSTER_ID")
            arn = c.ShellVar("TARGET_CLUSTER_ARN")
            return [*lookups, c.Assign(arn, c.aws(
                "rds", "describe-db-clusters", ("--db-cluster-identifier", cl_id),
                ("--query", "DBClusters[0].DBClusterArn"), ("--output", "text"),
                region=t.region)),
                c.aws("rds", "failover-global-cluster", ("--global-cluster-identifier", g_value),
                      ("--target-db-cluster-identifier", arn), ("--allow-data-loss", ()),
                      region=t.region)]

        def check(t: stackinfo.Target, dst: Stack = dst, cluster: Resource = cluster
                  ) -> list[Any]:
            cl_id, _ = _ident(dst, cluster, t, "CLUSTER_ID")
            return [c.AwsCommand("rds", "wait db-cluster-available",
                                 (("--db-cluster-identifier", (cl_id,)),
                                  *((("--region", (t.region,)),) if t.region else ())))]

        actions.append(Action(
            f"Fail the Aurora global database over to cluster {cluster.logical_id} of stack "
            f"{dst.id} (--allow-data-loss: the primary Region is not answering).",
            _per_env(handbook, dst, cmds), "Wait until the cluster is available as the writer.",
            _per_env(handbook, dst, check)))
    return actions


def _standby_actions(handbook: Handbook, sb: Standby) -> Action:
    st = handbook.stack(sb.stack)
    assert st is not None
    svc = st.template.resource(sb.logical_id)
    assert svc is not None
    prim = handbook.stack(sb.primary_stack) if sb.primary_stack else None
    prim_svc = prim.template.resource(sb.primary_logical_id) if prim and \
        sb.primary_logical_id else None

    def cluster_and_service(t: stackinfo.Target) -> tuple[c.Value | None, c.Value, list[Any]]:
        lookups: list[Any] = []
        cluster: c.Value | None = sb.cluster_literal
        if sb.cluster_logical_id:
            cres = st.template.resource(sb.cluster_logical_id)
            assert cres is not None
            cluster, more = _ident(st, cres, t, "CLUSTER")
            lookups += more
        name = _eval_in(handbook, st, svc.properties.get("ServiceName"), t.env)
        service: c.Value
        if isinstance(name, str):
            service = name
        else:
            service, more = _ident(st, svc, t, "SERVICE")
            lookups += more
        return cluster, service, lookups

    def count_for(t: stackinfo.Target) -> c.Value:
        if prim is not None and prim_svc is not None:
            v = _eval_in(handbook, prim, prim_svc.properties.get("DesiredCount"), t.env)
            if isinstance(v, (int, str)) and str(v).isdigit():
                return int(v)
        return c.ShellVar("DESIRED_COUNT")

    def scale(t: stackinfo.Target) -> list[Any]:
        cluster, service, lookups = cluster_and_service(t)
        return [*lookups, c.aws("ecs", "update-service", ("--cluster", cluster),
                                ("--service", service), ("--desired-count", count_for(t)),
                                region=t.region)]

    def check(t: stackinfo.Target) -> list[Any]:
        cluster, service, _ = cluster_and_service(t)
        opts: list[tuple[str, tuple[c.Value, ...]]] = []
        if cluster is not None:
            opts.append(("--cluster", (cluster,)))
        opts.append(("--services", (service,)))
        if t.region:
            opts.append(("--region", (t.region,)))
        return [c.AwsCommand("ecs", "wait services-stable", tuple(opts)),
                c.aws("ecs", "describe-services", ("--cluster", cluster),
                      ("--services", [service]),
                      ("--query", "services[0].[desiredCount,runningCount]"),
                      ("--output", "text"), region=t.region)]

    standby = {t.env: _eval_in(handbook, st, svc.properties.get("DesiredCount"), t.env)
               for t in stackinfo.targets(handbook, st)}
    counts = ", ".join(f"{env or 'default'}: {v}" for env, v in standby.items()
                       if not isinstance(v, Unknown))
    source = (f"the desired count of {prim_svc.logical_id} in stack {prim.id}, per environment"
              if prim is not None and prim_svc is not None else
              "the task count of the primary (set DESIRED_COUNT: no matching primary "
              "service found)")
    return Action(
        f"Scale service {svc.logical_id} of stack {st.id} up to {source}"
        + (f" (standby count now {counts})." if counts else "."),
        _per_env(handbook, st, scale),
        "Wait until the service is stable; running must equal desired.",
        _per_env(handbook, st, check))


def _load_balancer(stack: Stack) -> Resource | None:
    lbs = stack.template.resources_of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
    return lbs[0] if lbs else None


def _dns_actions(handbook: Handbook, topo: Topology) -> tuple[list[Action], str]:
    dns = handbook.project.dr
    name: c.Value = dns.dns_name or c.ShellVar("DNS_NAME")
    zone: c.Value = dns.hosted_zone_id or c.ShellVar("HOSTED_ZONE_ID")
    note = "" if dns.dns_name and dns.hosted_zone_id else (
        "docgen.yml sets no dr.dns (name, hosted_zone_id): export DNS_NAME and HOSTED_ZONE_ID "
        "first, or set them in docgen.yml to have them filled in.")
    if topo.failover_records:
        sid, logical = topo.failover_records[0]
        st = handbook.stack(sid)
        assert st is not None
        checks = st.template.resources_of_type("AWS::Route53::HealthCheck")

        def verify(t: stackinfo.Target) -> list[Any]:
            out: list[Any] = []
            for hc in checks[:1]:
                ident, lookups = _ident(st, hc, t, "HEALTH_CHECK_ID")
                out += [*lookups, c.aws("route53", "get-health-check-status",
                                        ("--health-check-id", ident))]
            out.append(c.aws("route53", "test-dns-answer", ("--hosted-zone-id", zone),
                             ("--record-name", name), ("--record-type", "A")))
            return out

        return [Action(
            f"Route 53 failover routing ({logical} of stack {sid}) answers with the secondary "
            "record once the health check of the primary fails: confirm it did.",
            _per_env(handbook, st, verify),
            "The DNS answer must be the DR endpoint.")], note
    dr_stack = next((handbook.stack(s) for s in topo.dr if handbook.stack(s) is not None
                     and _load_balancer(handbook.stack(s)) is not None), None)  # type: ignore[arg-type]
    if dr_stack is None:
        return [], note
    lb = _load_balancer(dr_stack)
    assert lb is not None

    def switch(t: stackinfo.Target) -> list[Any]:
        arn, lookups = _ident(dr_stack, lb, t, "ARN")
        dns_var, zone_var = c.ShellVar("DR_LB_DNS"), c.ShellVar("DR_LB_ZONE")
        change = c.ShellVar("CHANGE_ID")
        batch_head = json.dumps({"Comment": "docgen DR failover", "Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {
                "Name": "@NAME@", "Type": "A", "AliasTarget": {
                    "HostedZoneId": "@ZONE@", "DNSName": "@DNS@",
                    "EvaluateTargetHealth": True}}}]}, separators=(",", ":"))
        parts: list[str | c.ShellVar] = []
        rest = batch_head
        for marker, value in (("@NAME@", name), ("@ZONE@", zone_var), ("@DNS@", dns_var)):
            head, rest = rest.split(marker, 1)
            parts.append(head)
            # a literal goes inside a JSON string: escape it for JSON, the shell quoting
            # of the whole word is done by commands.Concat
            parts.append(value if isinstance(value, c.ShellVar) else json.dumps(str(value))[1:-1])
        parts.append(rest)
        merged: list[str | c.ShellVar] = []
        for p in parts:
            if isinstance(p, str) and merged and isinstance(merged[-1], str):
                merged[-1] += p
            else:
                merged.append(p)
        return [*lookups,
                c.Assign(dns_var, c.aws("elbv2", "describe-load-balancers",
                                        ("--load-balancer-arns", [arn]),
                                        ("--query", "LoadBalancers[0].DNSName"),
                                        ("--output", "text"), region=t.region)),
                c.Assign(zone_var, c.aws("elbv2", "describe-load-balancers",
                                         ("--load-balancer-arns", [arn]),
                                         ("--query", "LoadBalancers[0].CanonicalHostedZoneId"),
                                         ("--output", "text"), region=t.region)),
                c.Assign(change, c.aws("route53", "change-resource-record-sets",
                                       ("--hosted-zone-id", zone),
                                       ("--change-batch", c.Concat(tuple(merged))),
                                       ("--query", "ChangeInfo.Id"), ("--output", "text")))]

    def check(t: stackinfo.Target) -> list[Any]:
        return [c.AwsCommand("route53", "wait resource-record-sets-changed",
                             (("--id", (c.ShellVar("CHANGE_ID"),)),)),
                c.raw("dig", "+short", name)]

    return [Action(
        f"Point the public name at the load balancer {lb.logical_id} of stack {dr_stack.id} "
        "(an alias A record, UPSERT).",
        _per_env(handbook, dr_stack, switch),
        "Wait until Route 53 reports the change INSYNC, then resolve the name: it must "
        "return the addresses of the DR load balancer.",
        _per_env(handbook, dr_stack, check))], note


def _validate_actions(handbook: Handbook, topo: Topology) -> list[Action]:
    actions = []
    name = handbook.project.dr.dns_name
    for sid in topo.dr:
        st = handbook.stack(sid)
        assert st is not None
        tgs = st.template.resources_of_type("AWS::ElasticLoadBalancingV2::TargetGroup")
        https = any(l_.properties.get("Protocol") == "HTTPS" for l_ in
                    st.template.resources_of_type("AWS::ElasticLoadBalancingV2::Listener"))

        def cmds(t: stackinfo.Target, st: Stack = st, tgs: Any = tgs, https: bool = https
                 ) -> list[Any]:
            out: list[Any] = []
            for tg in tgs:
                arn, lookups = _ident(st, tg, t, "ARN")
                out += [*lookups, c.aws("elbv2", "describe-target-health",
                                        ("--target-group-arn", arn),
                                        ("--query", "TargetHealthDescriptions[].TargetHealth."
                                                    "State"),
                                        ("--output", "text"), region=t.region)]
            out.append(c.aws("cloudwatch", "describe-alarms", ("--state-value", "ALARM"),
                             ("--query", "MetricAlarms[].AlarmName"), ("--output", "text"),
                             region=t.region))
            url: c.Value = c.Concat((("https://" if https else "http://"),
                                     c.ShellVar("DNS_NAME"), "/")) if not name else \
                f"{'https' if https else 'http'}://{name}/"
            out.append(c.raw("curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}\\n", url))
            return out

        actions.append(Action(
            f"Check stack {sid} end to end: every target healthy, no alarm in the DR Region, "
            "the site answering on its public name; then run the integration tests against "
            f"the outputs of {sid} (see its outputs page).",
            _per_env(handbook, st, cmds),
            "Targets read healthy, the alarm list is empty, curl prints 200 (or your "
            "redirect code)."))
    return actions


def _detect_actions(handbook: Handbook, topo: Topology) -> list[Action]:
    actions = []
    for sid in topo.primary:
        st = handbook.stack(sid)
        assert st is not None
        actions.append(Action(
            f"Look at the alarms of the primary Region ({st.config.region or 'default Region'})"
            f" of stack {sid}: a Region-wide failure shows as many alarms at once, or as API "
            "errors.",
            _per_env(handbook, st, lambda t: [c.aws(
                "cloudwatch", "describe-alarms", ("--state-value", "ALARM"),
                ("--query", "MetricAlarms[].[AlarmName,StateReason]"), ("--output", "table"),
                region=t.region)])))
    return actions


def _lag_checks(handbook: Handbook, topo: Topology) -> list[Action]:
    """The state of each replication-lag alarm: in ALARM, the failover loses more than it."""
    actions = []
    for alarm in topo.lag_alarms:
        st = handbook.stack(alarm.stack)
        assert st is not None
        res = st.template.resource(alarm.logical_id)
        assert res is not None

        def cmds(t: stackinfo.Target, st: Stack = st, res: Resource = res) -> list[Any]:
            name, lookups = _ident(st, res, t, "NAME")
            return [*lookups, c.aws("cloudwatch", "describe-alarms", ("--alarm-names", [name]),
                                    ("--query", "MetricAlarms[0].[StateValue,StateReason]"),
                                    ("--output", "text"), region=t.region)]

        actions.append(Action(
            f"Read the replication-lag alarm {alarm.logical_id} of stack {alarm.stack} "
            f"({alarm.metric} above {alarm.threshold} {alarm.unit or ''}): OK means the "
            "replica was within that lag; ALARM means the failover loses more data than that.",
            _per_env(handbook, st, cmds)))
    return actions


def _failback(handbook: Handbook, topo: Topology) -> list[Action]:
    steps: list[Action] = []
    for sid in topo.primary:
        st = handbook.stack(sid)
        assert st is not None
        steps.append(Action(
            f"Wait until the primary Region of stack {sid} is healthy again: no alarm caused by "
            "the outage, and the stack answers describe-stacks.",
            _per_env(handbook, st, lambda t, st=st: [  # type: ignore[misc]
                c.aws("cloudformation", "describe-stacks", ("--stack-name", t.stack_name),
                      ("--query", "Stacks[0].StackStatus"), ("--output", "text"),
                      region=t.region)])))
    for rep in topo.replications:
        if rep.kind != "rds-read-replica":
            continue
        st = handbook.stack(rep.stack)
        assert st is not None
        res = st.template.resource(rep.logical_id)
        assert res is not None
        src = handbook.stack(rep.source_stack) if rep.source_stack else None
        src_res = src.template.resource(rep.source_logical_id) if src and \
            rep.source_logical_id else None
        policy = res.deletion_policy if isinstance(res.deletion_policy, str) else "Delete"

        def snap(t: stackinfo.Target, st: Stack = st, res: Resource = res) -> list[Any]:
            ident, lookups = _ident(st, res, t)
            snap_id = c.Concat((ident, "-before-failback")) if isinstance(ident, c.ShellVar) \
                else f"{ident}-before-failback"
            return [*lookups,
                    c.aws("rds", "create-db-snapshot", ("--db-instance-identifier", ident),
                          ("--db-snapshot-identifier", snap_id), region=t.region),
                    c.AwsCommand("rds", "wait db-snapshot-available",
                                 (("--db-snapshot-identifier", (snap_id,)),
                                  *((("--region", (t.region,)),) if t.region else ())))]

        steps.append(Action(
            f"Snapshot the promoted database {res.logical_id} of stack {st.id} before anything "
            f"else. Its DeletionPolicy is {policy}: "
            + ("deleting or replacing the stack now would delete the only up-to-date copy."
               if policy == "Delete" else "the snapshot still protects against mistakes."),
            _per_env(handbook, st, snap)))
        if src is not None and src_res is not None:
            def back(t: stackinfo.Target, st: Stack = st, res: Resource = res,
                     src: Stack = src, src_res: Resource = src_res) -> list[Any]:
                ident, lookups = _ident(st, res, t)
                st_target = _target_for(handbook, src, t.env)
                src_id, src_lookups = _ident(src, src_res, st_target)
                new_id = c.Concat((src_id, "-failback")) if isinstance(src_id, c.ShellVar) \
                    else f"{src_id}-failback"
                arn = c.ShellVar("DR_DB_ARN")
                kms = None
                key_name = _ref_name(src_res.properties.get("KmsKeyId"))
                key_res = src.template.resource(key_name) if key_name else None
                more: list[Any] = []
                if key_res is not None:
                    kms, more = _ident(src, key_res, st_target)
                subnet: c.Value | None = None
                sg_name = _ref_name(src_res.properties.get("DBSubnetGroupName"))
                sg_res = src.template.resource(sg_name) if sg_name else None
                if sg_res is not None:
                    literal = _eval_in(handbook, src, sg_res.properties.get(
                        "DBSubnetGroupName"), t.env)
                    if isinstance(literal, str):
                        subnet = literal
                    else:
                        subnet, extra = _ident(src, sg_res, st_target, "SUBNET_GROUP")
                        more += extra
                return [*lookups, *src_lookups, *more,
                        c.Assign(arn, c.aws("rds", "describe-db-instances",
                                            ("--db-instance-identifier", ident),
                                            ("--query", "DBInstances[0].DBInstanceArn"),
                                            ("--output", "text"), region=t.region)),
                        c.aws("rds", "create-db-instance-read-replica",
                              ("--db-instance-identifier", new_id),
                              ("--source-db-instance-identifier", arn),
                              ("--source-region", t.region),
                              ("--kms-key-id", kms), ("--db-subnet-group-name", subnet),
                              region=st_target.region),
                        c.AwsCommand("rds", "wait db-instance-available",
                                     (("--db-instance-identifier", (new_id,)),
                                      *((("--region", (st_target.region,)),)
                                        if st_target.region else ())))]

            steps.append(Action(
                f"Copy the data back: create a read replica of the promoted database in the "
                f"Region of stack {src.id}, next to {src_res.logical_id} (encrypted with the "
                "key of that stack, in its subnet group).",
                _per_env(handbook, st, back)))
    for rep in topo.replications:
        if rep.kind != "efs-replication" or rep.target_stack is None:
            continue
        src = handbook.stack(rep.stack)
        dst = handbook.stack(rep.target_stack)
        assert src is not None and dst is not None
        src_fs = src.template.resource(rep.logical_id)
        dst_fs = dst.template.resource(rep.target_logical_id or "")
        assert src_fs is not None and dst_fs is not None

        def efs_back(t: stackinfo.Target, src: Stack = src, dst: Stack = dst,
                     src_fs: Resource = src_fs, dst_fs: Resource = dst_fs) -> list[Any]:
            dst_id, l1 = _ident(dst, dst_fs, t, "FS_ID")
            st_target = _target_for(handbook, src, t.env)
            src_id, l2 = _ident(src, src_fs, st_target, "FS_ID")
            return [*l1, *l2,
                    c.aws("efs", "update-file-system-protection", ("--file-system-id", src_id),
                          ("--replication-overwrite-protection", "DISABLED"),
                          region=st_target.region),
                    c.aws("efs", "create-replication-configuration",
                          ("--source-file-system-id", dst_id),
                          ("--destinations", c.Concat((f"Region={st_target.region},"
                                                       "FileSystemId=", src_id))
                           if isinstance(src_id, c.ShellVar) else
                           f"Region={st_target.region},FileSystemId={src_id}"),
                          region=t.region),
                    c.aws("efs", "describe-replication-configurations",
                          ("--file-system-id", dst_id),
                          ("--query", "Replications[0].Destinations[0].[Status,"
                                      "LastReplicatedTimestamp]"),
                          ("--output", "text"), region=t.region)]

        steps.append(Action(
            f"Replicate the files written in the DR Region back: file system "
            f"{dst_fs.logical_id} of stack {dst.id} becomes the source and "
            f"{src_fs.logical_id} of stack {src.id} the destination (its overwrite protection "
            "must be off). Wait until the last replicated time is after the failover.",
            _per_env(handbook, dst, efs_back)))
    steps.append(Action(
        "In a maintenance window: stop writes in the DR Region, promote the new replica in the "
        "primary Region, switch DNS back to the primary load balancer (the same change batch "
        "with the load balancer of the primary), delete the reverse file-system replication, and "
        "scale the standby services back to their configured count."))
    steps.append(Action(
        "Bring the stacks back in line with their templates: CloudFormation does not know "
        "about the promotion. Look at the drift, then rebuild the standby by deploying the "
        "stacks again in the order of the deployment-order page.",
        [(env, cmds) for env, cmds in _drift(handbook, topo)]))
    return steps


def _drift(handbook: Handbook, topo: Topology) -> list[tuple[str | None, list[Any]]]:
    envs = [e.name for e in handbook.project.environments] or [None]
    out = []
    for env in envs:
        cmds: list[Any] = []
        for sid in (*topo.primary, *topo.dr):
            st = handbook.stack(sid)
            assert st is not None
            t = _target_for(handbook, st, env)
            cmds.append(c.aws("cloudformation", "detect-stack-drift",
                              ("--stack-name", t.stack_name), region=t.region))
        out.append((env, cmds))
    return out


def _drill(handbook: Handbook, topo: Topology, rto: float) -> list[str]:
    envs = [e.name for e in handbook.project.environments]
    owners = sorted({st.config.owner for st in handbook.stacks if st.config.owner})
    items = [
        "Schedule a window and pick the environment"
        + (f" (environments: {', '.join(envs)}; start with one that does not serve users)"
           if envs else "") + ".",
        "Notify " + (", ".join(owners) if owners else "the stack owners")
        + " and everyone on call; say that alarms will fire.",
    ]
    if topo.lag_alarms:
        names = ", ".join(f"{a.logical_id} ({a.stack})" for a in topo.lag_alarms)
        items.append(f"Check that the replication is in sync: {names} must be OK.")
    items.append("Run the integration tests against the outputs of the DR stack before the "
                 "failover, to have a baseline.")
    items.append(f"Run the failover phases above with a stopwatch; note the time of each phase "
                 f"against its budget (total {rto:g} min).")
    if any(r.kind == "rds-read-replica" for r in topo.replications):
        items.append("Promotion is one-way: in a drill environment, promote the replica for "
                     "real (test mode) and rebuild it afterwards by redeploying the DR stack.")
    items += [
        "Verify: run the integration tests against the DR Region; write down the data "
        "written last before the failover and check it is there (that is the real RPO).",
        "Fail back with the steps below and check the primary serves traffic again.",
        "Write down what was slow or unclear and update the handbook"
        + (" notes" if handbook.project.notes_dir else "")
        + " and docgen.yml (dr.rto_minutes, dr.rpo_minutes) with the measured figures.",
    ]
    return items


def _minutes(threshold: Any, unit: str | None) -> float | None:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        return None
    if unit == "seconds":
        return value / 60
    if unit == "milliseconds":
        return value / 60000
    return value


def procedure(handbook: Handbook, topo: Topology, knowledge: DRKnowledge | None = None
              ) -> Procedure:
    """The failover procedure, failback and drill for ``topo``."""
    knowledge = knowledge or load_knowledge(handbook.project.knowledge_dir)
    cfg = handbook.project.dr
    config_name = os.path.basename(handbook.project.config_path or "docgen.yml")
    if cfg.rto_minutes is not None:
        rto = Figure(float(cfg.rto_minutes), f"{config_name}: dr.rto_minutes")
    else:
        rto = Figure(knowledge.default_rto_minutes,
                     f"not set in {config_name} (dr.rto_minutes): the default of the "
                     f"knowledge base, {knowledge.default_rto_source}")
    evidence = []
    derived: list[float] = []
    for alarm in topo.lag_alarms:
        m = _minutes(alarm.threshold, alarm.unit)
        if m is not None:
            derived.append(m)
            evidence.append(f"alarm {alarm.logical_id} of stack {alarm.stack} fires when "
                            f"{alarm.metric} exceeds {alarm.threshold} {alarm.unit or ''}"
                            f" ({m:g} min)".replace("  ", " "))
    for kind in sorted({r.kind for r in topo.replications}, key=KINDS.index):
        spec = knowledge.replication_spec(kind)
        if spec is None:
            continue
        if spec.rpo_minutes is not None:
            derived.append(spec.rpo_minutes)
        evidence.append(f"{spec.title}: {spec.rpo_text} (source: {spec.source})")
    if cfg.rpo_minutes is not None:
        rpo = Figure(float(cfg.rpo_minutes), f"{config_name}: dr.rpo_minutes", evidence)
    elif derived:
        rpo = Figure(max(derived), "not set in docgen.yml: the worst of the figures below",
                     evidence)
    else:
        rpo = Figure(None, "not set in docgen.yml (dr.rpo_minutes) and no figure can be "
                           "derived from the templates", evidence)
    plan = budget(knowledge, rto.minutes or knowledge.default_rto_minutes, topo.kinds)
    promote: list[Action] = []
    detect: list[Action] = _detect_actions(handbook, topo)
    for rep in topo.replications:
        if rep.kind == "rds-read-replica":
            p, d = _rds_actions(handbook, rep)
            promote += p
            detect += d
        elif rep.kind == "efs-replication":
            p, d = _efs_actions(handbook, rep)
            promote += p
            detect += d
        elif rep.kind == "aurora-global" and rep.resource_type == "AWS::RDS::GlobalCluster":
            promote += _aurora_actions(handbook, rep)
    detect += _lag_checks(handbook, topo)
    dns_actions, dns_note = _dns_actions(handbook, topo)
    by_phase: dict[str, list[Action]] = {
        "detect": detect, "promote": promote,
        "scale": [_standby_actions(handbook, sb) for sb in topo.standbys],
        "dns": dns_actions, "validate": _validate_actions(handbook, topo),
    }
    phases = []
    for spec, start, end in plan:
        text = spec.text + (f" {dns_note}" if spec.id == "dns" and dns_note else "")
        phases.append(Phase(spec.id, spec.title, start, end, text, spec.source,
                            by_phase.get(spec.id, [])))
    reps = []
    for r in topo.replications:
        spec = knowledge.replication_spec(r.kind)
        reps.append({"kind": r.kind, "title": spec.title if spec else r.kind,
                     "stack": r.stack, "logical_id": r.logical_id, "type": r.resource_type,
                     "source_stack": r.source_stack or "", "source": r.source_logical_id or "",
                     "target_stack": r.target_stack or "", "target": r.target_logical_id or "",
                     "condition": r.condition})
    return Procedure(topo, rto, rpo, phases, _failback(handbook, topo),
                     _drill(handbook, topo, rto.minutes or 0), reps, knowledge.path)


def has_topology(handbook: Handbook) -> bool:
    """Whether the handbook has a DR topology (used by the home page)."""
    return topology(handbook) is not None
