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
    PageSpec("troubleshooting", "Troubleshooting", "stack/troubleshooting.md.j2",
             "docgen.pages.troubleshooting:context"),
    PageSpec("backup", "Backup and restore", "stack/backup.md.j2",
             "docgen.pages.backup:context"),
    PageSpec("monitoring", "Monitoring", "stack/monitoring.md.j2",
             "docgen.pages.monitoring:context"),
    # security comes after monitoring (DESIGN.md navigation order)
    PageSpec("security", "Security", "stack/security.md.j2", "docgen.pages.security:context"),
    # cost stays the last stack page (DESIGN.md navigation order)
    PageSpec("cost", "Cost", "stack/cost.md.j2", "docgen.pages.cost:context"),
)

#: Handbook-wide pages, under ``runbooks/``; a context returning None skips the page.
HANDBOOK_PAGES: tuple[PageSpec, ...] = (
    PageSpec("index", "Handbook", "handbook/index.md.j2", "docgen.pages.home:context",
             facts="docgen.pages.home:stack_facts"),
    PageSpec("deployment-order", "Deployment order", "handbook/deployment-order.md.j2",
             "docgen.pages.deployment_order:context",
             facts="docgen.pages.deployment_order:stack_facts"),
    PageSpec("disaster-recovery", "Disaster recovery", "handbook/disaster-recovery.md.j2",
             "docgen.pages.disaster_recovery:context",
             facts="docgen.pages.disaster_recovery:stack_facts"),
    # compliance comes after disaster-recovery (DESIGN.md navigation order)
    PageSpec("compliance", "Compliance", "handbook/compliance.md.j2",
             "docgen.pages.compliance:context", facts="docgen.pages.compliance:stack_facts"),
    PageSpec("cost", "Cost estimate", "handbook/cost.md.j2", "docgen.pages.cost_summary:context",
             facts="docgen.pages.cost:stack_facts"),
)

#: The context helpers that load a knowledge base into the run's memo (each page that
#: needs one calls its helper). Loaded before stacks are rendered in forked workers,
#: so that every worker inherits them instead of loading them again.
KNOWLEDGE: tuple[str, ...] = (
    "docgen.pages.troubleshooting:knowledge",
    "docgen.pages.security:knowledge",
    "docgen.pages.cost:price_table",
    "docgen.pages.disaster_recovery:knowledge",
)
