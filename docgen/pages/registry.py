"""The one explicit list of generated pages, in navigation order."""

from __future__ import annotations

from docgen.pages import PageSpec

#: Pages generated for every stack, under ``runbooks/<stack>/``.
STACK_PAGES: tuple[PageSpec, ...] = (
    PageSpec("index", "Overview", "stack/overview.md.j2", "docgen.pages.overview:context"),
    PageSpec("deploy", "Deploy", "stack/deploy.md.j2", "docgen.pages.deploy:context"),
    PageSpec("parameters", "Parameters", "stack/parameters.md.j2",
             "docgen.pages.parameters:context"),
    PageSpec("outputs", "Outputs", "stack/outputs.md.j2", "docgen.pages.outputs:context"),
    # cost stays the last stack page (DESIGN.md navigation order)
    PageSpec("cost", "Cost", "stack/cost.md.j2", "docgen.pages.cost:context"),
)

#: Handbook-wide pages, under ``runbooks/``; a context returning None skips the page.
HANDBOOK_PAGES: tuple[PageSpec, ...] = (
    PageSpec("index", "Handbook", "handbook/index.md.j2", "docgen.pages.home:context"),
    PageSpec("cost", "Cost estimate", "handbook/cost.md.j2", "docgen.pages.cost_summary:context"),
)
