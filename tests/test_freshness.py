"""Freshness and determinism of the generated runbooks, through the public CLI.

Why: the handbook is only trusted if CI can prove it is current. ``docgen generate
--check`` must notice every kind of drift (a hand-edited page, a deleted page, a stray
file) and name the file, while writing nothing; generation must be byte-identical
whatever the hash seed or the folder the project sits in; and docgen owns
``runbooks/`` only -- hand-written pages beside it are never touched, and team notes
are attached to the generated page they belong to.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def copy_example(dest: Path) -> Path:
    """The example project without generated output: stacks, configs, hand-written pages."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("stacks", "site_overrides"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name)
    for name in ("docgen.yml", "mkdocs.yml"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "docs_src", dest / "docs_src",
                    ignore=lambda folder, names: [n for n in names if n == "runbooks"
                                                  or n.startswith(".")])
    return dest


def docgen(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "docgen", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)


#: docgen's own bookkeeping, not project content: the lock file and the content-hash cache
#: (``docgen.cache``, gitignored), which ``--check`` may refresh.
BOOKKEEPING = (".docgen.lock", ".docgen-cache")


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file with its modification time and content hash (to prove nothing moved)."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(p in BOOKKEEPING for p in path.relative_to(folder).parts):
            out[str(path.relative_to(folder))] = (
                path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A freshly generated copy of the example (per test: the code may change between)."""
    root = copy_example(tmp_path / "project")
    proc = docgen(["generate"], root)
    assert proc.returncode == 0, proc.stderr
    return root


def runbooks(root: Path) -> Path:
    return root / "docs_src" / "runbooks"


def some_page(root: Path) -> Path:
    pages = sorted(p for p in runbooks(root).rglob("*.md") if p.parent != runbooks(root))
    assert pages, "the example generates per-stack pages"
    return pages[0]


# --- docgen generate --check ------------------------------------------------------------------

def test_check_fresh(project: Path) -> None:
    before = snapshot(project)
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "up to date" in proc.stdout
    assert snapshot(project) == before


def test_check_stale_page(project: Path) -> None:
    page = some_page(project)
    rel = page.relative_to(runbooks(project)).as_posix()
    page.write_text(page.read_text() + "\nEdited by hand.\n")
    before = snapshot(project)
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 1
    assert f"stale: runbooks/{rel} (+0 -2 lines)" in proc.stdout
    assert "out of date" in proc.stderr
    assert snapshot(project) == before, "--check must write nothing"


def test_check_missing_page(project: Path) -> None:
    page = some_page(project)
    rel = page.relative_to(runbooks(project)).as_posix()
    page.unlink()
    before = snapshot(project)
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 1
    assert f"missing: runbooks/{rel}" in proc.stdout.splitlines()
    assert snapshot(project) == before
    assert not page.exists()


def test_check_extra_file(project: Path) -> None:
    stray = runbooks(project) / "primary" / "old-page.md"
    stray.write_text("# A page from an older docgen\n")
    before = snapshot(project)
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 1
    assert "extra: runbooks/primary/old-page.md" in proc.stdout.splitlines()
    assert snapshot(project) == before
    # a regular run removes it: runbooks/ holds generated pages only
    assert docgen(["generate"], project).returncode == 0
    assert not stray.exists()
    assert docgen(["generate", "--check"], project).returncode == 0


def test_check_lists_every_problem(project: Path) -> None:
    pages = sorted(runbooks(project).rglob("*.md"))
    pages[0].write_text("changed\n")
    pages[1].unlink()
    (runbooks(project) / "stray.txt").write_text("x")
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    rel = [p.relative_to(runbooks(project)).as_posix() for p in pages[:2]]
    assert any(line.startswith(f"stale: runbooks/{rel[0]} (") for line in lines)
    assert f"missing: runbooks/{rel[1]}" in lines
    assert "extra: runbooks/stray.txt" in lines


def test_check_without_runbooks_writes_nothing(project: Path) -> None:
    shutil.rmtree(runbooks(project))
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 1
    assert "missing: runbooks/index.md" in proc.stdout
    assert not runbooks(project).exists()


def test_check_invalid_template_fails_and_writes_nothing(project: Path) -> None:
    template = sorted((project / "stacks").glob("*.yaml"))[0]
    template.write_text(template.read_text() + "\n  bad: [unclosed\n")
    before = snapshot(project)
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 1
    assert f"{template.name}:" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(project) == before


def test_check_sees_template_change(project: Path) -> None:
    """A template edit without regeneration is exactly what CI must catch."""
    template = project / "stacks" / "dr.yaml"
    text = template.read_text()
    assert "\nDescription:" in text
    template.write_text(text.replace("\nDescription:", "\nDescription: Edited", 1)
                        if "\nDescription: >" not in text else text.replace(
                            "\nDescription: >", "\nDescription: >\n  Edited.", 1))
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 1
    assert "stale: runbooks/dr/" in proc.stdout


def test_check_with_docs_dir_option(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    assert docgen(["generate", "--docs-dir", str(other)], project).returncode == 0
    assert docgen(["generate", "--check", "--docs-dir", str(other)], project).returncode == 0
    (other / "runbooks" / "index.md").unlink()
    proc = docgen(["generate", "--check", "--docs-dir", str(other)], project)
    assert proc.returncode == 1 and "missing: runbooks/index.md" in proc.stdout


# --- determinism ------------------------------------------------------------------------------

def test_byte_identical_across_hash_seeds_and_folders(tmp_path: Path) -> None:
    """Two runs, different PYTHONHASHSEED and different project paths: same bytes."""
    trees = []
    for seed, name in (("1", "a"), ("4242", "some-other-folder")):
        root = copy_example(tmp_path / name / "project")
        proc = docgen(["generate"], root, PYTHONHASHSEED=seed)
        assert proc.returncode == 0, proc.stderr
        trees.append(tree_bytes(runbooks(root)))
    assert trees[0].keys() == trees[1].keys()
    different = [k for k in trees[0] if trees[0][k] != trees[1][k]]
    assert not different, f"pages differ between runs: {different}"
    assert len(trees[0]) >= 4


def test_no_absolute_paths_or_timestamps(project: Path) -> None:
    root_text = str(project)
    for page in runbooks(project).rglob("*.md"):
        text = page.read_text()
        assert root_text not in text, f"{page} contains the project's absolute path"
        assert "Generated at" not in text and "generated at" not in text


def test_second_generate_changes_nothing(project: Path) -> None:
    before = snapshot(project)
    proc = docgen(["generate"], project)
    assert proc.returncode == 0
    assert "unchanged" in proc.stderr
    assert snapshot(project) == before, "an unchanged run must not rewrite files"


# --- hand-written pages and notes --------------------------------------------------------------

def test_hand_written_pages_never_touched(project: Path) -> None:
    docs = project / "docs_src"
    (docs / "team").mkdir()
    (docs / "team" / "contacts.md").write_text("# Contacts\n")
    (docs / "runbooks-notes.md").write_text("# Beside runbooks, not in it\n")
    hand = {k: v for k, v in snapshot(docs).items() if not k.startswith("runbooks")
            or k == "runbooks-notes.md"}
    page = some_page(project)
    page.write_text("stale\n")  # force a real rewrite of runbooks/
    proc = docgen(["generate"], project)
    assert proc.returncode == 0, proc.stderr
    after = snapshot(docs)
    assert {k: after[k] for k in hand} == hand
    assert page.read_text() != "stale\n"


def test_failed_run_keeps_previous_pages(project: Path) -> None:
    before = snapshot(runbooks(project))
    template = project / "stacks" / "primary.yaml"
    template.write_text("Resources: [not, a, mapping\n")
    proc = docgen(["generate"], project)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert snapshot(runbooks(project)) == before


def enable_notes(root: Path) -> Path:
    config = root / "docgen.yml"
    text = config.read_text()
    assert "\npaths:\n" in text
    config.write_text(text.replace("\npaths:\n", "\npaths:\n  notes: docs_src/notes\n", 1))
    return root / "docs_src" / "notes"


def test_notes_attached_to_their_page(project: Path) -> None:
    notes = enable_notes(project)
    (notes / "primary").mkdir(parents=True)
    (notes / "primary" / "deploy.md").write_text(
        "Ask the **platform team** before deploying on Fridays.\n")
    (notes / "index.md").write_text("Handbook-wide note.\n")
    assert docgen(["generate", "--check"], project).returncode == 1, "notes are an input"
    proc = docgen(["generate"], project)
    assert proc.returncode == 0, proc.stderr
    deploy = (runbooks(project) / "primary" / "deploy.md").read_text()
    assert deploy.endswith("## Team notes\n\nAsk the **platform team** before deploying on "
                           "Fridays.\n")
    home = (runbooks(project) / "index.md").read_text()
    assert home.endswith("## Team notes\n\nHandbook-wide note.\n")
    for other in runbooks(project).rglob("*.md"):
        if other.name not in ("deploy.md", "index.md") or other.parent.name == "dr":
            assert "Team notes" not in other.read_text(), other
    assert (notes / "primary" / "deploy.md").read_text().startswith("Ask the")  # untouched
    assert docgen(["generate", "--check"], project).returncode == 0
    (notes / "primary" / "deploy.md").write_text("Changed note.\n")
    proc = docgen(["generate", "--check"], project)
    assert proc.returncode == 1 and "stale: runbooks/primary/deploy.md" in proc.stdout


def test_check_with_an_invalid_template_says_so(project: Path) -> None:
    """--keep-going --check with a broken template: nothing stale, but not green, and
    the message names the real problem rather than "out of date"."""
    assert docgen(["generate", "--keep-going"], project).returncode == 0
    (project / "stacks" / "dr.yaml").write_text("Resources: [\n")
    assert docgen(["generate", "--keep-going"], project).returncode == 1
    proc = docgen(["generate", "--check", "--keep-going"], project)
    assert proc.returncode == 1
    assert "1 template(s) are invalid" in proc.stderr and "out of date" not in proc.stderr
    assert not [ln for ln in proc.stdout.splitlines() if ln.startswith(("stale", "missing"))]
