"""Parameters page: every parameter, grouped as the template's Interface metadata says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docgen.intrinsics import render
from docgen.model import Parameter, SecretRef
from docgen.pages import PageContext


def constraints(p: Parameter) -> list[str]:
    out = []
    if p.allowed_values:
        out.append("one of: " + ", ".join(render(v) for v in p.allowed_values))
    if p.allowed_pattern:
        out.append(f"pattern: {p.allowed_pattern}")
    if p.min_length is not None or p.max_length is not None:
        out.append(f"length {p.min_length if p.min_length is not None else 0}"
                   f"..{p.max_length if p.max_length is not None else ''}")
    if p.min_value is not None or p.max_value is not None:
        lo = "" if p.min_value is None else f"{p.min_value:g}"
        hi = "" if p.max_value is None else f"{p.max_value:g}"
        out.append(f"value {lo}..{hi}")
    if p.constraint_description:
        out.append(p.constraint_description)
    return out


def secret_source(ctx: PageContext, p: Parameter) -> str:
    """Where a NoEcho value should come from (never the value itself)."""
    sources = []
    for env in ctx.handbook.project.environments:
        assert ctx.stack is not None
        value = env.stack_parameters.get(ctx.stack.id, {}).get(p.name, env.parameters.get(p.name))
        if isinstance(value, SecretRef):
            store = "SSM Parameter Store" if value.store == "ssm" else "Secrets Manager"
            sources.append(f"{env.name}: {store} {value.name}")
    return "; ".join(sources) if sources else "set at deploy time from a secret store"


def default_text(p: Parameter) -> str:
    if p.no_echo:
        return "secret — set at deploy time"
    if not p.has_default:
        return "(none: required)"
    return render(p.default) if p.default != "" else '"" (empty)'


def row(ctx: PageContext, p: Parameter) -> dict[str, Any]:
    assert ctx.stack is not None
    return {
        "name": p.name, "label": p.label, "type": p.type, "default": default_text(p),
        "constraints": constraints(p), "no_echo": p.no_echo,
        "secret_source": secret_source(ctx, p) if p.no_echo else "",
        "description": p.description,
        "used_by": [u for u in ctx.stack.template.users_of(p.name)],
        "required": not p.has_default,
    }


def context(ctx: PageContext) -> Mapping[str, Any]:
    assert ctx.stack is not None
    template = ctx.stack.template
    by_name = {p.name: p for p in template.parameters}
    groups: list[dict[str, Any]] = []
    placed: set[str] = set()
    for title, members in template.parameter_groups:
        rows = [row(ctx, by_name[m]) for m in members if m in by_name and m not in placed]
        placed.update(m for m in members if m in by_name)
        if rows:
            groups.append({"title": title or "Parameters", "rows": rows})
    rest = [row(ctx, p) for p in template.parameters if p.name not in placed]
    if rest:
        groups.append({"title": "Other parameters" if groups else "Parameters", "rows": rest})
    return {"groups": groups, "count": len(template.parameters)}
