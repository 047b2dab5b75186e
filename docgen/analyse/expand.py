"""Expand a property tree into the concrete variants a deployment can produce.

A property set by ``!Ref Param``, ``!If [Cond, a, b]`` or ``!FindInMap`` has no single
value in the template: it takes one per parameter value or condition outcome. Rather
than guess, the security checks evaluate every variant and report "depends on
<parameter/condition>" with each branch's outcome when the variants disagree.

Expansion is *correlated*: the same condition takes the same branch everywhere in one
variant, and the same parameter the same value, so ``!If [IsProd, a, b]`` used twice
never yields the impossible mix. What cannot be known before deployment (an attribute,
an import, a free-form parameter's non-default value) becomes an :class:`Opaque`
value that remembers its expression, so checks can say "set at deploy time" instead of
failing or passing by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docgen.intrinsics import PSEUDO_PARAMETERS, SCALARS, condition_value, intrinsic, render
from docgen.model import Template

#: Variants beyond this many stop branching (further intrinsics become Opaque).
MAX_VARIANTS = 64


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


#: ``!Ref AWS::NoValue``: the property is removed.
ABSENT: Any = _Absent()


@dataclass(frozen=True, slots=True)
class Opaque:
    """A value known only at deploy time; ``text`` is its short human form."""

    text: str
    raw: Any = None


@dataclass(frozen=True, slots=True)
class ResRef:
    """``!Ref Res`` / ``!GetAtt Res.Attr``: the value is (an attribute of) that resource."""

    target: str
    attr: str | None = None


@dataclass(frozen=True, slots=True)
class OtherValue:
    """ "Any value other than the listed ones" of a free-form parameter."""

    parameter: str


#: A choice made while expanding: (("condition"|"parameter"|"pseudo", name), value).
Choice = tuple[tuple[str, str], Any]
Env = tuple[Choice, ...]


def env_get(env: Env, key: tuple[str, str]) -> Any:
    for k, v in env:
        if k == key:
            return v
    return _MISSING


_MISSING = object()



@dataclass(eq=False)
class Expander:
    """Expands nodes of one template; ``budget`` caps the number of variants."""

    template: Template
    variants_seen: int = 1
    _params: dict[str, Any] = field(default_factory=dict)
    #: for callers that expand the same tree repeatedly (the security checks of one
    #: resource): their key -> the variants, computed once
    memo: dict[Any, list[tuple[Env, Any]]] = field(default_factory=dict)
    #: for callers that work on those variants (the security check functions): theirs
    scratch: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._params = {p.name: p for p in self.template.parameters}
        self._conditions = {c.name: c.expression for c in self.template.conditions}

    # -- public -------------------------------------------------------------------------

    def expand(self, node: Any, env: Env = ()) -> list[tuple[Env, Any]]:
        """Every (choices, concrete value) pair ``node`` can take, in a stable order."""
        if type(node) in SCALARS:  # most nodes: skip the intrinsic and Mapping tests
            return [(env, node)]
        if isinstance(node, dict):
            if len(node) == 1:  # only a one-key mapping can be an intrinsic
                fn = intrinsic(node)
                if fn is not None:
                    return self._intrinsic(fn[0], fn[1], node, env)
            return self._mapping(node, env)
        if isinstance(node, list):
            return self._list(node, env)
        if isinstance(node, Mapping):
            return self._mapping(node, env)
        return [(env, node)]

    # While there is a single variant, its container is built in place: copying it for
    # every key or item (as branching needs) made a big mapping or list cost quadratic
    # time. Once variants branch, each gets its own copy as before. A scalar child is
    # its own only variant and never ABSENT: it is added without a call to ``expand``
    # (most children are scalars).

    def _mapping(self, node: Mapping[str, Any], env: Env) -> list[tuple[Env, Any]]:
        results: list[tuple[Env, Any]] = [(env, {})]
        for key, sub in node.items():
            if len(results) == 1:
                e, acc = results[0]
                if type(sub) in SCALARS:
                    acc[key] = sub
                    continue
                subs = self.expand(sub, e)
                if len(subs) == 1:
                    e2, val = subs[0]
                    if val is not ABSENT:
                        acc[key] = val
                    results = [(e2, acc)]  # one variant: _cap would change nothing
                    continue
                pairs = [(e, acc, subs)]
            else:
                pairs = [(e, acc, self.expand(sub, e)) for e, acc in results]
            nxt = []
            for _e, acc, subs in pairs:
                for e2, val in subs:
                    nxt.append((e2, acc if val is ABSENT else {**acc, key: val}))
            results = self._cap(nxt)
        return results

    def _list(self, node: list[Any], env: Env) -> list[tuple[Env, Any]]:
        results: list[tuple[Env, Any]] = [(env, [])]
        for sub in node:
            if len(results) == 1:
                e, acc = results[0]
                if type(sub) in SCALARS:
                    acc.append(sub)
                    continue
                subs = self.expand(sub, e)
                if len(subs) == 1:
                    e2, val = subs[0]
                    if val is not ABSENT:
                        acc.append(val)
                    results = [(e2, acc)]
                    continue
                pairs = [(e, acc, subs)]
            else:
                pairs = [(e, acc, self.expand(sub, e)) for e, acc in results]
            nxt = []
            for _e, acc, subs in pairs:
                for e2, val in subs:
                    nxt.append((e2, acc if val is ABSENT else [*acc, val]))
            results = self._cap(nxt)
        return results

    # -- intrinsics ---------------------------------------------------------------------

    def _cap(self, results: list[tuple[Env, Any]]) -> list[tuple[Env, Any]]:
        self.variants_seen = max(self.variants_seen, len(results))
        return results

    def _branching_allowed(self) -> bool:
        return self.variants_seen < MAX_VARIANTS

    def _intrinsic(self, name: str, arg: Any, node: Any, env: Env) -> list[tuple[Env, Any]]:
        if name == "Ref" and isinstance(arg, str):
            return self._ref(arg, env)
        if name == "Fn::GetAtt":
            target, attr = _getatt(arg)
            return [(env, ResRef(target, attr) if target else Opaque(render(node), node))]
        if name == "Fn::If" and isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str):
            return self._if(arg, node, env)
        if name == "Fn::FindInMap" and isinstance(arg, list) and len(arg) >= 3:
            return self._find_in_map(arg, node, env)
        return [(env, Opaque(render(node), node))]

    def _ref(self, target: str, env: Env) -> list[tuple[Env, Any]]:
        if target == "AWS::NoValue":
            return [(env, ABSENT)]
        if target in PSEUDO_PARAMETERS:
            chosen = env_get(env, ("pseudo", target))
            if chosen is not _MISSING:
                return [(env, chosen)]
            return [(env, Opaque(f"!Ref {target}", {"Ref": target}))]
        param = self._params.get(target)
        if param is None:
            return [(env, ResRef(target))]
        key = ("parameter", target)
        chosen = env_get(env, key)
        if chosen is not _MISSING:
            return [(env, chosen)]
        options: list[Any] = list(param.allowed_values)
        if not options:
            # A NoEcho default is a secret: it is never carried into a variant (where a
            # message or table could print it); the value counts as unknown instead.
            if param.has_default and not param.no_echo:
                options.append(_typed_default(param.type, param.default))
            options.append(OtherValue(target))
        if len(options) > 1 and not self._branching_allowed():
            return [(env, Opaque(f"!Ref {target}", {"Ref": target}))]
        return [((*env, (key, opt)), opt) for opt in options]

    def _params_in(self, env: Env) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (kind, name), value in env:
            if kind in ("parameter", "pseudo") and not isinstance(value, OtherValue):
                out[name] = value
        return out

    def _if(self, arg: list[Any], node: Any, env: Env) -> list[tuple[Env, Any]]:
        cname, yes, no = arg
        key = ("condition", cname)
        chosen = env_get(env, key)
        if chosen is _MISSING:
            known = condition_value(
                cname, self._params_in(env), self._conditions, self.template.mappings
            )
            if isinstance(known, bool):  # decided by choices already made
                chosen = known
        if chosen is not _MISSING:
            return self.expand(yes if chosen else no, env)
        if not self._branching_allowed():
            return [(env, Opaque(render(node), node))]
        out = self.expand(yes, (*env, (key, True)))
        out += self.expand(no, (*env, (key, False)))
        return self._cap(out)

    def _find_in_map(self, arg: list[Any], node: Any, env: Env) -> list[tuple[Env, Any]]:
        map_name = arg[0]
        table = self.template.mappings.get(map_name) if isinstance(map_name, str) else None
        if not isinstance(table, Mapping):
            return [(env, Opaque(render(node), node))]
        out: list[tuple[Env, Any]] = []
        for e1, k1 in self._map_key(arg[1], table, env):
            second = table.get(str(k1)) if not isinstance(k1, (Opaque, OtherValue)) else None
            if not isinstance(second, Mapping):
                out.append((e1, Opaque(render(node), node)))
                continue
            for e2, k2 in self._map_key(arg[2], second, e1):
                value = second.get(str(k2)) if not isinstance(k2, (Opaque, OtherValue)) else None
                if value is None:
                    out.append((e2, Opaque(render(node), node)))
                else:
                    out.extend(self.expand(value, e2))
        return self._cap(out)

    def _map_key(self, key_node: Any, table: Mapping[str, Any], env: Env) -> list[tuple[Env, Any]]:
        """Possible keys: a literal, a parameter's values, or — for a pseudo parameter or
        a free-form parameter — every key the mapping defines."""
        fn = intrinsic(key_node)
        if fn and fn[0] == "Ref" and isinstance(fn[1], str):
            target = fn[1]
            param = self._params.get(target)
            kind = "pseudo" if target in PSEUDO_PARAMETERS else "parameter"
            chosen = env_get(env, (kind, target))
            if chosen is not _MISSING and not isinstance(chosen, OtherValue):
                return [(env, chosen)]
            if (param is None or not param.allowed_values) and self._branching_allowed():
                return [((*env, ((kind, target), k)), k) for k in table]
        return self.expand(key_node, env)


def _getatt(arg: Any) -> tuple[str | None, str | None]:
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
        return arg[0], arg[1] if isinstance(arg[1], str) else None
    if isinstance(arg, str) and "." in arg:
        target, attr = arg.split(".", 1)
        return target, attr
    return None, None


def _typed_default(ptype: str, default: Any) -> Any:
    if ptype.startswith("List<") or ptype == "CommaDelimitedList":
        if isinstance(default, str):
            return [s.strip() for s in default.split(",")] if default else []
    return default


def is_unknown(value: Any) -> bool:
    """A value that is present but unknown before deployment."""
    return isinstance(value, (Opaque, OtherValue))


def describe_choice(choice: Choice, template: Template) -> str:
    """``condition IsProd is true`` / ``parameter Env = prod`` (never a NoEcho value)."""
    (kind, name), value = choice
    if kind == "condition":
        return f"condition {name} is {'true' if value else 'false'}"
    if isinstance(value, OtherValue):
        return f"parameter {name} = any other value"
    param = template.parameter(name) if kind == "parameter" else None
    if param is not None and param.no_echo:
        return f"parameter {name} = (secret value)"
    shown = render(value)
    if param is not None and param.has_default and value == param.default:
        return f"parameter {name} = {shown!s} (default)"
    label = "parameter" if kind == "parameter" else "pseudo parameter"
    return f"{label} {name} = {shown}"
