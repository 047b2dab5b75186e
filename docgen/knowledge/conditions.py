"""A small declarative condition language for knowledge records.

Knowledge records (ops advice, security checks) apply to a resource only when its
properties say so: ElastiCache provisions slower with ``MultiAZEnabled``, a database
without ``DeletionPolicy: Snapshot`` misses a backup. The conditions are data, written
in YAML, so that they can be validated at load time and read by a reviewer.

Grammar (one mapping per node)::

    {property: A.B.C, equals: X}        # value at a dotted path equals X
    {property: A.B, in: [X, Y]}         # value is one of the list
    {property: A, exists: true}         # the path is present (false: absent)
    {property: A, greater_than: 0}      # numeric comparisons (also less_than)
    {property: A, equals: X, default: Y}  # Y is the documented value when A is absent
    {attribute: DeletionPolicy, equals: Snapshot}   # resource attribute, not a property
    {all: [c1, c2]}  {any: [c1, c2]}  {not: c}
    {predicate: name}                   # a named Python function (see PREDICATES)

A path segment ``*`` walks every element of a list ("any element matches").

Evaluation is three-valued (:class:`Tri`): ``TRUE``, ``FALSE`` or ``DEPENDS`` when a
value on the path is an intrinsic function (``{"Ref": P}``, ``{"Fn::If": ...}``) whose
value is only known at deploy time. ``all``/``any``/``not`` follow Kleene logic.

Public API: :func:`parse` (raw YAML value -> :class:`Condition`, raises
:class:`ConditionError`), :meth:`Condition.evaluate`, :class:`Tri`, :data:`PREDICATES`,
:data:`ALWAYS`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docgen.model import Resource, Template

# ``isinstance(x, (dict, Mapping))`` is ``isinstance(x, Mapping)``, dict tested first: the
# plain type test is C, Mapping's ABC test a Python call (tens of thousands per corpus build).

__all__ = [
    "ALWAYS",
    "INTRINSIC",
    "MISSING",
    "PREDICATES",
    "Condition",
    "ConditionError",
    "Tri",
    "is_intrinsic",
    "lookup",
    "parse",
]


class Tri(enum.Enum):
    """Three-valued truth: a property set by an intrinsic makes the answer DEPENDS."""

    TRUE = "true"
    FALSE = "false"
    DEPENDS = "depends"

    @staticmethod
    def of(value: bool) -> Tri:
        return Tri.TRUE if value else Tri.FALSE

    def __invert__(self) -> Tri:
        if self is Tri.DEPENDS:
            return self
        return Tri.FALSE if self is Tri.TRUE else Tri.TRUE

    def __bool__(self) -> bool:  # pragma: no cover - guard against accidental truthiness
        raise TypeError("use `is Tri.TRUE` / `is Tri.FALSE`: a Tri can be DEPENDS")


class ConditionError(ValueError):
    """A condition that does not follow the grammar; ``path`` locates the bad node."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        """Unpickled as this very object (code tests it by identity; knowledge bases
        holding it are kept pickled between runs)."""
        return "MISSING"


#: Returned by :func:`lookup` when a path is absent.
MISSING: Any = _Missing()
#: Returned by :func:`lookup` when an intrinsic function sits on the path.
INTRINSIC: Any = type("Intrinsic", (), {"__repr__": lambda self: "INTRINSIC",
                                        "__reduce__": lambda self: "INTRINSIC"})()


def is_intrinsic(value: Any) -> bool:
    """``{"Ref": X}`` or ``{"Fn::...": ...}`` (long form, as the loader produces)."""
    if not isinstance(value, (dict, Mapping)) or len(value) != 1:
        return False
    key = next(iter(value))
    return isinstance(key, str) and (key == "Ref" or key.startswith("Fn::") or key == "Condition")


def lookup(properties: Mapping[str, Any], path: str) -> list[Any]:
    """Values at a dotted ``path``; ``*`` fans out over lists.

    Returns ``[MISSING]`` when absent and ``[INTRINSIC]`` where an intrinsic function
    stands on the path, so callers can tell "not set" from "set at deploy time".
    """
    current: list[Any] = [properties]
    for segment in path.split("."):
        nxt: list[Any] = []
        for value in current:
            if value is MISSING or value is INTRINSIC:
                nxt.append(value)
            elif is_intrinsic(value):
                nxt.append(INTRINSIC)
            elif segment == "*":
                if isinstance(value, list):
                    nxt.extend(INTRINSIC if is_intrinsic(v) else v for v in value)
                else:
                    nxt.append(MISSING)
            elif isinstance(value, (dict, Mapping)):
                nxt.append(value.get(segment, MISSING))
            else:
                nxt.append(MISSING)
        current = nxt or [MISSING]
    return [INTRINSIC if is_intrinsic(v) else v for v in current]


def _may_be_absent(value: Any) -> bool:
    """An ``Fn::If`` with an ``AWS::NoValue`` branch may remove the property."""
    if not (isinstance(value, (dict, Mapping)) and len(value) == 1 and "Fn::If" in value):
        return False
    args = value["Fn::If"]
    if not isinstance(args, list) or len(args) != 3:
        return True
    return any(b == {"Ref": "AWS::NoValue"} or _may_be_absent(b) for b in args[1:])


def _presence(properties: Mapping[str, Any], path: str) -> Tri:
    """Whether a property is set: an intrinsic value counts as set, except an ``Fn::If``
    that can yield ``AWS::NoValue`` (then it DEPENDS)."""
    current: list[Any] = [properties]
    unsure = False
    for segment in path.split("."):
        nxt: list[Any] = []
        for value in current:
            if _may_be_absent(value):
                unsure = True
                continue
            if is_intrinsic(value):
                unsure = True
            elif segment == "*" and isinstance(value, list):
                nxt.extend(value)
            elif isinstance(value, (dict, Mapping)) and segment in value:
                nxt.append(value[segment])
        current = nxt
    if any(not _may_be_absent(v) for v in current):
        return Tri.TRUE
    return Tri.DEPENDS if unsure or current else Tri.FALSE


def _normalise(actual: Any, expected: Any) -> Any:
    """CloudFormation accepts ``"true"`` for booleans and ``"5"`` for numbers."""
    if isinstance(expected, bool) and isinstance(actual, str):
        low = actual.strip().lower()
        if low in ("true", "false"):
            return low == "true"
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(actual, str):
            try:
                return float(actual)
            except ValueError:
                return actual
    return actual


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition node. ``op`` is one of ``always``, ``all``, ``any``, ``not``,
    ``predicate``, ``equals``, ``in``, ``exists``, ``greater_than``, ``less_than``."""

    op: str
    path: str = ""
    source: str = "property"  # "property" or "attribute"
    value: Any = None
    default: Any = MISSING
    children: tuple[Condition, ...] = ()

    def evaluate(self, resource: Resource, template: Template | None = None) -> Tri:
        """Evaluate against one resource (properties and resource attributes);
        ``template`` lets named predicates look at related resources."""
        if self.op == "always":
            return Tri.TRUE
        if self.op == "all":
            results = [c.evaluate(resource, template) for c in self.children]
            if Tri.FALSE in results:
                return Tri.FALSE
            return Tri.DEPENDS if Tri.DEPENDS in results else Tri.TRUE
        if self.op == "any":
            results = [c.evaluate(resource, template) for c in self.children]
            if Tri.TRUE in results:
                return Tri.TRUE
            return Tri.DEPENDS if Tri.DEPENDS in results else Tri.FALSE
        if self.op == "not":
            return ~self.children[0].evaluate(resource, template)
        if self.op == "predicate":
            return PREDICATES[self.value](resource, template)
        return self._leaf(resource)

    def _values(self, resource: Resource) -> list[Any]:
        if self.source == "attribute":
            attrs = {
                "DeletionPolicy": resource.deletion_policy,
                "UpdateReplacePolicy": resource.update_replace_policy,
                "Condition": resource.condition,
                "DependsOn": list(resource.depends_on) or None,
            }
            value = attrs.get(self.path)
            return [MISSING if value is None else (INTRINSIC if is_intrinsic(value) else value)]
        return lookup(resource.properties, self.path)

    def _leaf(self, resource: Resource) -> Tri:
        if self.op == "exists" and self.source == "property":
            present = _presence(resource.properties, self.path)
            return present if self.value else ~present
        results = [self._test(v) for v in self._values(resource)]
        if Tri.TRUE in results:
            return Tri.TRUE
        return Tri.DEPENDS if Tri.DEPENDS in results else Tri.FALSE

    def _test(self, actual: Any) -> Tri:
        if actual is INTRINSIC:
            return Tri.DEPENDS
        if self.op == "exists":
            return Tri.of((actual is not MISSING) == bool(self.value))
        if actual is MISSING:
            if self.default is MISSING:
                return Tri.FALSE
            actual = self.default
        if self.op == "equals":
            return Tri.of(_normalise(actual, self.value) == self.value)
        if self.op == "in":
            return Tri.of(any(_normalise(actual, v) == v for v in self.value))
        number = _number(actual)
        if number is None:
            return Tri.FALSE
        if self.op == "greater_than":
            return Tri.of(number > self.value)
        return Tri.of(number < self.value)  # less_than

    def describe(self) -> str:
        """A short human form, used in pages ("applies when ...") and error messages."""
        if self.op == "always":
            return "always"
        if self.op in ("all", "any"):
            joiner = " and " if self.op == "all" else " or "
            return "(" + joiner.join(c.describe() for c in self.children) + ")"
        if self.op == "not":
            return "not " + self.children[0].describe()
        if self.op == "predicate":
            return str(self.value).replace("_", " ")
        if self.op == "exists":
            return f"{self.path} is {'set' if self.value else 'not set'}"
        words = {"equals": "is", "in": "is one of", "greater_than": ">", "less_than": "<"}
        return f"{self.path} {words[self.op]} {_show(self.value)}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    return str(value)


