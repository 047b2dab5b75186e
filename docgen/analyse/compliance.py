"""Compliance matrix: framework controls x stacks, from the security findings.

A control is supported by the checks whose knowledge records map to it. In one stack it
is *not met* when one of those checks fails, *depends* when one depends on a parameter
or condition (and none fails), *met* when the checks that apply pass (a suppressed
finding counts as met with an accepted exception, and is listed), and *not applicable*
when no check applies to any resource of the stack. The matrix says what the templates
show, nothing more: it is evidence for an assessment, not a certification.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from docgen.analyse.security import DEPENDS, FAIL, PASS, SUPPRESSED, Finding
from docgen.knowledge.security import Check, Framework, SecurityKB

MET, NOT_MET, DEPENDS_ON, NOT_APPLICABLE = "met", "not met", "depends", "not applicable"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the matrix needs of a :class:`Finding`: small, so that it is cheap to keep
    between runs (``PageContext.stack_fact``) and to read back."""

    rule_id: str
    resource: str
    status: str
    anchor: str

    @classmethod
    def of(cls, finding: Finding) -> Evidence:
        return cls(finding.rule_id, finding.resource, finding.status, finding.anchor)


@dataclass(frozen=True, slots=True)
class ControlCell:
    status: str
    findings: tuple[Evidence, ...]  # the failing / depending / suppressed ones, for links

    @property
    def exceptions(self) -> tuple[Evidence, ...]:
        return tuple(f for f in self.findings if f.status == SUPPRESSED)


@dataclass(frozen=True, slots=True)
class ControlRow:
    framework: Framework
    control: str
    checks: tuple[Check, ...]
    sources: tuple[tuple[str, str, str], ...]  # (source id, rule/check ref, basis)
    cells: tuple[ControlCell, ...]  # one per stack, in stack order


@dataclass(frozen=True, slots=True)
class ComplianceMatrix:
    frameworks: tuple[Framework, ...]
    stacks: tuple[str, ...]
    rows: tuple[ControlRow, ...]

    def rows_for(self, framework_id: str) -> tuple[ControlRow, ...]:
        return tuple(r for r in self.rows if r.framework.id == framework_id)

    def summary(self, framework_id: str) -> list[dict[str, int]]:
        """Per stack: how many controls of the framework are met / not met / ..."""
        rows = self.rows_for(framework_id)
        out = [{MET: 0, NOT_MET: 0, DEPENDS_ON: 0, NOT_APPLICABLE: len(rows)}
               for _ in self.stacks]
        for row in rows:
            # most cells are the shared "not applicable" one, already counted
            for j in applicable(row.cells):
                counts = out[j]
                counts[NOT_APPLICABLE] -= 1
                counts[row.cells[j].status] += 1
        return out


def applicable(cells: Sequence[ControlCell]) -> list[int]:
    """Indices of the cells that are not the shared "not applicable" one (found in C:
    a big matrix has tens of thousands of cells, nearly all of them that one)."""
    from itertools import compress, repeat
    from operator import is_not

    return list(compress(range(len(cells)), map(is_not, cells, repeat(_NOT_APPLICABLE_CELL))))


def _natural(text: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


_NOT_APPLICABLE_CELL = ControlCell(NOT_APPLICABLE, ())


def cell_status(findings: Sequence[Evidence]) -> ControlCell:
    """Fold the findings of a control's checks in one stack into one verdict."""
    if not findings:  # most cells of a big matrix: no check of the control applies
        return _NOT_APPLICABLE_CELL
    statuses = {f.status for f in findings}
    shown = tuple(f for f in findings if f.status in (FAIL, DEPENDS, SUPPRESSED))
    if FAIL in statuses:
        return ControlCell(NOT_MET, shown)
    if DEPENDS in statuses:
        return ControlCell(DEPENDS_ON, shown)
    if statuses & {PASS, SUPPRESSED}:
        return ControlCell(MET, shown)
    return ControlCell(NOT_APPLICABLE, ())


def build_matrix(
    kb: SecurityKB, stacks: Sequence[tuple[str, Sequence[Evidence]]]
) -> ComplianceMatrix:
    """``stacks``: (stack id, evidence of its findings) in handbook order."""
    controls: dict[tuple[str, str], tuple[list[Check], list[tuple[str, str, str]]]] = {}
    for check in kb.checks:
        for mapping in check.controls:
            for cid in mapping.ids:
                checks, sources = controls.setdefault((mapping.framework, cid), ([], []))
                if check not in checks:
                    checks.append(check)
                src = (mapping.source, mapping.ref, mapping.basis)
                if src not in sources:
                    sources.append(src)
    by_stack: list[Mapping[str, list[Evidence]]] = []
    holders: dict[str, list[int]] = {}  # rule id -> the stacks with findings of it
    for j, (_sid, findings) in enumerate(stacks):
        index: dict[str, list[Evidence]] = {}
        for f in findings:
            index.setdefault(f.rule_id, []).append(f)
        by_stack.append(index)
        for rule_id in index:
            holders.setdefault(rule_id, []).append(j)
    fw_order = {f.id: i for i, f in enumerate(kb.frameworks)}
    folded: dict[tuple[int, tuple[str, ...]], ControlCell] = {}
    rows = []
    for (fw_id, cid), (checks, sources) in sorted(
        controls.items(), key=lambda kv: (fw_order.get(kv[0][0], 99), _natural(kv[0][1]))
    ):
        framework = kb.framework(fw_id)
        if framework is None:
            continue
        ids = [c.id for c in checks]
        # Most (control, stack) pairs have no finding at all (stacks x controls is ~45k
        # on a big corpus): a row starts "not applicable" everywhere and only the
        # stacks with findings of its checks are folded.
        cells = [_NOT_APPLICABLE_CELL] * len(by_stack)
        key = tuple(ids)
        for j in sorted({j for i in ids for j in holders.get(i, ())}):
            # controls of several frameworks map to the same checks: same cell
            cell = folded.get((j, key))
            if cell is None:
                index = by_stack[j]
                cell = folded[j, key] = cell_status([f for i in ids for f in index.get(i, [])])
            cells[j] = cell
        rows.append(ControlRow(framework, cid, tuple(checks), tuple(sources), tuple(cells)))
    return ComplianceMatrix(kb.frameworks, tuple(s for s, _ in stacks), tuple(rows))
