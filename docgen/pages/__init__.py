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

#: First item of the memo keys of :meth:`PageContext.stack_fact` results.
FACT = "stack-fact"
#: Third item of the memo keys of :meth:`PageContext.surface_fact` results.
SURFACE = "<surface>"


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

    def stack_fact(self, stack: Stack, name: str, compute: Callable[[], Any]) -> Any:
        """A per-stack analysis result that handbook-wide code reads, kept by the
        content-hash cache under the stack's key (``docgen.cache``) so that a run
        where one template changed does not parse every other template again.

        ``compute`` may read this stack's template and config, the templates of the
        stacks it is wired to in ``docgen.yml``, and other stacks' configs -- what the
        stack's cache key covers -- never another stack's resources. The value must
        be picklable and should not hold the template itself.
        """
        return self.cached((FACT, name, stack.id), compute)

    def surface_fact(self, name: str, compute: Callable[[], Any]) -> Any:
        """A handbook-wide result that reads only the stacks' configs and *surfaces*
        (Parameters, Outputs, Mappings, Conditions, imports, nested stacks: see
        ``docgen.cache``), kept by the cache until one of those changes -- editing a
        resource leaves it valid, so it needs no template parsed."""
        return self.cached((FACT, name, SURFACE), compute)

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
    #: Handbook pages: "module:function" taking a stack's PageContext and computing the
    #: stack facts this page reads of it, so that they are computed (in parallel) by
    #: whichever process renders that stack's pages, before the handbook pages.
    facts: str = ""
