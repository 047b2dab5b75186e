"""The ``docgen`` MkDocs plugin: a plain ``mkdocs build``/``serve`` generates first.

Why: teams publish with the MkDocs commands they already run. With ``plugins:
[docgen]`` a ``mkdocs build --strict`` must generate the runbooks through the same
code as the CLI, put every page in the navigation, fail clearly on a bad template
(keeping the previous pages), and ``mkdocs serve`` must pick up edits of the inputs --
including ``docgen.yml`` itself. Zensical (Material's successor, which reads
``mkdocs.yml``) is tried when it is installed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def copy_example(dest: Path, with_runbooks: bool = False) -> Path:
    """The example project: stacks, configs, hand-written pages, theme overrides."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("stacks", "site_overrides"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name)
    for name in ("docgen.yml", "mkdocs.yml"):
        shutil.copy2(REPO / name, dest / name)
    skip = {".docgen.lock"} | (set() if with_runbooks else {"runbooks"})
    shutil.copytree(REPO / "docs_src", dest / "docs_src",
                    ignore=lambda folder, names: [n for n in names if n in skip
                                                  or n.startswith(".runbooks")])
    return dest


def mkdocs(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def site_path(site: Path, rel: str) -> Path:
    """Where MkDocs (directory URLs) puts the page ``runbooks/<rel>``."""
    stem = rel[:-3]
    if stem == "index" or stem.endswith("/index"):
        return site / "runbooks" / (stem[:-5] if stem != "index" else "") / "index.html"
    return site / "runbooks" / stem / "index.html"


def generated_pages(root: Path) -> list[str]:
    folder = root / "docs_src" / "runbooks"
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.md"))


# --- mkdocs build --strict --------------------------------------------------------------------

def test_mkdocs_build_strict_generates_runbooks(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "project")
    assert not (root / "docs_src" / "runbooks").exists()
    site = tmp_path / "site"
    proc = mkdocs(["build", "--strict", "-d", str(site)], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pages = generated_pages(root)
    assert "index.md" in pages and any(p.endswith("/deploy.md") for p in pages)
    for rel in pages:
        assert site_path(site, rel).is_file(), f"runbooks/{rel} not in the site"
    # every generated page is in the navigation (the plugin injects it)
    home = (site / "index.html").read_text(encoding="utf-8")
    for rel in pages:
        url = "runbooks/" + (rel[:-3] + "/" if not rel.endswith("index.md") else rel[:-8])
        assert f'href="{url}"' in home, f"{url} missing from the navigation"
    # the hand-written pages are still there, untouched
    for name in ("index.md", "ci.md"):
        assert (root / "docs_src" / name).read_bytes() == (REPO / "docs_src" / name).read_bytes()


def test_plugin_output_equals_cli_output(tmp_path: Path) -> None:
    """Same code path: the plugin writes exactly what `docgen generate` writes."""
    a = copy_example(tmp_path / "a")
    b = copy_example(tmp_path / "b")
    assert mkdocs(["build", "-d", str(tmp_path / "site")], a).returncode == 0
    proc = subprocess.run([sys.executable, "-m", "docgen", "generate"], cwd=b,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import difflib

    assert generated_pages(a) == generated_pages(b)
    for rel in generated_pages(a):
        one = (a / "docs_src" / "runbooks" / rel).read_text()
        two = (b / "docs_src" / "runbooks" / rel).read_text()
        assert one == two, f"runbooks/{rel} differs (plugin vs CLI):\n" + "\n".join(
            list(difflib.unified_diff(one.splitlines(), two.splitlines(), lineterm=""))[:40])


def test_mkdocs_build_strict_of_the_repository(tmp_path: Path) -> None:
    """The repository's own mkdocs.yml builds strictly (in a copy: the plugin writes)."""
    root = tmp_path / "repo"
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(
        ".git", "site", ".docgen-cache", "__pycache__", ".pytest_cache", ".ruff_cache",
        "node_modules", ".docgen.lock", ".runbooks.*", "*.egg-info", ".venv"))
    proc = mkdocs(["build", "--strict", "-d", str(tmp_path / "site")], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "runbooks" / "index.html").is_file()
    assert (tmp_path / "site" / "ci" / "index.html").is_file()


def test_bad_template_fails_build_and_keeps_pages(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "project")
    assert mkdocs(["build", "-d", str(tmp_path / "site")], root).returncode == 0
    before = {p: (root / "docs_src" / "runbooks" / p).read_bytes()
              for p in generated_pages(root)}
    (root / "stacks" / "dr.yaml").write_text("Resources:\n  A: [unclosed\n")
    proc = mkdocs(["build", "--strict", "-d", str(tmp_path / "site2")], root)
    assert proc.returncode == 1
    assert "dr.yaml:" in proc.stderr and "Traceback" not in proc.stderr
    after = {p: (root / "docs_src" / "runbooks" / p).read_bytes()
             for p in generated_pages(root)}
    assert after == before


def test_plugin_config_option_points_at_docgen_yml(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "project")
    (root / "config").mkdir()
    config = (root / "docgen.yml").read_text().replace("templates: stacks",
                                                       "templates: ../stacks")
    config = config.replace("template: stacks/", "template: ../stacks/")
    config = config.replace("docs: docs_src", "docs: ../docs_src")
    (root / "config" / "handbook.yml").write_text(config.replace(
        "\ntitle: ", "\ntitle: Movedconfig ", 1))
    (root / "docgen.yml").unlink()
    text = (root / "mkdocs.yml").read_text()
    assert "\n  - docgen\n" in text
    (root / "mkdocs.yml").write_text(text.replace(
        "\n  - docgen\n", "\n  - docgen:\n      config: config/handbook.yml\n"))
    proc = mkdocs(["build", "--strict", "-d", str(tmp_path / "site")], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "# Movedconfig " in (root / "docs_src" / "runbooks" / "index.md").read_text()


def test_without_nav_the_plugin_builds_one(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "project")
    text = (root / "mkdocs.yml").read_text()
    (root / "mkdocs.yml").write_text(re.sub(r"\nnav:\n(  - .*\n?)*", "\n", text))
    site = tmp_path / "site"
    proc = mkdocs(["build", "--strict", "-d", str(site)], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="ci/"' in home and 'href="runbooks/primary/deploy/"' in home


# --- mkdocs serve -----------------------------------------------------------------------------

class FakeServer:
    def __init__(self) -> None:
        self.watched: list[str] = []

    def watch(self, path: str) -> None:
        self.watched.append(os.path.abspath(path))


def test_serve_watches_every_input(tmp_path: Path) -> None:
    from mkdocs.config import load_config

    root = copy_example(tmp_path / "project")
    (root / "cfn-outputs" / "dev").mkdir(parents=True)
    (root / "cfn-outputs" / "dev" / "primary.json").write_text("{}\n")
    config = load_config(str(root / "mkdocs.yml"))
    plugin: Any = config["plugins"]["docgen"]
    plugin.on_config(config)
    server = FakeServer()
    plugin.on_serve(server, config=config, builder=None)
    watched = set(server.watched)
    assert str(root / "docgen.yml") in watched
    assert str(root / "stacks" / "primary.yaml") in watched
    assert str(root / "stacks" / "dr.yaml") in watched
    assert str(root / "stacks") in watched  # new templates appear
    from docgen.render import templates_dir
    assert os.path.abspath(templates_dir()) in watched
    assert str(root / "cfn-outputs" / "dev" / "primary.json") in watched  # live values
    # not written yet: its folder is watched, so `docgen outputs` while serving is seen
    assert str(root / "cfn-outputs" / "dev") in watched  # dev/dr.json does not exist
    assert not any(p.startswith(str(root / "cfn-outputs" / "prod")) for p in watched)


def test_serve_rereads_docgen_yml(tmp_path: Path) -> None:
    """A plugin instance that builds twice reads docgen.yml again.

    MkDocs keeps a plugin instance across ``serve`` rebuilds as soon as the plugin has
    an ``on_startup``/``on_shutdown`` hook; the configuration must not be frozen then.
    """
    from mkdocs.config import load_config

    root = copy_example(tmp_path / "project")
    config = load_config(str(root / "mkdocs.yml"))
    plugin: Any = config["plugins"]["docgen"]
    plugin.on_config(config)
    index = root / "docs_src" / "runbooks" / "index.md"
    assert "Renamed handbook" not in index.read_text()
    text = (root / "docgen.yml").read_text()
    (root / "docgen.yml").write_text(re.sub(r"(?m)^title: .*$", "title: Renamed handbook",
                                            text, count=1))
    plugin.on_config(load_config(str(root / "mkdocs.yml")))
    assert "# Renamed handbook" in index.read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


@contextlib.contextmanager
def _serving(args: list[str], root: Path, log_path: Path) -> Iterator[None]:
    """A server process (``python -m ...``) in ``root``, its output in ``log_path``;
    stopped on the way out."""
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=root, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _add_dr_output(root: Path) -> str:
    """Append an output to the example's DR template (Outputs is its last section);
    returns the output's name, which its outputs page will show once regenerated."""
    marker = "ZzEditedWhileServing"
    template = root / "stacks" / "dr.yaml"
    text = template.read_text()
    assert text.rstrip().splitlines()[-1].startswith("    "), "Outputs is the last section"
    template.write_text(text.rstrip() + f"\n  {marker}:\n    Value: added\n")
    return marker


@pytest.mark.slow
def test_mkdocs_serve_regenerates_on_template_edit(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "project")
    outputs = root / "docs_src" / "runbooks" / "dr" / "outputs.md"
    log_path = tmp_path / "serve.log"
    with _serving(["mkdocs", "serve", "-a", f"127.0.0.1:{_free_port()}"], root, log_path):
        assert _wait_for(lambda: "Serving on" in log_path.read_text(), 300), \
            log_path.read_text()[-2000:]
        assert outputs.is_file()
        marker = _add_dr_output(root)
        assert _wait_for(lambda: marker in outputs.read_text(), 300), \
            log_path.read_text()[-2000:]


# --- Zensical ---------------------------------------------------------------------------------

def zensical_command() -> list[str] | None:
    """``zensical`` from DOCGEN_ZENSICAL, PATH, or the current interpreter's packages."""
    explicit = os.environ.get("DOCGEN_ZENSICAL")
    if explicit:
        return [explicit]
    found = shutil.which("zensical")
    if found:
        return [found]
    try:
        import zensical  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "zensical"]


def test_zensical_builds_the_example(tmp_path: Path) -> None:
    """Zensical reads mkdocs.yml but runs no MkDocs plugins: generate first, then build."""
    command = zensical_command()
    if command is None:
        pytest.skip("zensical is not installed (pip install zensical, or set DOCGEN_ZENSICAL "
                    "to its executable); see docs_src/ci.md for the measured result")
    root = copy_example(tmp_path / "project")
    proc = subprocess.run([sys.executable, "-m", "docgen", "generate"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # Zensical lays out the navigation itself: without the plugin an explicit nav would list
    # runbooks/index.md only, so the recipe drops `nav:` (folders give the order).
    text = (root / "mkdocs.yml").read_text()
    (root / "mkdocs.yml").write_text(re.sub(r"\nnav:\n(  - .*\n?)*", "\n", text))
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run([*command, "build", "--clean", "--strict"], cwd=root, capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    site = root / "site"
    for rel in generated_pages(root):
        assert site_path(site, rel).is_file(), f"runbooks/{rel} missing from the Zensical site"
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "runbooks/primary/deploy/" in home, "generated pages are in Zensical's navigation"
    deploy = site_path(site, "primary/deploy.md").read_text(encoding="utf-8")
    assert "tabbed-set" in deploy, "pymdownx.tabbed environment tabs render"


def test_notes_and_bad_config_through_the_plugin(tmp_path: Path) -> None:
    """Notes reach the built page; an invalid docgen.yml stops the build with its line."""
    root = copy_example(tmp_path / "project")
    config = root / "docgen.yml"
    text = config.read_text()
    config.write_text(text.replace("\npaths:\n", "\npaths:\n  notes: docs_src/notes\n", 1))
    (root / "docs_src" / "notes" / "dr").mkdir(parents=True)
    (root / "docs_src" / "notes" / "dr" / "deploy.md").write_text(
        "Zz team note: page the database owner before a failover drill.\n")
    site = tmp_path / "site"
    proc = mkdocs(["build", "--strict", "-d", str(site)], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = site_path(site, "dr/deploy.md").read_text(encoding="utf-8")
    assert "Zz team note: page the database owner" in html
    assert "Team notes" in html
    config.write_text(text.replace("\ntitle:", "\ntitel: typo\ntitle:", 1))
    proc = mkdocs(["build", "--strict", "-d", str(tmp_path / "site2")], root)
    assert proc.returncode == 1
    assert re.search(r"docgen\.yml:\d+:\d+: .*titel", proc.stderr), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_docgen_serve_says_where_and_rebuilds(tmp_path: Path) -> None:
    """``docgen serve`` runs MkDocs as a library: its messages (the address, rebuilds)
    must still reach the terminal, and an edit must regenerate the pages."""
    root = copy_example(tmp_path / "project")
    outputs = root / "docs_src" / "runbooks" / "dr" / "outputs.md"
    log_path = tmp_path / "serve.log"
    port = _free_port()
    with _serving(["docgen", "serve", "--dev-addr", f"127.0.0.1:{port}"], root, log_path):
        assert _wait_for(lambda: f"Serving on http://127.0.0.1:{port}/" in
                         log_path.read_text(), 300), log_path.read_text()[-2000:]
        marker = _add_dr_output(root)
        assert _wait_for(lambda: marker in outputs.read_text(), 300), \
            log_path.read_text()[-2000:]
        assert _wait_for(lambda: "Detected file changes" in log_path.read_text(), 60)
