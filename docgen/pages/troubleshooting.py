"""Troubleshooting page: stack states needing a human, per-type failures, provisioning
time along the critical path, and known pitfalls — all from the ops knowledge base."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from docgen import stackinfo
from docgen.analyse import ops as a
from docgen.knowledge import ops as kb_ops
from docgen.model import Stack
from docgen.pages import PageContext
from docgen.pages.common import Tab, tabs


def knowledge(ctx: PageContext) -> kb_ops.OpsKnowledge:
    """The ops knowledge base (package data + the project's overrides), loaded once per run."""
    folder = ctx.handbook.project.knowledge_dir
    return ctx.cached(("ops-knowledge", folder), lambda: kb_ops.load(folder))


def targets(ctx: PageContext) -> tuple[stackinfo.Target, ...]:
    assert ctx.stack is not None
    return stackinfo.targets(ctx.handbook, ctx.stack)


def target_rows(ts: Sequence[stackinfo.Target]) -> list[dict[str, Any]]:
    return [{"label": t.env, "stack_name": t.stack_name, "region": t.region or ""} for t in ts]


def sources(record: kb_ops.Record) -> list[dict[str, str]]:
    """A record's sources as links (URLs) or plain text (the reference handbook).
    Shared between pages and stacks (pages only read them): a record's sources are
    shown on every stack's pages."""
    return _sources(record.source)


@lru_cache(maxsize=4096)
def _sources(source: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"url": s if s.startswith("https://") else "", "text": s} for s in source]


def step_texts(steps: Sequence[kb_ops.Step]) -> list[str]:
    return [s.text for s in steps]


def per_target(stack: Stack, ts: Sequence[stackinfo.Target],
               build: Callable[[stackinfo.Target, a.Block], None]) -> list[Tab]:
    """One command block per environment (a tab each when docgen.yml has environments);
    ``build(target, block)`` fills the block for one target. Empty blocks are left out."""
    out = []
    for t in ts:
        block = a.Block()
        build(t, block)
        if block.lines:
            out.append((t.env, block.script()))
    return tabs(out)


#: The list placeholders of stack-state commands: one command per candidate resource.
LISTS = ("skippable", "retainable")


def _list_keys(ctx: PageContext, record: kb_ops.Record) -> tuple[list[str | None], set[str]]:
    """Per step of a stack-state record, the first list placeholder (``{skippable}``,
    ``{retainable}``) its command names, or None; and every one the record names.
    Once per record and run (record ids are unique in the knowledge base)."""
    def compute() -> tuple[list[str | None], set[str]]:
        per_step: list[str | None] = []
        uses: set[str] = set()
        for step in record.steps:
            values = [v for _, vs in step.command.options for v in vs] if step.command else []
            named = [k for k in LISTS if any("{" + k + "}" in v for v in values)]
            per_step.append(named[0] if named else None)
            uses.update(named)
        return per_step, uses

    return ctx.cached(("stack-state list placeholders", record.id),  # type: ignore[no-any-return]
                      compute)


def _state_blocks(stack: Stack, ts: Sequence[stackinfo.Target], record: kb_ops.Record,
                  lists: Mapping[str, Sequence[str]], keys: Sequence[str | None]) -> list[Tab]:
    """Steps of a stack-state record; a step naming ``{skippable}``/``{retainable}``
    (``keys``: per step) becomes one command per candidate resource (name only those
    that really failed)."""

    def build(t: stackinfo.Target, block: a.Block) -> None:
        scope = a.Scope(stack, t)
        run = 0  # index of the first step of the current run of steps without a list
        for i, (step, key) in enumerate(zip(record.steps, keys, strict=True), 1):
            if key is None:
                continue
            if run < i - 1:  # the steps before this one, numbered as in the record
                a.steps_block(record.steps[run:i - 1], scope, block, start=run + 1)
            run = i
            assert step.command is not None  # a list placeholder is in its command
            for name in lists[key]:
                one = a.Scope(stack, t, stack.template.resource(name), lists={key: [name]})
                try:
                    command = a.instantiate(step.command, one, block)
                except a.Unresolved:
                    continue
                if command is not None:
                    block.comment(f"{i}. {step.text} ({name})")
                    block.add(command)
        if run < len(record.steps):
            a.steps_block(record.steps[run:], scope, block, start=run + 1)

    return per_target(stack, ts, build)


def _candidates(cands: Sequence[a.Candidate]) -> list[dict[str, Any]]:
    return [{"logical_id": x.resource.logical_id, "type": x.resource.type,
             "why": x.record.text, "certain": x.certain, "sources": sources(x.record)}
            for x in cands]


