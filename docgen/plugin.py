"""The ``docgen`` MkDocs plugin: ``plugins: [docgen]`` makes a plain ``mkdocs build``
or ``mkdocs serve`` generate the runbooks first, through the same function as the
CLI, and lays out their navigation in a fixed order."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from mkdocs.config import config_options
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin

from docgen.model import ProjectConfig


class DocgenPluginConfig(Config):
    config = config_options.Optional(config_options.Type(str))  # path to docgen.yml


class DocgenPlugin(BasePlugin[DocgenPluginConfig]):
    # ``project`` is set by ``docgen build`` (site.py) to force a configuration; when it is
    # None, docgen.yml is read again on every build, because MkDocs keeps plugin instances
    # across ``serve`` rebuilds and an edited docgen.yml must take effect.
    project: ProjectConfig | None = None
    last_project: ProjectConfig | None = None  # what the last build used (watched by serve)
    last_result: Any = None

    def _project(self, mkdocs_config: Any) -> ProjectConfig:
        from docgen.config import find_config, load_config
        from docgen.diagnostics import DocgenError
        from docgen.generate import default_project

        if self.project is not None:
            project = self.project
        else:
            root = os.path.dirname(os.path.abspath(mkdocs_config["config_file_path"] or "."))
            path = self.config.config or find_config(root)
            try:
                project = load_config(os.path.join(root, path)) if path else default_project(root)
            except DocgenError as exc:
                raise PluginError(exc.format()) from exc
        return dataclasses.replace(project, docs_dir=os.path.abspath(mkdocs_config["docs_dir"]))

    def on_config(self, config: Any) -> Any:
        from docgen.diagnostics import DocgenError
        from docgen.generate import generate

        project = self._project(config)
        try:
            result = generate(project)
        except DocgenError as exc:
            raise PluginError(exc.format()) from exc
        if result.errors:
            raise PluginError("docgen: invalid templates:\n" + "\n".join(
                str(d) for d in result.errors))
        self.last_result = result
        self.last_project = project
        config["nav"] = navigation(config["nav"], result, project.docs_dir)
        from docgen.assets import add_site_assets

        add_site_assets(config, project)
        return config

    def on_serve(self, server: Any, config: Any, builder: Any) -> Any:
        from docgen.render import templates_dir

        project = self.last_project or self.project
        watched = [templates_dir()]
        if project is not None:
            watched += [s.config.template_path for s in (self.last_result.handbook.stacks
                                                          if self.last_result else ())]
            watched += [p for p in (project.config_path, project.knowledge_dir,
                                    project.page_templates_dir, project.templates_dir,
                                    project.notes_dir) if p]
            watched += live_output_files(self.last_result)
        for path in dict.fromkeys(watched):
            if path and os.path.exists(path):
                server.watch(path)
        return server


def live_output_files(result: Any) -> list[str]:
    """The live outputs files docgen.yml names: pages show their values, so they are inputs.

    A file not written yet is watched through its folder (when that exists and is not
    the project root), so ``docgen outputs`` run while serving shows up on the pages.
    """
    from docgen.liveoutputs import outputs_file, resolve

    handbook = result.handbook if result is not None else None
    if handbook is None:
        return []
    root = os.path.abspath(handbook.project.root)
    envs = [e.name for e in handbook.project.environments] or [None]
    files = []
    for stack in handbook.stacks:
        for env in envs:
            rel = outputs_file(handbook, stack, env)
            if not rel:
                continue
            path = resolve(handbook, rel)
            folder = os.path.dirname(os.path.abspath(path))
            if os.path.exists(path) or folder == root or not os.path.isdir(folder):
                files.append(path)
            else:
                files.append(folder)
    return files


def runbooks_nav(result: Any) -> list[Any]:
    """Handbook-wide pages first, then one section per stack, pages in registry order."""
    import html

    from docgen.pages.registry import HANDBOOK_PAGES, STACK_PAGES

    pages = result.pages
    items: list[Any] = []
    for spec in HANDBOOK_PAGES:
        rel = f"{spec.slug}.md"
        if rel in pages:
            items.append({spec.title: f"runbooks/{rel}"})
    stack_items: list[tuple[str, Any]] = []
    for stack in result.handbook.stacks:
        section = [{spec.title: f"runbooks/{stack.id}/{spec.slug}.md"} for spec in STACK_PAGES
                   if f"{stack.id}/{spec.slug}.md" in pages]
        # the theme prints nav titles as HTML: a stack name is text, so it is escaped
        stack_items.append((stack.config.template_path, {html.escape(stack.name): section}))
    items.extend(_grouped(stack_items))
    for stack_id in result.invalid:  # kept from a previous run (--keep-going)
        kept = sorted(r for r in pages if r.startswith(f"{stack_id}/"))
        if kept:
            items.append({stack_id: [f"runbooks/{r}" for r in kept]})
    return items


#: Above this many stacks the navigation groups them by the folder of their template, so
#: that a page of a large handbook does not carry every page of every stack in its menu.
GROUP_STACKS_ABOVE = 30


def _grouped(stack_items: list[tuple[str, Any]]) -> list[Any]:
    import html

    if len(stack_items) <= GROUP_STACKS_ABOVE:
        return [item for _, item in stack_items]
    paths = [os.path.abspath(p) for p, _ in stack_items]
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    groups: dict[str, list[Any]] = {}
    for path, (_, item) in zip(paths, stack_items, strict=True):
        rel = os.path.relpath(os.path.dirname(path), root).replace(os.sep, "/")
        groups.setdefault(rel.split("/", 1)[0] if rel != "." else ".", []).append(item)
    if len(groups) == 1:
        return [item for _, item in stack_items]
    return [{html.escape("Templates" if key == "." else key): members}
            for key, members in groups.items()]


def _hand_written(docs_dir: str) -> list[str]:
    out: list[str] = []
    for base, dirs, files in os.walk(docs_dir):
        rel_base = os.path.relpath(base, docs_dir).replace(os.sep, "/")
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (
            rel_base == "." and d in ("runbooks", "notes")))
        for name in sorted(files):
            if name.endswith(".md"):
                rel = name if rel_base == "." else f"{rel_base}/{name}"
                out.append(rel)
    return sorted(out, key=lambda r: (r != "index.md", r))


def navigation(nav: Any, result: Any, docs_dir: str) -> list[Any]:
    section = {"Runbooks": runbooks_nav(result)}
    if not nav:
        return [*_hand_written(docs_dir), section]
    out: list[Any] = []
    replaced = False
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) and len(item) == 1 else item
        if value in ("runbooks/", "runbooks/index.md", "runbooks"):
            out.append(section)
            replaced = True
        else:
            out.append(item)
    if not replaced:
        out.append(section)
    return out
