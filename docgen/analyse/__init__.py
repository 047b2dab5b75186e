"""Analyses over the model: pure functions from templates (and knowledge) to facts
that pages render. Nothing here formats text for a page."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docgen.model import Stack

#: ``fact(stack, name, compute)``: how an analysis over several stacks obtains a
#: per-stack result. Pages pass ``PageContext.stack_fact`` (kept between runs by the
#: cache, so unchanged stacks are not parsed again); the default just computes it.
Fact = Callable[["Stack", str, Callable[[], Any]], Any]


def compute_fact(_stack: Stack, _name: str, compute: Callable[[], Any]) -> Any:
    return compute()