def stack_states(ctx: PageContext, kb: kb_ops.OpsKnowledge,
                 ts: Sequence[stackinfo.Target]) -> tuple[dict[str, Any] | None,
                                                          list[dict[str, Any]]]:
    stack = ctx.stack
    assert stack is not None
    skip = a.recovery_candidates(kb, stack.template, "skip_update_rollback")
    retain = a.recovery_candidates(kb, stack.template, "retain_on_delete")
    lists = dict(zip(LISTS, ([x.resource.logical_id for x in skip],
                             [x.resource.logical_id for x in retain]), strict=True))
    find = None
    states = []
    for record in kb.of_kind("stack_state"):
        keys, uses = _list_keys(ctx, record)
        entry = {"state": record.state, "text": record.text, "steps": step_texts(record.steps),
                 "blocks": _state_blocks(stack, ts, record, lists, keys),
                 "sources": sources(record), "candidates": [], "candidate_kind": ""}
        if "skippable" in uses:
            entry.update(candidates=_candidates(skip), candidate_kind="skip")
        elif "retainable" in uses:
            entry.update(candidates=_candidates(retain), candidate_kind="retain")
        if not record.state:
            find = entry
        else:
            states.append(entry)
    return find, states


def _failure_blocks(stack: Stack, ts: Sequence[stackinfo.Target], record: kb_ops.Record,
                    applied: Sequence[a.Applied]) -> list[Tab]:
    steps = record.steps
    if not any(s.command for s in steps):
        return []
    per_resource = a.step_uses_resource(steps)

    def build(t: stackinfo.Target, block: a.Block) -> None:
        if not per_resource:
            a.steps_block(steps, a.Scope(stack, t, applied[0].resource), block)
            return
        for item in applied:
            if len(applied) > 1:
                block.comment(f"--- {item.resource.logical_id} ---")
            a.steps_block(steps, a.Scope(stack, t, item.resource), block)

    return per_target(stack, ts, build)


def _record_entry(stack: Stack, ts: Sequence[stackinfo.Target], record: kb_ops.Record,
                  advice: a.TypeAdvice) -> dict[str, Any]:
    applied = advice.applied[record.id]  # the type's resources it applies to
    return {
        "id": record.id, "title": record.title, "text": record.text,
        "symptom": record.symptom, "cause": record.cause,
        "error_codes": list(record.error_codes), "stack_states": list(record.stack_states),
        "steps": step_texts(record.steps),
        "blocks": _failure_blocks(stack, ts, record, applied) if applied else [],
        "resources": [x.resource.logical_id for x in applied],
        "certain": any(x.certain for x in applied),
        "condition": "" if record.when.op == "always" else record.when.describe(),
        "sources": sources(record),
    }


def provisioning(kb: kb_ops.OpsKnowledge, stack: Stack) -> dict[str, Any]:
    durations = a.provisioning(kb, stack.template)
    path = a.critical_path(stack.template, durations)
    rows = [{"logical_id": d.resource.logical_id, "type": d.resource.type,
             "minutes": _range(d.minutes), "certain": d.certain,
             "text": d.records[0].text if d.records else "",
             "sources": [s for r in d.records for s in sources(r)]}
            for d in durations if d.minutes is not None]
    unknown_types = sorted({d.resource.type for d in durations if d.minutes is None})
    return {
        "rows": rows,
        "unknown_types": unknown_types,
        "path": list(path.path),
        "total": _range((path.low, path.high)) if path.path else "",
        "sum": _range((sum(d.minutes[0] for d in durations if d.minutes),
                       sum(d.minutes[1] for d in durations if d.minutes))),
        "unknown_on_path": list(path.unknown_on_path),
        "unknown_count": path.unknown_total,
        "known_count": path.known_total,
    }


def _range(minutes: tuple[float, float] | None) -> str:
    if minutes is None:
        return ""
    lo, hi = (int(m) if float(m).is_integer() else m for m in minutes)
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def context(ctx: PageContext) -> Mapping[str, Any]:
    stack = ctx.stack
    assert stack is not None
    kb = knowledge(ctx)
    ts = targets(ctx)
    find, states = stack_states(ctx, kb, ts)
    types = []
    for advice in a.advice_by_type(kb, stack.template):
        failures = [_record_entry(stack, ts, x.record, advice) for x in advice.failures]
        pitfalls = [_record_entry(stack, ts, x.record, advice) for x in advice.pitfalls]
        types.append({"type": advice.type,
                      "resources": [r.logical_id for r in advice.resources],
                      "failures": failures, "pitfalls": pitfalls})
    return {
        "targets": target_rows(ts),
        "find": find,
        "states": states,
        "provisioning": provisioning(kb, stack),
        "types": types,
        "failure_types": [t for t in types if t["failures"]],
        "no_failure_types": [t["type"] for t in types if not t["failures"]],
        "pitfall_types": [t for t in types if t["pitfalls"]],
    }
