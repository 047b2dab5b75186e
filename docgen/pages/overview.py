"""Stack overview: what the template builds, how it hangs together, where it lives."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from docgen.intrinsics import render
from docgen.model import Stack
from docgen.pages import PageContext
from docgen.pages.common import rel_source, where

#: Above this many resources the diagram shows services, not single resources.
DIAGRAM_DETAIL_LIMIT = 40


def inventory(stack: Stack) -> list[dict[str, Any]]:
    by_service: dict[str, Counter[str]] = defaultdict(Counter)
    for res in stack.template.resources:
        by_service[res.service][res.type] += 1
    return [{"service": svc, "count": sum(types.values()),
             "types": sorted(types.items())} for svc, types in sorted(by_service.items())]


def resource_edges(stack: Stack) -> list[tuple[str, str, str]]:
    """(from, to, kind) between resources, unique, in a stable order."""
    ids = {r.logical_id for r in stack.template.resources}
    seen: dict[tuple[str, str], str] = {}
    for ref in stack.template.references:
        if ref.source in ids and ref.target in ids and ref.source != ref.target:
            seen.setdefault((ref.source, ref.target), ref.kind)
    return sorted((a, b, k) for (a, b), k in seen.items())


def diagram(stack: Stack) -> dict[str, Any]:
    """Nodes and edges for a Mermaid flowchart, grouped by service when large."""
    resources = stack.template.resources
    if len(resources) <= DIAGRAM_DETAIL_LIMIT:
        ids = {r.logical_id: f"r{i}" for i, r in enumerate(resources)}
        groups: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in resources:
            groups[r.service].append({"id": ids[r.logical_id],
                                      "label": f"{r.logical_id}\n{r.type}"})
        edges = [{"from": ids[a], "to": ids[b], "dashed": k == "DependsOn"}
                 for a, b, k in resource_edges(stack)]
        ordered = sorted(groups.items())
        return {"detail": True, "groups": [{"id": f"g{i}", "label": svc, "nodes": nodes}
                                           for i, (svc, nodes) in enumerate(ordered)],
                "edges": edges}
    services = sorted({r.service for r in resources})
    sid = {s: f"s{i}" for i, s in enumerate(services)}
    counts = Counter(r.service for r in resources)
    svc_of = {r.logical_id: r.service for r in resources}
    weights: Counter[tuple[str, str]] = Counter()
    for a, b, _ in resource_edges(stack):
        if svc_of[a] != svc_of[b]:
            weights[(svc_of[a], svc_of[b])] += 1
    nodes = [{"id": sid[s], "label": f"{s} ({counts[s]} resources)"} for s in services]
    edges = [{"from": sid[a], "to": sid[b], "label": str(n)}
             for (a, b), n in sorted(weights.items())]
    return {"detail": False, "groups": [{"id": "all", "label": "", "nodes": nodes}],
            "edges": edges}


def conditions(stack: Stack) -> list[dict[str, Any]]:
    out = []
    for cond in stack.template.conditions:
        switched = [r.logical_id for r in stack.template.resources if r.condition == cond.name]
        outputs = [o.name for o in stack.template.outputs if o.condition == cond.name]
        used = [u for u in stack.template.users_of(cond.name)
                if u not in switched and not u.startswith("Outputs.")]
        out.append({"name": cond.name, "expression": render(cond.expression),
                    "resources": switched, "outputs": outputs, "used_in": used})
    return out


def context(ctx: PageContext) -> Mapping[str, Any]:
    stack = ctx.stack
    assert stack is not None
    hb = ctx.handbook
    t = stack.template
    from docgen.stackinfo import targets

    return {
        "description": stack.config.description or t.description,
        "template_description": t.description if stack.config.description else "",
        "source": rel_source(hb, t.path),
        "inventory": inventory(stack),
        "resource_count": len(t.resources),
        "diagram": diagram(stack),
        "conditions": conditions(stack),
        "resources": [{"logical_id": r.logical_id, "type": r.type,
                       "condition": r.condition or "", "where": where(hb, r.location)}
                      for r in t.resources],
        "transforms": list(t.transforms),
        "targets": [{"env": x.env, "stack_name": x.stack_name, "region": x.region}
                    for x in targets(hb, stack)],
        "environments": [e.name for e in hb.project.environments],
        "card": card(ctx),
    }


def card(ctx: PageContext) -> dict[str, Any]:
    """The header card: facts an operator wants first. Analyses that other pages
    provide (findings, cost) are included when their modules are present."""
    stack = ctx.stack
    assert stack is not None
    facts: dict[str, Any] = {
        "region": stack.config.region or "not set",
        "environments": ", ".join(e.name for e in ctx.handbook.project.environments) or "none",
        "resources": len(stack.template.resources),
        "role": stack.config.role,
        "owner": stack.config.owner,
        "source": f"{rel_source(ctx.handbook, stack.template.path)}:1",
    }
    for key, dotted in CARD_EXTRAS:
        try:
            module, _, name = dotted.partition(":")
            import importlib

            fn = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        value = fn(ctx)
        if value is not None:
            facts[key] = value
    return facts


#: Optional header-card facts from other analyses: (key, "module:function(ctx) -> str").
CARD_EXTRAS: tuple[tuple[str, str], ...] = (
    ("findings", "docgen.pages.security:card_summary"),
    ("cost", "docgen.pages.cost:card_summary"),
)
