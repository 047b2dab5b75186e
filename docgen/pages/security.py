"""Stack page ``security``: findings, encryption, network exposure and IAM of one stack.

The analysis is :mod:`docgen.analyse.posture` (computed once per run and shared with the
handbook-wide ``compliance`` page through ``ctx.cached``); this module turns it into rows
of plain values for the template. Every string still goes through an escape filter in
the template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from docgen.analyse.posture import Cell, EncryptionRow, SecurityReport, analyse
from docgen.analyse.security import NA, Finding
from docgen.escape import cell, md
from docgen.intrinsics import render
from docgen.knowledge.security import SecurityKB, load
from docgen.model import Resource, Stack
from docgen.pages import PageContext
from docgen.pages.common import where
from docgen.stackinfo import follow_reference


def short_name(kb: SecurityKB, framework_id: str) -> str:
    """How pages name a framework in running text (``short_name`` in frameworks.yml)."""
    fw = kb.framework(framework_id)
    if fw is None:
        return framework_id
    return fw.short_name or fw.name


def knowledge(ctx: PageContext) -> SecurityKB:
    return ctx.cached(("security", "kb"), lambda: load(ctx.handbook.project.knowledge_dir))


def report(ctx: PageContext, stack: Stack) -> SecurityReport:
    """The stack's security analysis, computed once per run."""
    return ctx.cached(("security", stack.id), lambda: analyse(stack.template, knowledge(ctx)))


def controls_text(finding: Finding, kb: SecurityKB) -> list[str]:
    out = []
    for m in finding.check.controls:
        name = short_name(kb, m.framework)
        src = kb.sources.get(m.source)
        basis = " (by analogy)" if m.basis == "analogy" else ""
        out.append(f"{name} {', '.join(m.ids)}{basis} — {src.title if src else m.source}")
    return out


def status_text(status: str) -> str:
    """A status as the page prints it: fail in bold, depends in italics. Formatted here
    (it was a template macro): the page prints thousands on a big corpus."""
    if status == "fail":
        return "**fail**"
    if status == "depends":
        return "*depends*"
    return md(status)


def verdict_text(c: Cell) -> str:
    """An encryption verdict as the page prints it: a link to its finding when listed."""
    return f"[{md(c.text)}](#{c.anchor})" if c.anchor else cell(c.text)


def _finding_row(ctx: PageContext, f: Finding, kb: SecurityKB) -> dict[str, Any]:
    default = None
    if f.default is not None:
        default = {
            "value": render(f.default.value),
            "source": f.default.source,
            "note": f.default.note,
        }
    return {
        "anchor": f.anchor,
        "title": f.check.title,
        "id": f.check.id,
        "severity": f.check.severity,
        "status": f.status,
        "status_text": status_text(f.status),
        "resource": f.resource,
        "type": f.resource_type,
        "where": where(ctx.handbook, f.location),
        "message": f.message,
        "rationale": f.check.rationale,
        "remediation": f.check.remediation.rstrip("\n"),
        "source": f.check.source,
        "depends_on": list(f.depends_on),
        "branches": [{"label": b.label, "status": b.status, "status_text": status_text(b.status)}
                     for b in f.branches],
        "default": default,
        "controls": controls_text(f, kb),
        "condition": f.resource_condition,
        "suppression": f.suppression,
        "suppressed_status": f.suppressed_status,
    }


def _replica_source(ctx: PageContext, stack: Stack, res: Resource) -> tuple[Stack, Resource] | None:
    """Where a read replica's data comes from: a resource of this template, or of another
    handbook stack through docgen.yml's parameter wiring (parameter <- output)."""
    node = res.properties.get("SourceDBInstanceIdentifier")
    if node is None:
        return None
    return follow_reference(ctx.handbook, stack, node, res.type)


