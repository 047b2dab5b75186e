"""Per stack and environment: the real stack name, region, and parameter values.

Pages show commands that run as printed, so the stack name placeholders of
``docgen.yml`` (``App${EnvironmentSuffix}``) are filled from the environment's
parameter values, and a resource's physical id is either the literal name the
template gives it or a ``describe-stack-resource`` lookup captured in a variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docgen import commands as c
from docgen.intrinsics import Unknown, evaluate
from docgen.liveoutputs import live_for, live_physical_id
from docgen.model import Environment, Handbook, Resource, SecretRef, Stack

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9:]+)\}")


@dataclass(frozen=True, slots=True)
class Target:
    """Where commands for one stack go in one environment (``env`` None: no environments)."""

    env: str | None
    stack_name: str
    region: str | None
    parameters: dict[str, Any]  # values known for this environment (SecretRef for secrets)
    # live outputs of the deployed stack (docgen.yml ``outputs_file``); empty when unknown
    live: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.env or "default"


def parameter_values(stack: Stack, env: Environment | None) -> dict[str, Any]:
    """Values for the stack's parameters in ``env``: config first, then template defaults."""
    values: dict[str, Any] = {}
    declared = {p.name: p for p in stack.template.parameters}
    for name, param in declared.items():
        if param.has_default and not param.no_echo:
            values[name] = param.default
    if env is not None:
        for name, value in env.parameters.items():
            if name in declared:
                values[name] = value
        for name, value in env.stack_parameters.get(stack.id, {}).items():
            if name in declared:
                values[name] = value
    return values


def stack_name(stack: Stack, values: dict[str, Any]) -> str:
    """The stack name with ``${Param}`` placeholders filled where values are known."""

    def fill(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        if value is None or isinstance(value, (SecretRef, list, dict)):
            return m.group(0)
        return str(value)

    return _PLACEHOLDER.sub(fill, stack.config.name)


def targets(handbook: Handbook, stack: Stack) -> tuple[Target, ...]:
    """One target per environment (or a single default target). Asked about ten times
    per stack by its pages and analyses: computed once per handbook for its own stacks
    (a stack built for one deployment pass, with other wiring, is not one of them)."""
    if handbook.stack(stack.id) is stack:
        return handbook.derived(("stackinfo.targets", stack.id),  # type: ignore[no-any-return]
                                lambda: _targets(handbook, stack))
    return _targets(handbook, stack)


def _targets(handbook: Handbook, stack: Stack) -> tuple[Target, ...]:
    envs: tuple[Environment | None, ...] = handbook.project.environments or (None,)
    out = []
    for env in envs:
        values = parameter_values(stack, env)
        live = live_for(handbook, stack, env.name if env else None)
        out.append(Target(env.name if env else None, stack_name(stack, values),
                          stack.config.region, values, (live.values or {}) if live else {}))
    return tuple(out)


def pseudo_values(target: Target) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: v for k, v in target.parameters.items() if not isinstance(v, SecretRef)
    }
    values["AWS::StackName"] = target.stack_name
    if target.region:
        values["AWS::Region"] = target.region
    return values


#: Property holding the physical name, for the types whose Ref is that name.
NAME_PROPERTIES: dict[str, str] = {
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    "AWS::RDS::DBCluster": "DBClusterIdentifier",
    "AWS::ElastiCache::ReplicationGroup": "ReplicationGroupId",
    "AWS::ElastiCache::CacheCluster": "ClusterName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Redshift::Cluster": "ClusterIdentifier",
    "AWS::DocDB::DBCluster": "DBClusterIdentifier",
    "AWS::Neptune::DBCluster": "DBClusterIdentifier",
    "AWS::Kinesis::Stream": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::RDS::DBSubnetGroup": "DBSubnetGroupName",
    "AWS::ElastiCache::SubnetGroup": "CacheSubnetGroupName",
}


def literal_physical_name(stack: Stack, resource: Resource, target: Target) -> str | None:
    """The physical name when the template sets it to something known for ``target``."""
    prop = NAME_PROPERTIES.get(resource.type)
    if not prop or prop not in resource.properties:
        return None
    value = evaluate(resource.properties[prop], pseudo_values(target), {
        cond.name: cond.expression for cond in stack.template.conditions
    }, stack.template.mappings)
    return value if isinstance(value, str) and not isinstance(value, Unknown) else None


def resource_id(stack: Stack, resource: Resource, target: Target,
                suffix: str = "ID") -> tuple[c.Value, tuple[c.Assign, ...]]:
    """How to name ``resource`` in a command: a literal, or a variable plus its lookup."""
    literal = literal_physical_name(stack, resource, target)
    if literal is None:
        literal = live_physical_id(stack, resource, target.live)
    if literal is not None:
        return literal, ()
    var = c.var_name(resource.logical_id, suffix)
    return c.ShellVar(var), (c.physical_id_lookup(var, target.stack_name, resource.logical_id,
                                                  target.region),)


def follow_reference(handbook: Handbook, stack: Stack, value: Any, rtype: str | None = None
                     ) -> tuple[Stack, Resource] | None:
    """The resource an expression points at: one of this template's resources, or —
    through a ``docgen.yml`` wiring (parameter <- another stack's output) — the resource
    that output names in the source stack. Prefers a resource of type ``rtype``."""
    from docgen.intrinsics import referenced_names

    found: list[tuple[Stack, Resource]] = []
    wiring = {w.parameter: w for w in stack.config.wiring}
    for name in referenced_names(value):
        local = stack.template.resource(name)
        if local is not None:
            found.append((stack, local))
            continue
        w = wiring.get(name)
        source = handbook.stack(w.from_stack) if w else None
        output = next((o for o in source.template.outputs if o.name == w.output),
                      None) if source and w else None
        if source is None or output is None:
            continue
        found.extend((source, r) for n in referenced_names(output.value)
                     if (r := source.template.resource(n)) is not None)
    return next((f for f in found if f[1].type == rtype), found[0] if found else None)
