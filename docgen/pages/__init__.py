"""Pages: what is generated, in which order, and from which context.

A page is a Jinja template plus a *context function*: a pure function that takes a
:class:`PageContext` and returns the mapping the template renders. Decisions are
made in context functions; templates only loop and format. The registry
(:mod:`docgen.pages.registry`) is the one explicit list of pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from docgen.model import Handbook, Stack


@dataclass(eq=False)
class PageContext:
    """What a context function can see: the handbook, the stack (for stack pages)
    and a per-run memo so that an analysis used by several pages runs once."""

    handbook: Handbook
    stack: Stack | None = None
    memo: dict[Any, Any] = field(default_factory=dict)

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def for_stack(self, stack: Stack) -> PageContext:
        return PageContext(self.handbook, stack, self.memo)


#: A context function returns the template variables, or None to skip the page.
ContextFn = Callable[[PageContext], Mapping[str, Any] | None]


@dataclass(frozen=True, slots=True)
class PageSpec:
    """One page: ``slug`` is the file stem (``runbooks/<stack>/<slug>.md`` for stack
    pages, ``runbooks/<slug>.md`` for handbook pages)."""

    slug: str
    title: str
    template: str
    context: str  # "module:function", imported on first use (keeps CLI start-up cheap)
