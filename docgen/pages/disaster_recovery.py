"""Handbook page ``disaster-recovery``: failover in timed phases, failback, drill.

Generated only when the handbook has a DR topology (:func:`docgen.analyse.dr.topology`);
otherwise the context returns None and the home page says DR is not configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docgen.analyse import dr
from docgen.pages import PageContext
from docgen.pages.common import Tab, tabs
from docgen.pages.registry import STACK_PAGES

TOPOLOGY_KEY = "analyse.dr.topology"


def knowledge(ctx: PageContext) -> dr.DRKnowledge:
    return ctx.cached(("dr", "knowledge"),  # type: ignore[no-any-return]
                      lambda: dr.load_knowledge(ctx.handbook.project.knowledge_dir))


def dr_topology(ctx: PageContext) -> dr.Topology | None:
    """The DR topology, computed once per run (the home page asks too)."""
    return ctx.cached(TOPOLOGY_KEY,  # type: ignore[no-any-return]
                      lambda: dr.topology(ctx.handbook, knowledge(ctx), fact=ctx.stack_fact))


def stack_facts(ctx: PageContext) -> None:
    """What this page needs of ``ctx.stack`` (computed where the stack is rendered)."""
    assert ctx.stack is not None
    dr.stack_facts(ctx.handbook, ctx.stack, knowledge(ctx), ctx.stack_fact)


def monitoring_link(stack_id: str) -> str:
    """The monitoring page when it is generated, else the stack overview."""
    if any(p.slug == "monitoring" for p in STACK_PAGES):
        return f"{stack_id}/monitoring.md"
    return f"{stack_id}/index.md"


def _tabs(per_env: list[tuple[str | None, list[Any]]]) -> list[Tab]:
    return tabs([(env, cmds) for env, cmds in per_env if cmds])


def _action(a: dr.Action) -> dict[str, Any]:
    return {"text": a.text, "commands": _tabs(a.commands), "check_text": a.check_text,
            "check": _tabs(a.check)}


def _minutes(x: float) -> str:
    return f"{x:g}"


def context(ctx: PageContext) -> Mapping[str, Any] | None:
    topo = dr_topology(ctx)
    if topo is None:
        return None
    hb = ctx.handbook
    proc = dr.procedure(hb, topo, knowledge(ctx))
    phases = []
    for p in proc.phases:
        span = f"at {_minutes(p.end)}" if p.start == p.end else \
            f"{_minutes(p.start)}-{_minutes(p.end)}"
        phases.append({"id": p.id, "title": p.title, "span": span,
                       "minutes": _minutes(p.end - p.start), "text": p.text,
                       "source": p.source, "actions": [_action(a) for a in p.actions]})
    names = {st.id: st.name for st in hb.stacks}
    alarms = [{"stack": a.stack, "logical_id": a.logical_id, "metric": a.metric,
               "threshold": a.threshold, "unit": a.unit or "", "link": monitoring_link(a.stack)}
              for a in topo.lag_alarms]
    watched = {(a.stack, a.kind) for a in topo.lag_alarms}
    unwatched = []
    kb = knowledge(ctx)
    for r in topo.replications:
        spec = kb.replication_spec(r.kind)
        if spec is None or not spec.lag_metric:
            continue
        holder = r.target_stack or r.stack
        if not any(kind == r.kind for _, kind in watched):
            unwatched.append({"stack": holder, "logical_id": r.logical_id,
                              "metric": spec.lag_metric, "namespace": spec.lag_namespace,
                              "link": monitoring_link(holder)})
    return {
        "roles_from": topo.roles_from,
        "primary": [{"id": s, "name": names[s], "region": _region(ctx, s)} for s in topo.primary],
        "dr": [{"id": s, "name": names[s], "region": _region(ctx, s)} for s in topo.dr],
        "replications": proc.replications,
        "rto": {"minutes": _minutes(proc.rto.minutes) if proc.rto.minutes is not None else "",
                "source": proc.rto.source},
        "rpo": {"minutes": _minutes(proc.rpo.minutes) if proc.rpo.minutes is not None else "",
                "source": proc.rpo.source, "evidence": proc.rpo.evidence},
        "phases": phases,
        "total": _minutes(proc.phases[-1].end) if proc.phases else "",
        "failback": [_action(a) for a in proc.failback],
        "drill": proc.drill,
        "lag_alarms": alarms, "unwatched": unwatched,
        "knowledge": proc.knowledge_path,
        "standby_count": len(topo.standbys),
    }


def _region(ctx: PageContext, stack_id: str) -> str:
    st = ctx.handbook.stack(stack_id)
    return (st.config.region or "") if st else ""
