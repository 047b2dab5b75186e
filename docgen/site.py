"""Build or serve the MkDocs site of the handbook.

With an ``mkdocs.yml`` in the project it is used as is (the ``docgen`` plugin is
added when missing, so generation and navigation follow one code path); without one
an embedded Material configuration and a home page of docgen's own are used.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from docgen.model import ProjectConfig

DEFAULT_EXTENSIONS: list[Any] = [
    "admonition", "attr_list", "md_in_html", "tables", "toc",
    {"pymdownx.details": {}},
    {"pymdownx.highlight": {"anchor_linenums": False}},
    {"pymdownx.superfences": {"custom_fences": [{
        "name": "mermaid", "class": "mermaid",
        "format": "!!python/name:pymdownx.superfences.fence_code_format"}]}},
    {"pymdownx.tabbed": {"alternate_style": True}},
]


def default_config(project: ProjectConfig) -> dict[str, Any]:
    """The embedded configuration for a folder of bare templates."""
    return {
        "site_name": project.title,
        # Instant navigation needs a sitemap, i.e. a site_url (its path and port matter).
        "site_url": os.environ.get("DOCGEN_SITE_URL", "http://localhost/"),
        "docs_dir": project.docs_dir,
        # font: false keeps the site offline-capable (no Google Fonts request).
        "theme": {"name": "material", "font": False, "features": [
            "navigation.instant", "navigation.tracking", "navigation.sections",
            "navigation.indexes", "navigation.top", "navigation.path", "navigation.prune",
            "content.code.copy",
            "content.tabs.link", "search.highlight", "search.suggest"],
            "palette": [
                {"scheme": "default", "toggle": {"icon": "material/brightness-7",
                                                 "name": "Switch to dark mode"}},
                {"scheme": "slate", "toggle": {"icon": "material/brightness-4",
                                               "name": "Switch to light mode"}}]},
        "plugins": ["search", "docgen"],
        "markdown_extensions": DEFAULT_EXTENSIONS,
    }


def default_config_text(project: ProjectConfig, overrides: dict[str, Any] | None = None) -> str:
    data = default_config(project)
    data.update(overrides or {})
    text = yaml.safe_dump(data, sort_keys=True)
    # safe_dump quotes the Python tag MkDocs needs for the Mermaid fence formatter.
    return text.replace("'!!python/name:pymdownx.superfences.fence_code_format'",
                        "!!python/name:pymdownx.superfences.fence_code_format")


def _load_mkdocs_config(path: str, overrides: dict[str, Any]) -> Any:
    from mkdocs.config import load_config

    return load_config(config_file=path, **overrides)


def _ensure_home(project: ProjectConfig) -> None:
    home = os.path.join(project.docs_dir, "index.md")
    if not os.path.exists(home):
        os.makedirs(project.docs_dir, exist_ok=True)
        with open(home, "w", encoding="utf-8") as fh:
            fh.write(f"# {project.title}\n\nThe [runbooks](runbooks/index.md) are generated "
                     "by docgen from the CloudFormation templates.\n")


def mkdocs_config(project: ProjectConfig, site_dir: str | None, strict: bool = False) -> Any:
    """An MkDocs config object: the project's ``mkdocs.yml`` or the embedded default."""
    from docgen.plugin import DocgenPlugin

    overrides: dict[str, Any] = {}
    if site_dir:
        overrides["site_dir"] = os.path.abspath(site_dir)
    if strict:
        overrides["strict"] = True
    path = os.path.join(project.root, "mkdocs.yml")
    if os.path.isfile(path):
        cfg = _load_mkdocs_config(path, overrides)
    else:
        _ensure_home(project)
        import tempfile

        # The embedded config lives in a temporary file; keep the site in the project.
        overrides.setdefault("site_dir", os.path.join(project.root, "site"))
        fd, tmp = tempfile.mkstemp(suffix=".yml", prefix="docgen-mkdocs-")
        with os.fdopen(fd, "w") as fh:
            fh.write(default_config_text(project, overrides))
        try:
            cfg = _load_mkdocs_config(tmp, {})
            cfg["config_file_path"] = os.path.join(project.root, "mkdocs.yml")
        finally:
            os.unlink(tmp)
    plugin = cfg["plugins"].get("docgen")
    if plugin is None:
        plugin = DocgenPlugin()
        plugin.load_config({})
        cfg["plugins"]["docgen"] = plugin
    assert isinstance(plugin, DocgenPlugin)
    plugin.project = project
    return cfg


def build_site(project: ProjectConfig, site_dir: str | None = None, strict: bool = False) -> str:
    from mkdocs.commands.build import build

    cfg = mkdocs_config(project, site_dir, strict)
    build(cfg)
    return str(cfg["site_dir"])


def _show_mkdocs_messages() -> None:
    """MkDocs' own command line installs a handler for its log; used as a library it has
    none, so ``docgen serve`` would never say where it serves, what changed or what
    went wrong. Same format as ``mkdocs serve``."""
    import logging

    logger = logging.getLogger("mkdocs")
    if not any(getattr(h, "docgen", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
        handler.docgen = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO)


def serve_site(project: ProjectConfig, dev_addr: str | None = None) -> None:
    from mkdocs.commands.serve import serve

    _show_mkdocs_messages()

    path = os.path.join(project.root, "mkdocs.yml")
    kwargs: dict[str, Any] = {}
    if dev_addr:
        kwargs["dev_addr"] = dev_addr
    if os.path.isfile(path):
        serve(config_file=path, livereload=True, **kwargs)
    else:
        _ensure_home(project)
        import tempfile

        fd, tmp = tempfile.mkstemp(suffix=".yml", prefix="docgen-mkdocs-", dir=project.root)
        with os.fdopen(fd, "w") as fh:
            fh.write(default_config_text(project))
        try:
            serve(config_file=tmp, livereload=True, **kwargs)
        finally:
            os.unlink(tmp)
