"""Handbook page ``deployment-order``: which stack first, and the commands in that order.

The order comes from :mod:`docgen.analyse.order`; the deploy commands are the deploy
page's own (:func:`docgen.pages.deploy.target_commands`), so both pages always show
the same command for a stack. A wired parameter becomes a ``describe-stacks`` lookup
of the source stack's output right before the stack that needs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from docgen import commands as c
from docgen import stackinfo
from docgen.analyse import Fact, compute_fact
from docgen.analyse.order import DeploymentOrder, Edge, FollowUp, analyse
from docgen.intrinsics import render
from docgen.model import Environment, Handbook, OutputWiring, Stack
from docgen.pages import PageContext
from docgen.pages.common import render_step, tabs
from docgen.pages.deploy import commands_for, target_commands

CACHE_KEY = "analyse.order"

def deployment_order(ctx: PageContext) -> DeploymentOrder:
    """The order analysis, computed once per run and shared by every page that needs it."""
    return ctx.surface_fact(CACHE_KEY,  # type: ignore[no-any-return]
                            lambda: analyse(ctx.handbook))


def edge_label(e: Edge) -> str:
    """A short label for a graph edge or a list item."""
    if e.kind == "export":
        return f"export {e.detail}"
    if e.kind == "nested":
        return f"nested stack {e.detail}"
    return f"{e.output} → {e.parameter}"


def edge_item(e: Edge) -> dict[str, Any]:
    """An edge as data for the templates (which format it and escape every name)."""
    return {"kind": e.kind, "before": e.before, "after": e.after, "detail": e.detail,
            "output": e.output or "", "parameter": e.parameter or "", "pattern": e.pattern,
            "envs": list(e.envs)}


def _with_wiring(stack: Stack, add: tuple[OutputWiring, ...] = (),
                 drop: frozenset[str] = frozenset()) -> Stack:
    """The stack as deployed in one pass: extra wiring added, deferred wiring removed."""
    wiring = tuple(w for w in stack.config.wiring if w.parameter not in drop) + add
    if wiring == stack.config.wiring:  # the usual first pass: the stack as configured
        return stack
    return Stack(dataclasses.replace(stack.config, wiring=wiring), stack.template)


def _comment(text: str) -> c.Raw:
    return c.Raw("# " + " ".join(text.split()))


def _target(handbook: Handbook, stack: Stack, env: Environment | None) -> stackinfo.Target:
    for t in stackinfo.targets(handbook, stack):
        if t.env == (env.name if env else None):
            return t
    return stackinfo.targets(handbook, stack)[0]


#: ``commands(stack, target)``: the deploy commands of a stack as configured.
Commands = Callable[[Stack, stackinfo.Target], dict[str, Any]]


def _pass(handbook: Handbook, stack: Stack, env: Environment | None, fact: Fact,
          add: tuple[OutputWiring, ...] = (), drop: frozenset[str] = frozenset(),
          commands: Commands | None = None) -> tuple[str, str | None, dict[str, Any]]:
    """(stack name, region, commands) of one deployment pass of ``stack``: a stack fact,
    so an unchanged stack's commands need not parse its template. ``commands`` gives
    those of the stack as configured (the deploy page's, already built) when the pass
    leaves its wiring as it is."""
    def compute() -> tuple[str, str | None, dict[str, Any]]:
        one = _with_wiring(stack, add=add, drop=drop)
        target = _target(handbook, one, env)
        if commands is not None and one is stack:
            cmds = commands(stack, target)
        else:
            cmds = target_commands(handbook, one, target)
        # what this page shows of them, as text: a fact travels from the worker that
        # rendered the stack and is kept in the cache (command objects pickled were
        # most of the facts: 1.8 MB for the corpus)
        return target.stack_name, target.region, {
            "deploy": tuple(map(render_step, cmds["deploy"])),
            "exports": tuple(cmds["exports"])}

    name = "deploy-pass:" + repr((env.name if env else None, sorted(drop),
                                  [(w.parameter, w.from_stack, w.output) for w in add]))
    return fact(stack, name, compute)  # type: ignore[no-any-return]


def _deferred(result: DeploymentOrder) -> dict[str, frozenset[str]]:
    """Per stack, the wired parameters its first deployment leaves at their default."""
    deferred: dict[str, frozenset[str]] = {}
    for f in result.follow_ups:
        deferred[f.stack] = deferred.get(f.stack, frozenset()) | {f.parameter}
    return deferred


def _second_passes(result: DeploymentOrder) -> tuple[FollowUp, ...]:
    return (*result.follow_ups, *(h for h in result.hints if h.second_pass))


def stack_facts(ctx: PageContext) -> None:
    """What this page needs of ``ctx.stack``: its deployment passes in every
    environment (computed where the stack is rendered)."""
    stack = ctx.stack
    assert stack is not None
    result = deployment_order(ctx)
    envs: tuple[Environment | None, ...] = ctx.handbook.project.environments or (None,)
    for env in envs:
        if stack.id in result.order and result.parent_of(stack.id) is None:
            _pass(ctx.handbook, stack, env, ctx.stack_fact,
                  drop=_deferred(result).get(stack.id, frozenset()),
                  commands=lambda st, t: commands_for(ctx, st, t))
        for f in _second_passes(result):
            if f.stack == stack.id:
                _pass(ctx.handbook, stack, env, ctx.stack_fact,
                      add=(OutputWiring(f.parameter, f.from_stack, f.output),))


def sequence(handbook: Handbook, result: DeploymentOrder, env: Environment | None,
             fact: Fact = compute_fact) -> tuple[list[Any], list[str]]:
    """(steps, variables to export first) for one environment."""
    steps: list[Any] = [c.Raw("set -euo pipefail")]
    exports: list[str] = []
    deferred = _deferred(result)
    n = 0
    for sid in result.order:
        stack = handbook.stack(sid)
        if stack is None:
            continue
        parent = result.parent_of(sid)
        if parent is not None:
            steps.append(_comment(f"{sid}: deployed by {parent[0]} as its nested stack "
                                  f"{parent[1]} (no separate deployment)"))
            continue
        n += 1
        stack_name, region, cmds = _pass(handbook, stack, env, fact,
                                         drop=deferred.get(sid, frozenset()))
        where = f" in {region}" if region else ""
        note = ""
        if sid in deferred:
            note = f" (first pass: {', '.join(sorted(deferred[sid]))} left at the default)"
        steps.append(_comment(f"{n}. {sid}: stack {stack_name}{where}{note}"))
        steps.extend(map(c.Raw, cmds["deploy"]))
        exports.extend(e for e in cmds["exports"] if e not in exports)
    for f in _second_passes(result):
        stack = handbook.stack(f.stack)
        if stack is None:
            continue
        n += 1
        _name, _region, cmds = _pass(handbook, stack, env, fact,
                                     add=(OutputWiring(f.parameter, f.from_stack, f.output),))
        why = "wired in docgen.yml" if f.source == "config" else \
            "from the template's descriptions; confirm before running"
        steps.append(_comment(f"{n}. {f.stack} again: {f.parameter} <- output {f.output} of "
                              f"{f.from_stack} ({why})"))
        steps.extend(map(c.Raw, cmds["deploy"]))
        exports.extend(e for e in cmds["exports"] if e not in exports)
    return steps, exports


def _uses(handbook: Handbook, stack_id: str, parameter: str) -> dict[str, list[str]]:
    """What the parameter feeds: resource properties and conditions (what the second
    deployment changes)."""
    stack = handbook.stack(stack_id)
    props: list[str] = []
    conditions: list[str] = []
    for ref in stack.template.references if stack else ():
        if ref.target != parameter:
            continue
        if ref.source.startswith("Conditions."):
            name = ref.source.split(".", 1)[1]
            if name not in conditions:
                conditions.append(name)
        elif len(ref.path) > 3 and ref.path[0] == "Resources" and ref.path[2] == "Properties":
            where = f"{ref.path[1]}.{ref.path[3]}"
            if where not in props:
                props.append(where)
    return {"properties": props, "conditions": conditions}


def _follow(handbook: Handbook, f: FollowUp) -> dict[str, Any]:
    return {"stack": f.stack, "parameter": f.parameter, "from_stack": f.from_stack,
            "output": f.output, "reason": f.reason, "source": f.source,
            "default": render(f.default) if f.default is not None else "",
            "second_pass": f.second_pass, "uses": _uses(handbook, f.stack, f.parameter)}


def context(ctx: PageContext) -> Mapping[str, Any] | None:
    hb = ctx.handbook
    if not hb.stacks:
        return None
    result = deployment_order(ctx)
    node_id = {sid: f"S{i + 1}" for i, sid in enumerate(result.order)}
    nodes = []
    for sid in result.order:
        st = hb.stack(sid)
        assert st is not None
        label = st.name + (f" ({st.config.region})" if st.config.region else "")
        nodes.append({"id": node_id[sid], "label": label})
    graph_edges = [{"from": node_id[e.before], "to": node_id[e.after], "label": edge_label(e),
                    "dashed": False} for e in result.edges]
    for f in _second_passes(result):
        graph_edges.append({"from": node_id[f.from_stack], "to": node_id[f.stack],
                            "label": f"second deployment: {f.output} → {f.parameter}",
                            "dashed": True})
    steps = []
    for sid in result.order:
        st = hb.stack(sid)
        assert st is not None
        parent = result.parent_of(sid)
        steps.append({
            "id": sid, "name": st.name, "region": st.config.region or "",
            "role": st.config.role,
            "after": [edge_item(e) for e in result.depends_on(sid)],
            "nested_in": {"parent": parent[0], "logical_id": parent[1]} if parent else None,
        })
    envs: tuple[Environment | None, ...] = hb.project.environments or (None,)
    per_env = [(env, *sequence(hb, result, env, ctx.stack_fact)) for env in envs]
    exports = sorted({e for _, _, ex in per_env for e in ex})
    parallel = [list(level) for level in result.levels if len(level) > 1]
    return {
        "nodes": nodes, "edges": graph_edges, "steps": steps,
        "follow_ups": [_follow(hb, f) for f in result.follow_ups],
        "hints": [_follow(hb, h) for h in result.hints],
        "dangling": [{"stack": d.stack, "expression": d.expression, "names": list(d.names),
                      "reason": d.reason} for d in result.dangling],
        "warnings": [{"stack": w.stack, "message": w.message} for w in result.warnings],
        "parallel": parallel,
        "sequence": tabs([(env.name if env else None, steps_) for env, steps_, _ in per_env]),
        "exports": exports,
        "independent": not result.edges and len(result.order) > 1,
    }
