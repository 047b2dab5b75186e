"""The handbook's home page under runbooks/: the stacks at a glance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docgen.model import Stack
from docgen.pages import PageContext
from docgen.pages.registry import STACK_PAGES


def _row(ctx: PageContext, st: Stack) -> dict[str, Any]:
    return ctx.stack_fact(st, "home-row", lambda: {  # type: ignore[no-any-return]
        "description": st.config.description or st.template.description,
        "resources": len(st.template.resources),
        "parameters": len(st.template.parameters),
        "outputs": len(st.template.outputs)})


def stack_facts(ctx: PageContext) -> None:
    """What this page needs of ``ctx.stack`` (computed where the stack is rendered)."""
    assert ctx.stack is not None
    _row(ctx, ctx.stack)


def context(ctx: PageContext) -> Mapping[str, Any]:
    hb = ctx.handbook
    stacks = [{
        "id": st.id, "name": st.name, "region": st.config.region or "", "role": st.config.role,
        **_row(ctx, st),
    } for st in hb.stacks]
    regions = sorted({st.config.region for st in hb.stacks if st.config.region})
    from docgen.pages.disaster_recovery import dr_topology  # imports the registry too

    has_dr = dr_topology(ctx) is not None  # roles in docgen.yml, or resources implying DR
    return {
        "title": hb.project.title, "description": hb.project.description, "stacks": stacks,
        "regions": regions, "environments": [e.name for e in hb.project.environments],
        "has_dr": has_dr, "stack_pages": [(p.slug, p.title) for p in STACK_PAGES],
    }
