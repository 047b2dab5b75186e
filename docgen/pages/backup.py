"""Backup & restore page: per data-bearing resource what the template configures, what
is missing, the manual snapshot to take before risky changes, and restore procedures
with the real identifiers of each environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from docgen import stackinfo
from docgen.analyse import ops as a
from docgen.knowledge import ops as kb_ops
from docgen.model import Stack
from docgen.pages import PageContext
from docgen.pages.common import Tab
from docgen.pages.troubleshooting import knowledge, per_target, sources, target_rows, targets


def _blocks(stack: Stack, ts: Sequence[stackinfo.Target], finding: a.BackupFinding,
            steps: Sequence[kb_ops.Step]) -> list[Tab]:
    if not any(s.command for s in steps):
        return []
    variables = a.record_variables(finding.record)

    def build(t: stackinfo.Target, block: a.Block) -> None:
        a.steps_block(steps, a.Scope(stack, t, finding.resource, variables), block)

    return per_target(stack, ts, build)


def _setting_row(sv: a.SettingValue) -> dict[str, Any]:
    default = sv.setting.default
    shown = "" if default is None else ("true" if default is True else "false"
                                        if default is False else str(default))
    return {"label": sv.setting.label, "name": sv.setting.path,
            "kind": sv.setting.source_kind, "value": sv.value, "is_set": sv.is_set,
            "default": shown, "text": sv.setting.text}


def finding_entry(stack: Stack, ts: Sequence[stackinfo.Target],
                  finding: a.BackupFinding) -> dict[str, Any]:
    record = finding.record
    return {
        "logical_id": finding.resource.logical_id,
        "type": finding.resource.type,
        "data": record.data,
        "settings": [_setting_row(sv) for sv in finding.settings],
        "gaps": [{"text": text, "certain": certain} for text, certain in finding.gaps],
        "snapshot_steps": [s.text for s in record.snapshot],
        "snapshot": _blocks(stack, ts, finding, record.snapshot),
        "variables": [{"name": v.name, "text": v.text, "example": v.example}
                      for v in record.variables],
        "restores": [{"title": p.title, "text": p.text, "steps": [s.text for s in p.steps],
                      "blocks": _blocks(stack, ts, finding, p.steps)}
                     for p in record.restore],
        "sources": sources(record),
    }


def context(ctx: PageContext) -> Mapping[str, Any]:
    stack = ctx.stack
    assert stack is not None
    kb = knowledge(ctx)
    ts = targets(ctx)
    findings = a.backups(kb, stack.template)
    return {
        "targets": target_rows(ts),
        "resources": [finding_entry(stack, ts, f) for f in findings],
        "gap_count": sum(len(f.gaps) for f in findings),
    }
