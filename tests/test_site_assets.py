"""Site assets without a browser: docgen's stylesheet and the offline Mermaid setting.

Each test builds a small throwaway project through the CLI (``docgen build --strict``)
with its own cache folder, so nothing here depends on what an earlier build cached.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docgen.assets import MERMAID_SHA256, MERMAID_SITE_PATH, MERMAID_VERSION, STYLESHEET

REPO = Path(__file__).resolve().parents[1]

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: A bucket and a queue.
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-q"
"""


def make_project(root: Path, mermaid: str = "local", mkdocs_yml: str | None = None) -> Path:
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "app.yaml").write_text(TEMPLATE, encoding="utf-8")
    (root / "docgen.yml").write_text(
        "title: Test handbook\nstacks:\n  app:\n    template: stacks/app.yaml\n"
        "    name: App\n    region: eu-west-1\n"
        f"site:\n  mermaid: {mermaid}\n", encoding="utf-8")
    if mkdocs_yml is not None:
        (root / "mkdocs.yml").write_text(mkdocs_yml, encoding="utf-8")
    return root


def build(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("DOCGEN_MERMAID_JS", "DOCGEN_NPM", "DOCGEN_CACHE_DIR")}
    full.setdefault("DOCGEN_CACHE_DIR", str(root / ".cache"))
    full.update(env)
    return subprocess.run([sys.executable, "-m", "docgen", "build", "--strict",
                           "--site-dir", str(root / "site")], cwd=root, capture_output=True,
                          text=True, timeout=300, check=False, env=full)


def overview_html(root: Path) -> str:
    return (root / "site" / "runbooks" / "app" / "index.html").read_text(encoding="utf-8")


def test_provided_mermaid_is_shipped_and_loaded_before_material_needs_it(
        tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    js = tmp_path / "mermaid.min.js"
    js.write_text("globalThis.mermaid = {initialize() {}};\n", encoding="utf-8")
    proc = build(root, DOCGEN_MERMAID_JS=str(js), DOCGEN_NPM="")
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr
    shipped = root / "site" / MERMAID_SITE_PATH
    assert shipped.read_bytes() == js.read_bytes()
    html = overview_html(root)
    tag = f'<script src="../../{MERMAID_SITE_PATH}" defer>'
    assert tag in html
    # After Material's bundle (which only fetches its CDN copy when `mermaid` is
    # undefined at mount time, after deferred scripts have run).
    assert html.index("assets/javascripts/bundle.") < html.index(tag)
    assert "unpkg.com" not in html


def test_without_a_local_copy_the_build_warns_and_falls_back_to_the_cdn(
        tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    proc = build(root, DOCGEN_NPM="")  # empty cache, no npm: no way to get the script
    assert proc.returncode == 0, proc.stderr  # --strict, yet not a failure
    assert "WARNING" in proc.stderr and "CDN" in proc.stderr and "mermaid" in proc.stderr
    assert not (root / "site" / MERMAID_SITE_PATH).exists()
    assert "docgen/mermaid.min.js" not in overview_html(root)


def test_a_cached_copy_with_the_wrong_hash_is_not_used(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    cache = tmp_path / "cache"
    bogus = cache / "mermaid" / MERMAID_VERSION / "theme" / MERMAID_SITE_PATH
    bogus.parent.mkdir(parents=True)
    bogus.write_text("alert('tampered')", encoding="utf-8")
    proc = build(root, DOCGEN_NPM="", DOCGEN_CACHE_DIR=str(cache))
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" in proc.stderr
    assert not (root / "site" / MERMAID_SITE_PATH).exists()


def test_cdn_setting_ships_no_script_and_says_nothing(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", mermaid="cdn")
    proc = build(root, DOCGEN_NPM="")
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr
    assert not (root / "site" / MERMAID_SITE_PATH).exists()


def test_stylesheet_is_linked_with_the_embedded_configuration(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", mermaid="cdn")  # no mkdocs.yml
    proc = build(root)
    assert proc.returncode == 0, proc.stderr
    css = (root / "site" / STYLESHEET).read_text(encoding="utf-8")
    assert ".docgen-card" in css
    html = overview_html(root)
    assert f'href="../../{STYLESHEET}"' in html
    assert 'class="docgen-card"' in html and 'class="docgen-card__label"' in html
    assert "fonts.googleapis.com" not in html  # offline: no web fonts


def test_a_projects_custom_dir_overrides_docgens_stylesheet(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", mermaid="cdn", mkdocs_yml=(
        "site_name: T\ndocs_dir: docs_src\ntheme:\n  name: material\n  custom_dir: mine\n"
        "plugins: [search, docgen]\nmarkdown_extensions: [attr_list, md_in_html, tables]\n"))
    (root / "docs_src").mkdir()
    (root / "docs_src" / "index.md").write_text("# Home\n", encoding="utf-8")
    mine = root / "mine" / STYLESHEET
    mine.parent.mkdir(parents=True)
    mine.write_text("/* the project's own */\n", encoding="utf-8")
    proc = build(root)
    assert proc.returncode == 0, proc.stderr
    assert (root / "site" / STYLESHEET).read_text(encoding="utf-8") == mine.read_text(
        encoding="utf-8")


def test_stylesheet_covers_dark_mode_severities_and_print() -> None:
    css = (REPO / "site_overrides" / STYLESHEET).read_text(encoding="utf-8")
    assert '[data-md-color-scheme="slate"]' in css
    for severity in ("critical", "high", "medium", "low"):
        assert f".docgen-badge--{severity}" in css
        assert f"--docgen-{severity}-bg" in css.split('[data-md-color-scheme="slate"]')[1]
    printing = css[css.index("@media print"):]
    for hidden in (".md-header", ".md-sidebar", ".md-search", ".md-clipboard"):
        assert hidden in printing
    assert ".tabbed-block" in printing and "break-inside: avoid" in printing


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_fetch_from_the_npm_registry_is_verified_and_cached(tmp_path: Path) -> None:
    """The real path: ``npm pack`` of the pinned release, then a second run from cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOCGEN_MERMAID_JS", "DOCGEN_NPM")}
    env["DOCGEN_CACHE_DIR"] = str(tmp_path / "cache")
    first = subprocess.run([sys.executable, "-m", "docgen.assets"], capture_output=True,
                           text=True, timeout=300, check=False, env=env, cwd=tmp_path)
    if first.returncode != 0 and not os.environ.get("CI"):
        pytest.skip(f"npm registry not reachable: {first.stderr.strip()}")
    assert first.returncode == 0, first.stderr
    path = Path(first.stdout.split(" (")[0])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MERMAID_SHA256
    assert "fetched with npm" in first.stdout
    env["DOCGEN_NPM"] = ""  # the second run must not need npm
    second = subprocess.run([sys.executable, "-m", "docgen.assets"], capture_output=True,
                            text=True, timeout=60, check=False, env=env, cwd=tmp_path)
    assert second.returncode == 0 and "from the cache" in second.stdout