#: The condition that always holds (a record without ``when``).
ALWAYS = Condition("always")

_LEAF_OPS = ("equals", "in", "exists", "greater_than", "less_than")
_LEAF_KEYS = {"property", "attribute", "default", *_LEAF_OPS}
_ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy", "Condition", "DependsOn")


def parse(raw: Any, path: str = "when") -> Condition:
    """Turn a YAML value into a :class:`Condition`, or raise :class:`ConditionError`.

    ``path`` names the node in error messages (``when.all[1]``).
    """
    if raw is None:
        return ALWAYS
    if not isinstance(raw, Mapping):
        raise ConditionError(f"a condition is a mapping, not {type(raw).__name__}", path)
    keys = set(raw)
    for combinator in ("all", "any"):
        if combinator in keys:
            if keys != {combinator}:
                raise ConditionError(f"'{combinator}' cannot be combined with {sorted(keys)}", path)
            items = raw[combinator]
            if not isinstance(items, Sequence) or isinstance(items, str) or not items:
                raise ConditionError(f"'{combinator}' takes a non-empty list", path)
            children = tuple(parse(c, f"{path}.{combinator}[{i}]") for i, c in enumerate(items))
            return Condition(combinator, children=children)
    if "not" in keys:
        if keys != {"not"}:
            raise ConditionError(f"'not' cannot be combined with {sorted(keys)}", path)
        return Condition("not", children=(parse(raw["not"], f"{path}.not"),))
    if "predicate" in keys:
        name = raw["predicate"]
        if keys != {"predicate"}:
            raise ConditionError(f"'predicate' cannot be combined with {sorted(keys)}", path)
        if name not in PREDICATES:
            raise ConditionError(
                f"unknown predicate {name!r} (known: {', '.join(sorted(PREDICATES))})", path
            )
        return Condition("predicate", value=name)
    return _parse_leaf(raw, path)


