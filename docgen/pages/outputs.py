"""Outputs page: what the stack exposes, who imports it, and the flat outputs file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docgen import commands as c
from docgen import stackinfo
from docgen.intrinsics import Unknown, evaluate, render
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


def importers(handbook: Handbook, stack: Stack) -> dict[str, list[str]]:
    """Output name -> ids of handbook stacks that import its export."""
    names = export_names(handbook, stack)
    result: dict[str, list[str]] = {}
    for other in handbook.stacks:
        if other is stack:
            continue
        for target in stackinfo.targets(handbook, other):
            values = stackinfo.pseudo_values(target)
            for imp in other.template.imports:
                v = evaluate(imp, values, {}, other.template.mappings)
                if isinstance(v, Unknown) or not isinstance(v, str):
                    continue
                for out_name, exported in names.items():
                    if v in exported and other.id not in result.setdefault(out_name, []):
                        result[out_name].append(other.id)
    return result


def flat_outputs_commands(target: stackinfo.Target) -> list[Any]:
    return [
        c.Raw("mkdir -p cfn-outputs"),
        c.AwsCommand("cloudformation", "describe-stacks",
                     (("--stack-name", (target.stack_name,)),
                      *((("--region", (target.region,)),) if target.region else ()),
                      ("--query", ("Stacks[0].Outputs",))),
                     pipe=(("jq", "map({(.OutputKey): .OutputValue}) | add"),),
                     redirect=FLAT_OUTPUTS),
    ]


def docgen_outputs_command(target: stackinfo.Target) -> c.Raw:
    words: list[c.Value] = ["docgen", "outputs", "--stack", target.stack_name]
    if target.region:
        words += ["--region", target.region]
    words += ["-o", FLAT_OUTPUTS]
    return c.Raw(" ".join(c.word(w) if i else str(w) for i, w in enumerate(words)))


def context(ctx: PageContext) -> Mapping[str, Any]:
    stack = ctx.stack
    assert stack is not None
    hb = ctx.handbook
    users = importers(hb, stack)
    rows = [{"name": o.name, "description": o.description, "value": render(o.value),
             "export": render(o.export_name) if o.export_name is not None else "",
             "condition": o.condition or "", "importers": users.get(o.name, [])}
            for o in stack.template.outputs]
    targets = stackinfo.targets(hb, stack)
    return {
        "rows": rows,
        "flat_file": FLAT_OUTPUTS,
        "extract": tabs([(t.env, flat_outputs_commands(t)) for t in targets]),
        "docgen_extract": tabs([(t.env, docgen_outputs_command(t)) for t in targets]),
    }
