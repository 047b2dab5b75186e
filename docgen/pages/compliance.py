"""Handbook page ``compliance``: framework controls x stacks, linked to the findings.

Built from the same per-stack analyses as the stack ``security`` pages (shared through
``ctx.cached``) by :func:`docgen.analyse.compliance.build_matrix`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Sequence as SequenceABC
from functools import cache, lru_cache
from typing import Any

from docgen.analyse.compliance import (
    DEPENDS_ON,
    NOT_APPLICABLE,
    NOT_MET,
    ControlCell,
    Evidence,
    applicable,
    build_matrix,
)
from docgen.escape import md
from docgen.model import Stack
from docgen.pages import PageContext
from docgen.pages.security import knowledge, report, short_name

#: Links shown per cell before "and N more".
MAX_LINKS = 3


def _verdict(status: str, links: list[dict[str, Any]], more: int) -> str:
    """A cell's Markdown, formatted here rather than by a template macro: the matrix has
    stacks x controls cells (tens of thousands on a big corpus), and a Jinja macro call
    per cell cost more than the rest of the page."""
    if status == NOT_MET:
        out = "**not met**"
    elif status == DEPENDS_ON:
        out = "*depends*"
    else:
        out = md(status)
    out += "".join(f"<br>[{md(link['text'])}]({link['href']})" for link in links)
    return out + f"<br>and {more} more" if more else out


@cache
def _plain_cell(status: str) -> dict[str, Any]:
    """The cell of a control without findings to link: one shared dict per status (most
    cells of a big matrix are these; templates only read them)."""
    return {"status": status, "links": [], "more": 0, "verdict": _verdict(status, [], 0)}


def _cell(stack_id: str, cell: ControlCell) -> dict[str, Any]:
    if not cell.findings:
        return _plain_cell(cell.status)
    links = [  # only those shown: a cell can hold hundreds of findings
        {
            "text": f"{f.rule_id} {f.resource}",
            "href": f"{stack_id}/security.md#{f.anchor}",
            "status": f.status,
        }
        for f in cell.findings[:MAX_LINKS]
    ]
    more = max(0, len(cell.findings) - MAX_LINKS)
    return {
        "status": cell.status,
        "links": links,
        "more": more,
        "verdict": _verdict(cell.status, links, more),
    }


def _cells_md(stacks: Sequence[str], cells: Sequence[ControlCell]) -> str:
    """A row's cells as Markdown table text (`` v1 | v2 |``): one string per row, built
    from the few cells that are not "not applicable" (the matrix has stacks x controls
    cells, ~45k on a big corpus: a Jinja loop over them cost more than the page)."""
    texts = [_plain_cell(NOT_APPLICABLE)["verdict"]] * len(cells)
    for j in applicable(cells):
        texts[j] = _verdict_of(stacks[j], cells[j])
    return " " + " | ".join(texts) + " |" if texts else ""


@lru_cache(maxsize=65536)
def _verdict_of(stack_id: str, cell: ControlCell) -> str:
    """Several frameworks' controls map to the same checks, so the same cell (one
    object, see ``build_matrix``) recurs in several rows: its text is made once."""
    return str(_cell(stack_id, cell)["verdict"])


class _Cells(SequenceABC[dict[str, Any]]):
    """A row's cells as dicts (status, links, more, verdict), made when read: the page
    template prints ``cells_md``; this is for page templates of users that loop."""

    def __init__(self, stacks: Sequence[str], cells: Sequence[ControlCell]) -> None:
        self._stacks, self._cells = stacks, cells

    def __len__(self) -> int:
        return len(self._cells)

    def __getitem__(self, j: Any) -> Any:
        if isinstance(j, slice):
            return [self[k] for k in range(*j.indices(len(self)))]
        return _cell(self._stacks[j], self._cells[j])


def _evidence(ctx: PageContext, stack: Stack) -> tuple[Evidence, ...]:
    return ctx.stack_fact(stack, "compliance-evidence",  # type: ignore[no-any-return]
                          lambda: tuple(Evidence.of(f) for f in
                                        report(ctx.for_stack(stack), stack).findings))


def stack_facts(ctx: PageContext) -> None:
    """What this page needs of ``ctx.stack`` (computed where the stack is rendered)."""
    assert ctx.stack is not None
    _evidence(ctx, ctx.stack)


def context(ctx: PageContext) -> Mapping[str, Any] | None:
    handbook = ctx.handbook
    if not handbook.stacks:
        return None
    kb = knowledge(ctx)
    per_stack = [(s.id, _evidence(ctx, s)) for s in handbook.stacks]
    matrix = build_matrix(kb, per_stack)
    sections = []
    for fw in matrix.frameworks:
        rows = matrix.rows_for(fw.id)
        if not rows:
            continue
        sections.append(
            {
                "name": short_name(kb, fw.id),
                "full_name": fw.name,
                "version": fw.version,
                "url": fw.url,
                "summary": [
                    {"stack": sid, **counts}
                    for sid, counts in zip(matrix.stacks, matrix.summary(fw.id), strict=True)
                ],
                "rows": [
                    {
                        "control": r.control,
                        "cells": _Cells(matrix.stacks, r.cells),
                        "cells_md": _cells_md(matrix.stacks, r.cells),
                        "checks": [c.id for c in r.checks],
                        "analogy": all(b == "analogy" for _s, _r, b in r.sources),
                    }
                    for r in rows
                ],
            }
        )
    return {
        "stacks": [{"id": s.id, "name": s.name} for s in handbook.stacks],
        "sections": sections,
        "sources": [{"title": s.title, "url": s.url} for s in kb.sources.values()],
    }
