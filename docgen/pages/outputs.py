"""Outputs page: what the stack exposes, who imports it, and the flat outputs file.

When docgen.yml names a live outputs file for the stack (per environment), the
deployed values appear beside the template expressions; a missing or unreadable
file is stated on the page and the expressions stand alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from docgen import commands as c
from docgen import liveoutputs, stackinfo
from docgen.analyse.surface import surfaces
from docgen.intrinsics import evaluate, render
from docgen.model import Handbook, Stack
from docgen.pages import PageContext
from docgen.pages.common import tabs

FLAT_OUTPUTS = "cfn-outputs/flat-outputs.json"


def export_names(handbook: Handbook, stack: Stack) -> dict[str, set[str]]:
    """Output name -> export names it resolves to across environments."""
    out: dict[str, set[str]] = {}
    for target in stackinfo.targets(handbook, stack):
        values = stackinfo.pseudo_values(target)
        for o in stack.template.exports:
            v = evaluate(o.export_name, values, {}, stack.template.mappings)
            if isinstance(v, str):
                out.setdefault(o.name, set()).add(v)
    return out


def imported_values(handbook: Handbook) -> list[tuple[str, list[str]]]:
    """Per stack id, the export names its ``Fn::ImportValue`` calls resolve to, in every
    environment. Computed once per run (``ctx.surface_fact``): evaluating every stack's
    imports again for each stack's page made this page quadratic in the stack count. Other
    stacks are read through their surfaces (``docgen.analyse.surface``), not templates."""
    return [(st.id, list(part.imported))
            for st, part in zip(handbook.stacks, surfaces(handbook), strict=True)]


def importers(handbook: Handbook, stack: Stack,
              imported: list[tuple[str, list[str]]] | None = None) -> dict[str, list[str]]:
    """Output name -> ids of handbook stacks that import its export."""
    names = export_names(handbook, stack)
    result: dict[str, list[str]] = {}
    if not names:
        return result
    sid = stack.id  # a property: read once, not once per stack of the handbook
    for other, found in imported if imported is not None else imported_values(handbook):
        if other == sid or not found:
            continue
        for v in found:
            for out_name, exported in names.items():
                if v in exported and other not in result.setdefault(out_name, []):
                    result[out_name].append(other)
    return result


def flat_outputs_commands(target: stackinfo.Target, path: str = FLAT_OUTPUTS) -> list[Any]:
    folder = os.path.dirname(path)
    return [
        *([c.raw("mkdir", "-p", folder)] if folder else []),
        c.AwsCommand("cloudformation", "describe-stacks",
                     (("--stack-name", (target.stack_name,)),
                      *((("--region", (target.region,)),) if target.region else ()),
                      ("--query", ("Stacks[0].Outputs",))),
                     pipe=(("jq", "map({(.OutputKey): .OutputValue}) | add"),),
                     redirect=path),
    ]


def docgen_outputs_command(target: stackinfo.Target, path: str = FLAT_OUTPUTS) -> c.Raw:
    words: list[c.Value] = ["docgen", "outputs", "--stack", target.stack_name]
    if target.region:
        words += ["--region", target.region]
    words += ["-o", path]
    return c.Raw(" ".join(c.word(w) if i else str(w) for i, w in enumerate(words)))


def live_sources(handbook: Handbook, stack: Stack, targets: tuple[stackinfo.Target, ...]
                 ) -> list[tuple[stackinfo.Target, liveoutputs.LiveOutputs]]:
    """Per environment with an outputs file in docgen.yml: what reading it gave."""
    out = []
    for t in targets:
        live = liveoutputs.live_for(handbook, stack, t.env)
        if live is not None:
            out.append((t, live))
    return out


def live_context(stack: Stack, sources: list[tuple[stackinfo.Target, liveoutputs.LiveOutputs]]
                 ) -> dict[str, Any]:
    """Live values per output and one status line per environment's outputs file."""
    declared = {o.name for o in stack.template.outputs}
    loaded = [(t, live) for t, live in sources if live.values is not None]
    values: dict[str, list[dict[str, Any]]] = {}
    from docgen.modelbuild import is_secret_value

    for o in stack.template.outputs:
        # never print a credential (asked only when there are live values to show)
        hidden = bool(loaded) and is_secret_value(stack.template, o.value)
        values[o.name] = [{"label": t.env, "value": (
            "secret: not shown" if hidden and (live.values or {}).get(o.name) is not None
            else (live.values or {}).get(o.name))} for t, live in loaded]
    status = []
    for t, live in sources:
        extra = sorted(k for k in (live.values or {}) if k not in declared)
        status.append({"label": t.env, "file": live.path, "loaded": live.values is not None,
                       "problem": live.problem, "count": len(live.values or {}),
                       "undeclared": extra, "dropped": list(live.dropped)})
    return {"show_live": bool(loaded), "live_values": values, "live_status": status}


def context(ctx: PageContext) -> Mapping[str, Any]:
    stack = ctx.stack
    assert stack is not None
    hb = ctx.handbook
    users = importers(hb, stack, ctx.surface_fact("outputs.imported_values",
                                                  lambda: imported_values(hb)))
    rows = [{"name": o.name, "description": o.description, "value": render(o.value),
             "export": render(o.export_name) if o.export_name is not None else "",
             "condition": o.condition or "", "importers": users.get(o.name, [])}
            for o in stack.template.outputs]
    targets = stackinfo.targets(hb, stack)
    sources = live_sources(hb, stack, targets)
    files = {t.env: live.path for t, live in sources}
    return {
        "rows": rows,
        "flat_file": FLAT_OUTPUTS,
        "extract": tabs([(t.env, flat_outputs_commands(t, files.get(t.env, FLAT_OUTPUTS)))
                         for t in targets]),
        "docgen_extract": tabs([(t.env, docgen_outputs_command(t, files.get(t.env,
                                                                            FLAT_OUTPUTS)))
                                for t in targets]),
        **live_context(stack, sources),
    }
