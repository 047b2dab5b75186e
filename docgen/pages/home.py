"""The handbook's home page under runbooks/: the stacks at a glance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docgen.pages import PageContext
from docgen.pages.registry import STACK_PAGES


def context(ctx: PageContext) -> Mapping[str, Any]:
    hb = ctx.handbook
    stacks = [{
        "id": st.id, "name": st.name,
        "description": st.config.description or st.template.description,
        "resources": len(st.template.resources), "region": st.config.region or "",
        "role": st.config.role, "parameters": len(st.template.parameters),
        "outputs": len(st.template.outputs),
    } for st in hb.stacks]
    regions = sorted({st.config.region for st in hb.stacks if st.config.region})
    from docgen.pages.disaster_recovery import dr_topology  # imports the registry too

    has_dr = dr_topology(ctx) is not None  # roles in docgen.yml, or resources implying DR
    return {
        "title": hb.project.title, "description": hb.project.description, "stacks": stacks,
        "regions": regions, "environments": [e.name for e in hb.project.environments],
        "has_dr": has_dr, "stack_pages": [(p.slug, p.title) for p in STACK_PAGES],
    }