def encryption_rows(
    ctx: PageContext, stack: Stack, rows: Sequence[EncryptionRow]
) -> list[EncryptionRow]:
    """The report's rows, with a read replica's inherited verdicts filled in from its
    source (possibly in another stack) instead of a bare "not applicable"."""
    out = []
    for row in rows:
        res = stack.template.resource(row.resource)
        src = _replica_source(ctx, stack, res) if res is not None else None
        if src is None or NA not in (row.at_rest.status, row.in_transit.status):
            out.append(row)
            continue
        other, source = src
        where_from = source.logical_id if other is stack else f"{other.id} / {source.logical_id}"
        src_row = next(
            (r for r in report(ctx, other).encryption if r.resource == source.logical_id), None
        )
        if src_row is None:
            out.append(row)
            continue
        at_rest, transit = row.at_rest, row.in_transit
        if at_rest.status == NA:
            at_rest = Cell(
                f"{src_row.at_rest.text}, inherited from {where_from}", src_row.at_rest.status
            )
        own_group = res is not None and "DBParameterGroupName" in res.properties
        if (
            transit.status == NA
            and not own_group
            and src_row.in_transit.text.endswith("(service default)")
        ):
            transit = Cell(
                f"{src_row.in_transit.text}, same engine as {where_from}", src_row.in_transit.status
            )
        out.append(
            EncryptionRow(
                row.resource, row.label, row.resource_type, row.location, at_rest, transit, row.key
            )
        )
    return out


def uncovered_types(stack: Stack, kb: SecurityKB) -> list[str]:
    """Resource types present that no security check looks at (said plainly)."""
    covered = {t for c in kb.checks for t in c.resource_types}
    return sorted({r.type for r in stack.template.resources} - covered)


def _passed(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    by_check: dict[str, dict[str, Any]] = {}
    for f in findings:
        if f.status == "pass":
            row = by_check.setdefault(
                f.check.id, {"title": f.check.title, "id": f.check.id, "resources": []}
            )
            row["resources"].append(f.resource)
    return list(by_check.values())


def context(ctx: PageContext) -> Mapping[str, Any] | None:
    stack = ctx.stack
    assert stack is not None
    kb = knowledge(ctx)
    rep = report(ctx, stack)
    counts = rep.counts()
    return {
        "summary": [{"severity": sev, **c} for sev, c in counts.items()],
        "total_problems": len(rep.problems),
        "encryption": [
            {
                "resource": r.resource,
                "label": r.label,
                "where": where(ctx.handbook, r.location),
                "at_rest": r.at_rest,
                "in_transit": r.in_transit,
                "at_rest_text": verdict_text(r.at_rest),
                "in_transit_text": verdict_text(r.in_transit),
                "key": r.key,
            }
            for r in encryption_rows(ctx, stack, rep.encryption)
        ],
        "exposure": [
            {
                "kind": e.kind,
                "resource": e.resource,
                "detail": e.detail,
                "status": e.status,
                "status_text": status_text(e.status),
                "anchor": e.anchor,
                "where": where(ctx.handbook, e.location),
            }
            for e in rep.exposure
        ],
        "identities": [
            {
                "name": i.name,
                "kind": i.kind,
                "where": where(ctx.handbook, i.location),
                "assumed_by": list(i.assumed_by),
                "managed": list(i.managed_policies),
                "inline": [{"name": n, "actions": list(a)} for n, a in i.inline_policies],
                "attached": list(i.attached_policies),
                "wildcard_actions": list(i.wildcard_actions),
                "wildcard_resources": i.wildcard_resources,
                "admin": i.admin,
            }
            for i in rep.identities
        ],
        "findings": [_finding_row(ctx, f, kb) for f in rep.problems],
        "suppressed": [_finding_row(ctx, f, kb) for f in rep.suppressed],
        "passed": _passed(rep.findings),
        "uncovered": uncovered_types(stack, kb),
        "frameworks": [short_name(kb, f.id) for f in kb.frameworks],
    }


def card_summary(ctx: PageContext) -> dict[str, int] | None:
    """The overview card's findings fact: failing findings per severity, worst first
    (an empty mapping reads "none")."""
    if ctx.stack is None:
        return None
    counts = report(ctx, ctx.stack).counts()
    return {sev: c["fail"] for sev, c in counts.items() if c.get("fail")}
