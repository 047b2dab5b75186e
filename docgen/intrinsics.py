"""Helpers over long-form intrinsic functions (``{"Ref": X}``, ``{"Fn::Sub": ...}``).

Pure functions used by the model builder (reference extraction), the analyses
(what does a property evaluate to, given parameter values?) and the pages (a short
human-readable form of an expression).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

PSEUDO_PARAMETERS = frozenset({
    "AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
    "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
})

#: Leaf types of a parsed template: never an intrinsic, a mapping or a list.
SCALARS = frozenset({str, int, float, bool, type(None)})

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class Unknown:
    """A value that cannot be known before deployment (an attribute, a pseudo
    parameter without a config value, a parameter without a value)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unknown({self.reason!r})"


def intrinsic(value: Any) -> tuple[str, Any] | None:
    """``(name, argument)`` when ``value`` is a single-key intrinsic mapping."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
            return key, arg
    return None


def sub_variables(template: str) -> list[str]:
    """Names used as ``${Name}`` / ``${Res.Attr}`` in a Fn::Sub string (``${!x}`` is literal)."""
    return _SUB_VAR.findall(template)


Path = tuple[str | int, ...]


def walk(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every node under ``value`` with its path, depth first, in document order."""
    yield path, value
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from walk(sub, (*path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from walk(sub, (*path, i))


def render(value: Any) -> str:
    """A short, human form of an expression: ``!Ref X``, ``!GetAtt A.B``, ``!Sub '...'``."""
    if type(value) is str:  # most values: no intrinsic, mapping or list test
        return value
    fn = intrinsic(value)
    if fn is None:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {render(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(render(v) for v in value) + "]"
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)
    name, arg = fn
    short = "!" + name.removeprefix("Fn::")
    if name == "Fn::GetAtt" and isinstance(arg, list) and all(isinstance(a, str) for a in arg):
        return f"!GetAtt {'.'.join(arg)}"
    if isinstance(arg, str):
        return f"{short} {arg}" if name in ("Ref", "Condition") else f"{short} {json.dumps(arg)}"
    return f"{short} {render(arg)}"


def evaluate(value: Any, params: Mapping[str, Any], conditions: Mapping[str, Any] | None = None,
             mappings: Mapping[str, Any] | None = None) -> Any:
    """Evaluate an expression given parameter (and pseudo-parameter) values.

    Returns the value, or an :class:`Unknown` when it depends on something not known
    before deployment. Conditions are evaluated on demand from their expressions.
    """
    if type(value) in SCALARS:  # most values: returned as they are (below), sooner
        return value
    conditions = conditions or {}
    mappings = mappings or {}
    fn = intrinsic(value)
    if fn is None:
        if isinstance(value, list):
            return [evaluate(v, params, conditions, mappings) for v in value]
        return value
    name, arg = fn
    ev = lambda v: evaluate(v, params, conditions, mappings)  # noqa: E731
    if name == "Ref":
        if isinstance(arg, str) and arg in params:
            return params[arg]
        return Unknown(f"Ref {arg}")
    if name == "Condition":
        return condition_value(arg, params, conditions, mappings)
    if name == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
        a, b = ev(arg[0]), ev(arg[1])
        if isinstance(a, Unknown) or isinstance(b, Unknown):
            return Unknown("Fn::Equals")
        return str(a) == str(b)
    if name in ("Fn::And", "Fn::Or") and isinstance(arg, list):
        vals = [ev(v) for v in arg]
        known = [v for v in vals if not isinstance(v, Unknown)]
        if name == "Fn::And":
            if any(v is False for v in known):
                return False
            return True if len(known) == len(vals) else Unknown("Fn::And")
        if any(v is True for v in known):
            return True
        return False if len(known) == len(vals) else Unknown("Fn::Or")
    if name == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
        v = ev(arg[0])
        return v if isinstance(v, Unknown) else not v
    if name == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
        cond = condition_value(arg[0], params, conditions, mappings)
        if isinstance(cond, Unknown):
            return Unknown(f"Fn::If {arg[0]}")
        return ev(arg[1] if cond else arg[2])
    if name == "Fn::Sub":
        text, local = (arg, {}) if isinstance(arg, str) else (
            (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (None, {}))
        if not isinstance(text, str):
            return Unknown("Fn::Sub")
        scope = dict(params)
        if isinstance(local, dict):
            scope.update({k: ev(v) for k, v in local.items()})
        missing = [n for n in sub_variables(text)
                   if n not in scope or isinstance(scope[n], (Unknown, list, dict))]
        if missing:
            return Unknown(f"Fn::Sub {missing[0]}")
        out = _SUB_VAR.sub(lambda m: str(scope[m.group(1)]), text)
        return out.replace("${!", "${")
    if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
        parts = ev(arg[1])
        if not isinstance(parts, list) or any(isinstance(p, (Unknown, dict, list)) for p in parts):
            return Unknown("Fn::Join")
        return str(arg[0]).join(str(p) for p in parts)
    if name == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
        idx, items = ev(arg[0]), ev(arg[1])
        try:
            return items[int(idx)]
        except (TypeError, ValueError, IndexError, KeyError):
            return Unknown("Fn::Select")
    if name == "Fn::FindInMap" and isinstance(arg, list) and len(arg) >= 3:
        keys = [ev(a) for a in arg[:3]]
        if any(isinstance(k, Unknown) for k in keys):
            return Unknown("Fn::FindInMap")
        try:
            return mappings[keys[0]][str(keys[1])][str(keys[2])]
        except (KeyError, TypeError):
            return Unknown("Fn::FindInMap")
    return Unknown(name)


def condition_value(name: Any, params: Mapping[str, Any], conditions: Mapping[str, Any],
                    mappings: Mapping[str, Any] | None = None, _depth: int = 0) -> Any:
    """The truth of a named condition, or Unknown."""
    if not isinstance(name, str) or name not in conditions or _depth > 32:
        return Unknown(f"Condition {name}")
    return evaluate(conditions[name], params, conditions, mappings)


def referenced_names(value: Any) -> list[str]:
    """Logical ids and parameters an expression names, in order: ``!Ref X``,
    ``!GetAtt X.A``, ``${X}``/``${X.A}`` in ``!Sub`` (its variable map included), and the
    same inside any other function (``!Join``, ``!If``...). Pseudo parameters excluded."""
    out: list[str] = []
    fn = intrinsic(value)
    if fn is None:
        if isinstance(value, dict):
            for v in value.values():
                out.extend(referenced_names(v))
        elif isinstance(value, list):
            for v in value:
                out.extend(referenced_names(v))
        return out
    name, arg = fn
    if name == "Ref" and isinstance(arg, str):
        out.append(arg)
    elif name == "Fn::GetAtt":
        target = arg[0] if isinstance(arg, list) and arg else str(arg).split(".", 1)[0]
        out.append(str(target))
    elif name == "Fn::Sub":
        text = arg if isinstance(arg, str) else (arg[0] if isinstance(arg, list) and arg else "")
        if isinstance(text, str):
            out.extend(v.split(".", 1)[0] for v in sub_variables(text))
        if isinstance(arg, list) and len(arg) > 1:
            out.extend(referenced_names(arg[1]))
    else:
        out.extend(referenced_names(arg))
    return [n for n in out if n not in PSEUDO_PARAMETERS]
