"""Stack page ``cost``: the monthly estimate of one stack, per environment.

The estimate itself is :mod:`docgen.analyse.cost`; this module only turns it into rows
of already formatted text (money, quantities, unit prices) so that the template stays a
loop. Each stack's estimates are a stack fact (``ctx.stack_fact``) because the
handbook-wide ``cost`` page shows the same figures.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from docgen.analyse.cost import (
    METHOD_NOTES,
    ResourceCost,
    StackEstimate,
    estimate_handbook,
    format_unit_price,
    format_usd,
    stack_estimates,
)
from docgen.knowledge.pricing import PriceTable, load_prices
from docgen.model import Stack
from docgen.pages import PageContext


def price_table(ctx: PageContext) -> PriceTable:
    return ctx.cached(("cost", "prices"),
                      lambda: load_prices(ctx.handbook.project.knowledge_dir))


def estimates(ctx: PageContext) -> dict[str | None, tuple[StackEstimate, ...]]:
    """Every stack in every environment, computed once per run."""
    return ctx.cached(("cost", "estimates"),
                      lambda: estimate_handbook(ctx.handbook, price_table(ctx),
                                                ctx.stack_fact))


def own_estimates(ctx: PageContext, stack: Stack) -> dict[str | None, StackEstimate]:
    """The stack's estimates per environment (a stack fact: the handbook-wide page reads
    the same ones, computed by whichever process rendered the stack)."""
    return stack_estimates(ctx.handbook, stack, price_table(ctx), ctx.stack_fact)


def stack_facts(ctx: PageContext) -> None:
    """What the handbook-wide cost page needs of ``ctx.stack``."""
    assert ctx.stack is not None
    own_estimates(ctx, ctx.stack)


def table_info(table: PriceTable) -> dict[str, Any]:
    """What every cost page says about the prices it uses: the built-in table's date and
    method, and each project price file that overrides or extends it."""
    base = table.tables[0] if table.tables else None
    return {
        "title": base.title if base else "price table",
        "published": base.published if base else "unknown",
        "method": base.method if base else "",
        "overrides": [{"file": os.path.basename(t.path), "title": t.title,
                       "published": t.published} for t in table.tables[1:]],
    }


def qty(value: float | None) -> str:
    if value is None:
        return "usage-based"
    value = round(value, 4)
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def excluded_text(est: StackEstimate) -> str:
    """What the total leaves out, in a few words (for summary tables)."""
    parts = []
    unknown = len(est.unknown_components)
    if unknown:
        parts.append(f"{unknown} unknown price{'s' if unknown != 1 else ''}")
    depends = [r for r in est.resources if r.state == "depends"]
    if depends:
        parts.append(f"{len(depends)} resource{'s' if len(depends) != 1 else ''} depending on "
                     f"conditions ({format_usd(est.depends_total)})")
    usage = sum(1 for r in est.counted if r.kind == "usage-based")
    if usage:
        parts.append(f"{usage} usage-based")
    missing = sum(1 for r in est.counted if r.kind == "not-estimated")
    if missing:
        parts.append(f"{missing} not estimated")
    return "; ".join(parts) or "—"


def _component_rows(resources: tuple[ResourceCost, ...]) -> list[dict[str, Any]]:
    rows = []
    for res in resources:
        for i, comp in enumerate(res.components):
            rows.append({
                "resource": res.logical_id if i == 0 else "",
                "pseudo": not res.type,
                "type": res.type if i == 0 else "",
                "component": comp.name,
                "quantity": f"{qty(comp.quantity)} {comp.unit}" if comp.quantity is not None
                else "usage-based",
                "region": comp.region or "unknown",
                "unit_price": format_unit_price(comp.price),
                "monthly": format_usd(comp.monthly) if comp.status == "estimated"
                else comp.status,
            })
    return rows


def environment_view(est: StackEstimate) -> dict[str, Any]:
    """One environment's estimate as page rows."""
    counted = [r for r in est.counted if r.components]
    return {
        "name": est.environment or "default",
        "region": est.region or "unknown",
        "total": format_usd(est.total),
        "excluded": excluded_text(est),
        "by_service": [{"name": s, "monthly": format_usd(v)} for s, v in est.by_service()],
        "by_region": [{"name": r, "monthly": format_usd(v)} for r, v in est.by_region()],
        "rows": _component_rows(tuple(counted)),
        "unknown": [{"resource": r.logical_id, "component": c.name,
                     "price_id": c.price_id or "", "region": c.region or "unknown"}
                    for r, c in est.unknown_components],
        "off": [{"resource": r.logical_id, "condition": r.condition or "",
                 "monthly": format_usd(r.monthly)}
                for r in est.resources if r.state == "off" and r.components],
        "depends": [{"resource": r.logical_id, "condition": r.condition or "",
                     "monthly": format_usd(r.monthly)}
                    for r in est.resources if r.state == "depends" and r.components],
        "depends_total": format_usd(est.depends_total),
        "usage_based": [{"resource": r.logical_id, "type": r.type, "service": r.service}
                        for r in est.counted if r.kind == "usage-based"],
        "not_estimated": [{"resource": r.logical_id, "type": r.type,
                           "why": r.notes[0] if r.notes else ""}
                          for r in est.counted if r.kind == "not-estimated"],
        "free": [r.logical_id for r in est.resources if r.kind == "free" and not r.notes],
        "notes": [{"resource": r.logical_id, "text": n}
                  for r in est.resources
                  if r.state != "off" and r.kind not in ("usage-based", "not-estimated")
                  for n in r.notes],
        "assumptions": [{"label": a.label, "value": a.value, "source": a.source}
                        for a in est.assumptions],
        "price_dates": ", ".join(est.price_dates) or "none",
    }


def context(ctx: PageContext) -> Mapping[str, Any] | None:
    stack = ctx.stack
    if stack is None:
        return None
    views = [environment_view(est) for est in own_estimates(ctx, stack).values()]
    return {
        "table": table_info(price_table(ctx)),
        "region": stack.config.region or "not set",
        "region_missing": not stack.config.region,
        "environments": views,
        "tabs": len(views) > 1,
        "method": METHOD_NOTES,
    }


def card_summary(ctx: PageContext) -> str | None:
    """The overview card's cost fact: the monthly total per environment, marked when
    some prices are unknown (never a guessed figure)."""
    stack = ctx.stack
    if stack is None:
        return None
    parts = []
    for env, est in own_estimates(ctx, stack).items():
        text = format_usd(est.total) + "/month"
        if est.unknown_components:
            text += " + unknown prices"
        parts.append(f"{env}: {text}" if env else text)
    return "; ".join(parts) or None