def _parse_leaf(raw: Mapping[str, Any], path: str) -> Condition:
    unknown = set(raw) - _LEAF_KEYS
    if unknown:
        raise ConditionError(
            f"unknown key(s) {sorted(unknown)}; expected all/any/not/predicate or "
            f"property|attribute with one of {', '.join(_LEAF_OPS)}",
            path,
        )
    if ("property" in raw) == ("attribute" in raw):
        raise ConditionError("a test names exactly one of 'property' or 'attribute'", path)
    source = "property" if "property" in raw else "attribute"
    target = raw[source]
    if not isinstance(target, str) or not target or any(not s for s in target.split(".")):
        raise ConditionError(f"'{source}' must be a dotted name, got {target!r}", path)
    if source == "attribute" and target not in _ATTRIBUTES:
        raise ConditionError(f"unknown resource attribute {target!r}", path)
    ops = [op for op in _LEAF_OPS if op in raw]
    if len(ops) != 1:
        raise ConditionError(f"a test needs exactly one of {', '.join(_LEAF_OPS)}", path)
    op = ops[0]
    value = raw[op]
    if op == "exists" and not isinstance(value, bool):
        raise ConditionError("'exists' takes true or false", path)
    if op == "in" and (not isinstance(value, list) or not value):
        raise ConditionError("'in' takes a non-empty list", path)
    if op in ("greater_than", "less_than") and _number(value) is None:
        raise ConditionError(f"'{op}' takes a number", path)
    if op in ("greater_than", "less_than"):
        value = float(value)
    default = raw.get("default", MISSING)
    return Condition(op, path=target, source=source, value=value, default=default)


