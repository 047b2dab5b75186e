"""Handbook page ``cost``: the estimate of every stack, per Region, with a total.

A deployment is several stacks in several Regions; the question "what does all of it
cost a month?" is answered here from the same per-stack estimates as the stack pages
(shared through ``ctx.cached``), per environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docgen.analyse.cost import (
    METHOD_NOTES,
    USAGE_KEYS,
    StackEstimate,
    format_usage,
    format_usd,
    resolve_usage,
)
from docgen.pages import PageContext
from docgen.pages.cost import estimates, excluded_text, price_table, table_info


def _sum_by(ests: tuple[StackEstimate, ...], key: str) -> list[dict[str, str]]:
    sums: dict[str, float] = {}
    for est in ests:
        for name, value in (est.by_region() if key == "region" else est.by_service()):
            sums[name] = sums.get(name, 0.0) + value
    ordered = sorted(sums.items(), key=lambda kv: (-round(kv[1], 2), kv[0]))
    return [{"name": n, "monthly": format_usd(v)} for n, v in ordered]


def _environment(name: str | None, ests: tuple[StackEstimate, ...]) -> dict[str, Any]:
    unknown = sum(len(e.unknown_components) for e in ests)
    depends = sum(e.depends_total for e in ests)
    return {
        "name": name or "default",
        "stacks": [{"id": e.stack_id, "region": e.region or "unknown",
                    "total": format_usd(e.total), "excluded": excluded_text(e)}
                   for e in ests],
        "by_region": _sum_by(ests, "region"),
        "by_service": _sum_by(ests, "service"),
        "total": format_usd(sum(e.total for e in ests)),
        "unknown": unknown,
        "depends": format_usd(depends) if depends else "",
    }


def context(ctx: PageContext) -> Mapping[str, Any] | None:
    hb = ctx.handbook
    if not hb.stacks:
        return None
    all_estimates = estimates(ctx)
    envs = [_environment(name, ests) for name, ests in all_estimates.items()]
    used = {a.label for ests in all_estimates.values() for e in ests for a in e.assumptions}
    usage = resolve_usage(hb.project.usage, None, hb.project.config_path)
    settings = [{"label": spec.label, "value": format_usage(key, usage[key].value),
                 "source": usage[key].source}
                for key, spec in USAGE_KEYS.items()
                if usage[key].value is not None and spec.label in used]
    settable = [{"key": key, "label": spec.label, "unit": spec.unit,
                 "default": format_usage(key, spec.default),
                 "current": "not set" if usage[key].source == "default"
                 else format_usage(key, usage[key].value)}
                for key, spec in USAGE_KEYS.items()]
    per_stack = [{"stack": k, "source": f"docgen.yml usage.stacks.{k}"}
                 for k in (hb.project.usage.get("stacks") or {})]
    comparison = []
    if len(envs) > 1:
        for i, st in enumerate(hb.stacks):
            comparison.append({"id": st.id, "totals": [format_usd(ests[i].total)
                                                      for ests in all_estimates.values()]})
        comparison.append({"id": "", "totals": [e["total"] for e in envs]})
    return {
        "table": table_info(price_table(ctx)),
        "environments": envs,
        "tabs": len(envs) > 1,
        "comparison": comparison,
        "usage": settings,
        "settable": settable,
        "per_stack_usage": per_stack,
        "method": METHOD_NOTES,
    }
