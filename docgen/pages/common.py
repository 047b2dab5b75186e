"""Small helpers shared by page context functions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from docgen import commands as c
from docgen.model import Handbook, Location, Stack


@dataclass(frozen=True, slots=True)
class Tab:
    """One environment's version of a command block (``label`` None: no tabs)."""

    label: str | None
    script: str


def tabs(items: Sequence[tuple[str | None, Any]]) -> list[Tab]:
    """Per-environment command blocks; a single unnamed one renders without tabs."""
    out = []
    for label, value in items:
        if isinstance(value, (list, tuple)):
            text = "\n".join(render_step(v) for v in value)
        else:
            text = render_step(value)
        out.append(Tab(label, text))
    return out


def render_step(value: Any) -> str:
    """A command (or a line already rendered) as the text of a command block."""
    if isinstance(value, (c.AwsCommand, c.Assign, c.Script)):
        return value.render()
    if isinstance(value, c.Raw):
        return value.line
    return str(value)


def rel_source(handbook: Handbook, path: str) -> str:
    """A template path as the team sees it: relative to the project root. (The working
    folder matters only for a relative path: ``os.getcwd`` is a system call, and this
    is asked for every resource row of every page.)"""
    return _rel_source(path, handbook.project.root, "" if os.path.isabs(path) else os.getcwd())


@lru_cache(maxsize=4096)
def _rel_source(path: str, root: str, cwd: str) -> str:
    """Memoised: asked for every resource row of every page (the same few files), and
    ``relpath`` is slow. ``cwd`` is part of the key because ``abspath`` depends on it."""
    try:
        rel = os.path.relpath(os.path.abspath(path), root)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def where(handbook: Handbook, loc: Location) -> str:
    return f"{rel_source(handbook, loc.file)}:{loc.line}"


def regions(stack: Stack) -> str:
    return stack.config.region or "(region not set: uses the AWS CLI default)"