# --- named predicates ------------------------------------------------------------------
# Logic that YAML cannot express. Each takes a resource and returns a Tri. Keep this
# table explicit: nothing registers itself on import.


def _has_custom_name(resource: Resource, template: Template | None) -> Tri:
    """The resource sets its own physical name: a replacement then fails (name in use)."""
    for name in _NAME_PROPERTIES:
        value = resource.properties.get(name)
        if value is not None:
            return Tri.TRUE
    return Tri.FALSE


_NAME_PROPERTIES = (
    "BucketName", "TableName", "QueueName", "TopicName", "FunctionName", "RoleName",
    "DBInstanceIdentifier", "DBClusterIdentifier", "ReplicationGroupId", "Name",
    "LogGroupName", "ClusterName", "ServiceName", "RepositoryName", "AlarmName",
    "GroupName", "FileSystemName", "CacheClusterId", "StateMachineName", "SecretName",
)


def _ingress_open_to_world(resource: Resource, template: Template | None) -> Tri:
    """A security group (or ingress rule) admitting 0.0.0.0/0 or ::/0."""
    rules: list[Any] = []
    if resource.type == "AWS::EC2::SecurityGroupIngress":
        rules = [resource.properties]
    else:
        raw = resource.properties.get("SecurityGroupIngress")
        if is_intrinsic(raw):
            return Tri.DEPENDS
        rules = list(raw) if isinstance(raw, list) else []
    results: list[Tri] = []
    for rule in rules:
        if is_intrinsic(rule) or not isinstance(rule, (dict, Mapping)):
            results.append(Tri.DEPENDS)
            continue
        for key, world in (("CidrIp", "0.0.0.0/0"), ("CidrIpv6", "::/0")):
            value = rule.get(key)
            if is_intrinsic(value):
                results.append(Tri.DEPENDS)
            elif value == world:
                results.append(Tri.TRUE)
    if Tri.TRUE in results:
        return Tri.TRUE
    return Tri.DEPENDS if Tri.DEPENDS in results else Tri.FALSE


