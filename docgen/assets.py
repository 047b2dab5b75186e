"""Site assets docgen adds to the MkDocs configuration (styles, scripts)."""

from __future__ import annotations

from typing import Any

from docgen.model import ProjectConfig


def add_site_assets(config: Any, project: ProjectConfig) -> None:
    """Hook for site-wide assets; extended by the site-experience work."""
    return None
