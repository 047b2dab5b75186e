"""Handbook page ``compliance``: framework controls x stacks, linked to the findings.

Built from the same per-stack analyses as the stack ``security`` pages (shared through
``ctx.cached``) by :func:`docgen.analyse.compliance.build_matrix`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docgen.analyse.compliance import ControlCell, build_matrix
from docgen.pages import PageContext
from docgen.pages.security import knowledge, report, short_name

#: Links shown per cell before "and N more".
MAX_LINKS = 3


def _cell(stack_id: str, cell: ControlCell) -> dict[str, Any]:
    links = [
        {
            "text": f"{f.check.id} {f.resource}",
            "href": f"{stack_id}/security.md#{f.anchor}",
            "status": f.status,
        }
        for f in cell.findings
    ]
    return {
        "status": cell.status,
        "links": links[:MAX_LINKS],
        "more": max(0, len(links) - MAX_LINKS),
    }


def context(ctx: PageContext) -> Mapping[str, Any] | None:
    handbook = ctx.handbook
    if not handbook.stacks:
        return None
    kb = knowledge(ctx)
    per_stack = [(s.id, report(ctx.for_stack(s), s).findings) for s in handbook.stacks]
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
                        "cells": [
                            _cell(sid, c) for sid, c in zip(matrix.stacks, r.cells, strict=True)
                        ],
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