def _subnet_group_single_az(resource: Resource, template: Template | None) -> Tri:
    """A DB/cache subnet group whose subnets cannot cover two Availability Zones.

    Fewer than two subnets is certain; otherwise the subnets' literal
    ``AvailabilityZone`` values decide, and anything computed makes it DEPENDS.
    """
    subnets = resource.properties.get("SubnetIds")
    if is_intrinsic(subnets) or not isinstance(subnets, list):
        return Tri.DEPENDS if subnets is not None else Tri.FALSE
    if len(subnets) < 2:
        return Tri.TRUE
    if template is None:
        return Tri.DEPENDS
    zones: set[str] = set()
    for item in subnets:
        target = item.get("Ref") if isinstance(item, Mapping) else None
        subnet = template.resource(target) if isinstance(target, str) else None
        zone = subnet.properties.get("AvailabilityZone") if subnet is not None else None
        key = _zone_key(zone)
        if key is None:
            return Tri.DEPENDS
        zones.add(key)
    return Tri.of(len(zones) < 2)


def _sqs_dead_letter_queue(resource: Resource, template: Template | None) -> Tri:
    """Another queue of the template names this one as its dead-letter target."""
    if template is None:
        return Tri.DEPENDS
    return Tri.of(resource.logical_id in template.derived("dead-letter queues",
                                                          _dead_letter_targets))


def _dead_letter_targets(template: Template) -> frozenset[Any]:
    """Names of the queues some queue of the template sends its dead letters to (once
    per template: asked per queue, a scan of every resource each time was quadratic)."""
    out = set()
    for other in template.resources:
        policy = other.properties.get("RedrivePolicy") if other.type == "AWS::SQS::Queue" \
            else None
        target = policy.get("deadLetterTargetArn") if isinstance(policy, Mapping) else None
        if isinstance(target, Mapping) and "Fn::GetAtt" in target:
            args = target["Fn::GetAtt"]
            name = args[0] if isinstance(args, list) and args else (
                args.split(".")[0] if isinstance(args, str) else None)
            try:
                out.add(name)
            except TypeError:  # a node, not a name: equals no logical id
                pass
    return frozenset(out)


def _zone_key(zone: Any) -> str | None:
    """A literal zone name, or ``!Select [i, !GetAZs ...]`` as "the i-th zone"."""
    if isinstance(zone, str):
        return zone
    if isinstance(zone, Mapping) and "Fn::Select" in zone:
        args = zone["Fn::Select"]
        if isinstance(args, list) and len(args) == 2 and isinstance(args[1], Mapping) \
                and "Fn::GetAZs" in args[1] and isinstance(args[0], (int, str)):
            return f"az-index-{args[0]}"
    return None


def _elbv2_deletion_protection(resource: Resource, template: Template | None) -> Tri:
    """``LoadBalancerAttributes`` holds ``deletion_protection.enabled`` = true (a key/value
    pair in a list, which a single path test cannot match)."""
    attrs = resource.properties.get("LoadBalancerAttributes")
    if is_intrinsic(attrs):
        return Tri.DEPENDS
    for item in attrs if isinstance(attrs, list) else []:
        if isinstance(item, Mapping) and item.get("Key") == "deletion_protection.enabled":
            value = item.get("Value")
            return _flag(value)
    return Tri.FALSE


def _flag(value: Any) -> Tri:
    if is_intrinsic(value):
        return Tri.DEPENDS
    return Tri.of(_normalise(value, True) is True)


#: Named predicates, the one explicit table. Each takes the resource and (when known)
#: its template, and returns a :class:`Tri`.
PREDICATES: Mapping[str, Callable[[Resource, Template | None], Tri]] = {
    "has_custom_name": _has_custom_name,
    "ingress_open_to_world": _ingress_open_to_world,
    "subnet_group_single_az": _subnet_group_single_az,
    "elbv2_deletion_protection": _elbv2_deletion_protection,
    "sqs_dead_letter_queue": _sqs_dead_letter_queue,
}
