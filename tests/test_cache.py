"""The content-hash cache: each input invalidates exactly the pages it affects, and a
cached run gives the same bytes as a fresh render.

What was re-rendered is observed by wrapping ``docgen.render.render_page`` (stacks are
rendered in-process with ``DOCGEN_JOBS=1``), so every test states which pages a
change must re-render and that nothing else was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import docgen
from docgen import cache, render
from docgen.config import load_config
from docgen.diagnostics import DocgenError
from docgen.generate import build, generate, read_tree

TEMPLATE_A = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: Storage stack
Parameters:
  Env:
    Type: String
    Default: dev
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
Outputs:
  BucketName:
    Description: Name of the bucket
    Value: !Ref Bucket
    Export: {Name: !Sub '${AWS::StackName}-bucket'}
"""

TEMPLATE_B = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: Queue stack
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      Tags:
        - Key: bucket
          Value: !ImportValue storage-bucket
"""

TEMPLATE_C = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: Topic stack
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""

CONFIG = """\
title: Test handbook
paths:
  docs: docs
  knowledge: kb
  page_templates: overrides
  notes: notes
stacks:
  a:
    template: stacks/a.yaml
    name: storage
    region: eu-west-1
  b:
    template: stacks/b.yaml
    name: queue
    region: eu-west-1
  c:
    template: stacks/c.yaml
    name: topic
    region: eu-west-1
    description: The topic.
"""


REAL_PACKAGE_DIRS = cache.package_dirs()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCGEN_JOBS", "1")
    monkeypatch.setenv("DOCGEN_CACHE", "1")  # off by default in the suite (conftest)
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(tmp_path / "user-cache"))  # key, bytecode
    # docgen's own files are part of every key; other people edit this source tree while
    # tests run, so a fixed stand-in folder takes its place (see the package tests).
    package = tmp_path / "package-stand-in"
    package.mkdir()
    (package / "code.py").write_text("# docgen\n")
    monkeypatch.setattr(cache, "package_dirs", lambda: [str(package)])
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "a.yaml").write_text(TEMPLATE_A)
    (tmp_path / "stacks" / "b.yaml").write_text(TEMPLATE_B)
    (tmp_path / "stacks" / "c.yaml").write_text(TEMPLATE_C)
    (tmp_path / "kb").mkdir()
    (tmp_path / "overrides").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "docgen.yml").write_text(CONFIG)
    return tmp_path


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every page rendered (not taken from the cache), as ``stack/slug`` or ``slug``."""
    seen: list[str] = []
    original = render.render_page

    def spy(env: Any, spec: Any, ctx: Any, rel_path: str) -> Any:
        seen.append(rel_path)
        return original(env, spec, ctx, rel_path)

    monkeypatch.setattr(render, "render_page", spy)
    yield seen


@contextlib.contextmanager
def files_opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths ``open()`` is given meanwhile (what a run reads and writes)."""
    opened: list[str] = []
    real_open = open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr("builtins.open", spy)
        yield opened


def run(root: Path, seen: list[str]) -> tuple[dict[str, str], set[str]]:
    """Generate; return the pages on disk and the stacks ('' = handbook) re-rendered."""
    seen.clear()
    result = generate(load_config(str(root / "docgen.yml")))
    assert not result.errors, result.errors
    stacks = {rel.split("/")[0] if "/" in rel else "" for rel in seen}
    return read_tree(str(root / "docs" / "runbooks")), stacks


def fresh(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    with monkeypatch.context() as m:
        m.setenv("DOCGEN_CACHE", "0")
        result = build(load_config(str(root / "docgen.yml")))
    assert result.handbook is not None
    return result.pages


EVERYTHING = {"", "a", "b", "c"}


def test_first_run_renders_all_and_second_renders_nothing(project: Path,
                                                          rendered: list[str]) -> None:
    pages, stacks = run(project, rendered)
    assert stacks == EVERYTHING
    assert (project / cache.CACHE_DIR / "loads.json").is_file()
    again, stacks = run(project, rendered)
    assert stacks == set() and again == pages


def test_noop_parses_no_template(project: Path, rendered: list[str]) -> None:
    run(project, rendered)
    result = build(load_config(str(project / "docgen.yml")))
    assert result.handbook is not None
    assert not any(s.is_loaded for s in result.handbook.stacks)  # type: ignore[attr-defined]
    # ...yet the templates are there for whoever asks
    assert result.handbook.stacks[0].template.resource("Bucket") is not None


def test_template_change_renders_that_stack_and_handbook_pages(
        project: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run(project, rendered)
    path = project / "stacks" / "c.yaml"
    path.write_text(TEMPLATE_C + "  Queue:\n    Type: AWS::SQS::Queue\n")
    pages, stacks = run(project, rendered)
    assert stacks == {"", "c"}
    assert "Queue" in pages["c/index.md"]
    assert pages == fresh(project, monkeypatch)


def test_touch_without_change_is_a_hit(project: Path, rendered: list[str]) -> None:
    run(project, rendered)
    path = project / "stacks" / "a.yaml"
    os.utime(path, (1, 1))
    _, stacks = run(project, rendered)
    assert stacks == set()


def test_restoring_an_old_template_gives_the_old_pages(project: Path, rendered: list[str]) -> None:
    first, _ = run(project, rendered)
    path = project / "stacks" / "c.yaml"
    path.write_text(TEMPLATE_C.replace("Topic stack", "Topic stack, edited"))
    run(project, rendered)
    path.write_text(TEMPLATE_C)
    again, stacks = run(project, rendered)
    assert stacks == {"", "c"}  # the previous entry was dropped, so it renders again...
    assert again == first  # ...to the same bytes


def test_surface_change_renders_every_stack(project: Path, rendered: list[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An output of ``a`` changes: other stacks' pages (imported-by, deployment order)
    may name it, so every stack renders again."""
    run(project, rendered)
    path = project / "stacks" / "a.yaml"
    path.write_text(TEMPLATE_A.replace("Name of the bucket", "The bucket's name"))
    pages, stacks = run(project, rendered)
    assert stacks == EVERYTHING
    assert pages == fresh(project, monkeypatch)


def test_config_change_of_one_stack(project: Path, rendered: list[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    run(project, rendered)
    cfg = project / "docgen.yml"
    cfg.write_text(CONFIG.replace("description: The topic.", "description: The new topic."))
    pages, stacks = run(project, rendered)
    assert stacks == {"", "c"}
    assert pages == fresh(project, monkeypatch)


def test_config_change_for_all_stacks(project: Path, rendered: list[str]) -> None:
    run(project, rendered)
    cfg = project / "docgen.yml"
    cfg.write_text(CONFIG.replace("title: Test handbook", "title: Renamed handbook"))
    _, stacks = run(project, rendered)
    assert stacks == EVERYTHING


def test_comment_in_config_is_a_hit(project: Path, rendered: list[str]) -> None:
    run(project, rendered)
    (project / "docgen.yml").write_text("# a comment\n" + CONFIG)
    _, stacks = run(project, rendered)
    assert stacks == set()


def test_page_template_override_renders_everything(project: Path, rendered: list[str]) -> None:
    run(project, rendered)
    override = project / "overrides" / "stack" / "overview.md.j2"
    override.parent.mkdir()
    override.write_text("# {{ stack.id | md }} (custom overview)\n")
    pages, stacks = run(project, rendered)
    assert stacks == EVERYTHING
    assert "(custom overview)" in pages["a/index.md"]
    override.unlink()
    pages, stacks = run(project, rendered)
    assert "(custom overview)" not in pages["a/index.md"]


def test_user_knowledge_file_renders_everything(project: Path, rendered: list[str]) -> None:
    run(project, rendered)
    (project / "kb" / "ops").mkdir()
    (project / "kb" / "ops" / "README.txt").write_text("notes on the team's knowledge\n")
    _, stacks = run(project, rendered)
    assert stacks == EVERYTHING


def test_package_knowledge_file_renders_everything(project: Path, rendered: list[str],
                                                   tmp_path_factory: pytest.TempPathFactory,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """docgen/knowledge/** is part of the hashed package; a stand-in folder is added to
    the hashed package folders so the test does not write into the source tree."""
    kb = tmp_path_factory.mktemp("package-knowledge")
    (kb / "ops").mkdir()
    (kb / "ops" / "s3.yml").write_text("facts: []\n")
    monkeypatch.setattr(cache, "package_dirs", lambda: [str(kb)])
    run(project, rendered)
    _, stacks = run(project, rendered)
    assert stacks == set()
    (kb / "ops" / "s3.yml").write_text("facts: [changed]\n")
    _, stacks = run(project, rendered)
    assert stacks == EVERYTHING


def test_package_folders_cover_code_knowledge_and_page_templates() -> None:
    names = {Path(d).name for d in REAL_PACKAGE_DIRS}
    assert "templates" in names
    pkg = next(Path(d) for d in REAL_PACKAGE_DIRS if (Path(d) / "__init__.py").is_file())
    assert (pkg / "knowledge").is_dir() and (pkg / "cache.py").is_file()
    assert Path(render.templates_dir()).resolve() in {Path(d).resolve()
                                                      for d in REAL_PACKAGE_DIRS}


def test_package_code_change_renders_everything(project: Path, rendered: list[str]) -> None:
    run(project, rendered)
    stand_in = Path(cache.package_dirs()[0]) / "code.py"
    stand_in.write_text("# docgen, edited\n")
    _, stacks = run(project, rendered)
    assert stacks == EVERYTHING


def test_docgen_version_renders_everything(project: Path, rendered: list[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run(project, rendered)
    monkeypatch.setattr(docgen, "__version__", docgen.__version__ + ".post1")
    _, stacks = run(project, rendered)
    assert stacks == EVERYTHING


def test_notes_of_one_stack(project: Path, rendered: list[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    run(project, rendered)
    (project / "notes" / "b").mkdir()
    (project / "notes" / "b" / "index.md").write_text("Call the queue team first.\n")
    pages, stacks = run(project, rendered)
    assert stacks == {"", "b"}
    assert "Call the queue team first." in pages["b/index.md"]
    assert pages == fresh(project, monkeypatch)


def test_cached_equals_uncached_after_many_changes(project: Path, rendered: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    run(project, rendered)
    (project / "stacks" / "b.yaml").write_text(TEMPLATE_B.replace("30", "60"))
    run(project, rendered)
    (project / "docgen.yml").write_text(CONFIG.replace("eu-west-1", "us-east-2"))
    pages, _ = run(project, rendered)
    assert pages == fresh(project, monkeypatch)
    assert pages == render.render_all(build(load_config(str(project / "docgen.yml")))
                                      .handbook)  # type: ignore[arg-type]


def test_invalid_template_diagnostics_come_back_from_cache(project: Path,
                                                           rendered: list[str]) -> None:
    (project / "stacks" / "c.yaml").write_text(TEMPLATE_C + "  Topic:\n    Type: X\n")
    config = load_config(str(project / "docgen.yml"))
    first = build(config, keep_going=True)
    second = build(config, keep_going=True)
    assert first.invalid == second.invalid == ["c"]
    assert [str(d) for d in first.diagnostics] == [str(d) for d in second.diagnostics]
    assert any("duplicate key" in d.message for d in second.errors)
    assert build(config).handbook is None  # without --keep-going: nothing


def test_corrupt_cache_is_ignored(project: Path, rendered: list[str]) -> None:
    first, _ = run(project, rendered)
    (project / cache.CACHE_DIR / "loads.json").write_text("[]")
    (project / cache.CACHE_DIR / "tree.json").write_text("{")
    (project / cache.CACHE_DIR / "facts.pickle").write_bytes(b"\x80")
    again, stacks = run(project, rendered)
    assert stacks == EVERYTHING and again == first


def test_forged_manifest_is_ignored(project: Path, rendered: list[str]) -> None:
    """A cache folder that came with a repository (or was edited) is not trusted: a
    manifest that vouches for an edited page would keep that page."""
    import json

    first, _ = run(project, rendered)
    page = project / "docs" / "runbooks" / "a" / "index.md"
    page.write_text(page.read_text().replace("Storage stack", "<script>alert(1)</script>"))
    manifest = project / cache.CACHE_DIR / "tree.json"
    mac, _, body = manifest.read_bytes().partition(b"\n")
    data = json.loads(body)
    st = page.stat()
    data["files"]["a/index.md"] = [st.st_size, st.st_mtime_ns, st.st_ino]
    manifest.write_bytes(mac + b"\n" + json.dumps(data).encode())
    again, stacks = run(project, rendered)
    assert stacks == EVERYTHING  # nothing trusted, everything rendered again
    assert again == first
    assert not any("<script>" in text for text in again.values())


def test_cache_holds_no_page_text(project: Path, rendered: list[str]) -> None:
    """runbooks/ itself holds the pages; the cache holds what they were made from (load
    outcomes, facts) and the manifest of runbooks/, three files whatever the size."""
    run(project, rendered)
    files = sorted(p.name for p in (project / cache.CACHE_DIR).iterdir())
    assert files == ["facts.pickle", "loads.json", "tree.json"]


def test_one_stack_edit_reads_no_page_of_the_others(project: Path, rendered: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = run(project, rendered)
    (project / "stacks" / "c.yaml").write_text(TEMPLATE_C.replace("Topic stack", "Topics"))
    with files_opened(monkeypatch) as opened:
        result = generate(load_config(str(project / "docgen.yml")))
    assert result.changed and not result.errors
    runbooks = str(project / "docs" / "runbooks")
    assert not [f for f in opened if f.startswith((os.path.join(runbooks, "a"),
                                                   os.path.join(runbooks, "b")))]
    pages = read_tree(runbooks)
    assert pages["a/index.md"] == first["a/index.md"] and pages != first
    assert pages == fresh(project, monkeypatch)


def test_runbooks_elsewhere_or_removed_renders_again(project: Path, rendered: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest describes one folder: pages are reused only from where they are."""
    first, _ = run(project, rendered)
    shutil.rmtree(project / "docs" / "runbooks")
    again, stacks = run(project, rendered)
    assert stacks == EVERYTHING and again == first
    other = project / "elsewhere"
    config = load_config(str(project / "docgen.yml"))
    rendered.clear()
    generate(dataclasses.replace(config, docs_dir=str(other)))
    assert {rel.split("/")[0] if "/" in rel else "" for rel in rendered} == EVERYTHING
    assert read_tree(str(other / "runbooks")) == first


def test_entries_of_another_user_are_ignored(project: Path, rendered: list[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    run(project, rendered)
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(project / "another-user"))
    _, stacks = run(project, rendered)
    assert stacks == EVERYTHING
    key = project / "another-user" / "cache-key"
    assert key.stat().st_mode & 0o077 == 0  # private to its user


def test_cache_disabled(project: Path, rendered: list[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCGEN_CACHE", "0")
    run(project, rendered)
    _, stacks = run(project, rendered)
    assert stacks == EVERYTHING
    assert not (project / cache.CACHE_DIR).exists()


def test_on_by_default_outside_the_suite(project: Path, rendered: list[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DOCGEN_CACHE (a user's shell), the cache is on: the second run renders
    nothing. The suite itself runs with DOCGEN_CACHE=0 (conftest)."""
    monkeypatch.delenv("DOCGEN_CACHE")
    _, first = run(project, rendered)
    _, stacks = run(project, rendered)
    assert first == EVERYTHING and stacks == set()


def test_cache_lives_outside_runbooks(project: Path, rendered: list[str]) -> None:
    pages, _ = run(project, rendered)
    assert all(rel.endswith(".md") for rel in pages)
    assert (project / ".docgen-cache").is_dir()
    gitignore = Path(__file__).resolve().parents[1] / ".gitignore"
    assert "/.docgen-cache/" in gitignore.read_text().split()


def facts_keys(root: Path) -> set[str]:
    import pickle

    body = (root / cache.CACHE_DIR / "facts.pickle").read_bytes().partition(b"\n")[2]
    return set(pickle.loads(body))


def test_stale_entries_are_pruned(project: Path, rendered: list[str]) -> None:
    run(project, rendered)
    before = facts_keys(project)
    loads = (project / cache.CACHE_DIR / "loads.json").stat().st_size
    for k in range(3):
        (project / "stacks" / "c.yaml").write_text(TEMPLATE_C + f"# edit {k}\n")
        run(project, rendered)
    after = facts_keys(project)
    assert len(after) == len(before) and after != before  # c's key changed, no more kept
    assert (project / cache.CACHE_DIR / "loads.json").stat().st_size == loads


def test_wired_stack_template_is_part_of_the_key(project: Path, rendered: list[str]) -> None:
    """A stack wired to another's output in docgen.yml follows the wiring into that
    template: a resource change there re-renders the wired stack too."""
    (project / "stacks" / "c.yaml").write_text(TEMPLATE_C.replace(
        "Resources:", "Parameters:\n  BucketName:\n    Type: String\nResources:"))
    (project / "docgen.yml").write_text(CONFIG + textwrap.indent(textwrap.dedent("""\
        parameters:
          BucketName: {stack: a, output: BucketName}
        """), "    "))
    run(project, rendered)
    (project / "stacks" / "a.yaml").write_text(TEMPLATE_A.replace("Enabled", "Suspended"))
    _, stacks = run(project, rendered)
    assert stacks == {"", "a", "c"}


def test_live_outputs_file_is_an_input(project: Path, rendered: list[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "docgen.yml").write_text(CONFIG + textwrap.dedent("""\
        environments:
          dev:
            stacks:
              a:
                outputs_file: cfn-outputs/dev/a.json
        """))
    run(project, rendered)
    _, stacks = run(project, rendered)
    assert stacks == set()
    (project / "cfn-outputs" / "dev").mkdir(parents=True)
    (project / "cfn-outputs" / "dev" / "a.json").write_text('{"BucketName": "my-bucket"}')
    pages, stacks = run(project, rendered)
    assert "a" in stacks
    assert pages == fresh(project, monkeypatch)


def test_lazy_stack_copies_are_plain_loaded_stacks(project: Path, rendered: list[str]) -> None:
    import copy

    from docgen.model import Stack

    run(project, rendered)
    result = build(load_config(str(project / "docgen.yml")))
    assert result.handbook is not None
    lazy = result.handbook.stacks[0]
    assert isinstance(lazy, cache.LazyStack) and not lazy.is_loaded
    clone = copy.deepcopy(lazy)
    assert type(clone) is Stack and clone.id == lazy.id
    assert clone.template.resource("Bucket") is not None


def test_fifo_and_oversized_files_do_not_hang_or_get_cached(project: Path,
                                                             rendered: list[str]) -> None:
    folder = project / "stacks"
    os.mkfifo(folder / "pipe.yaml")  # a naive open() would block forever
    (folder / "huge.yaml").write_text("# padding\n" * 120_000)  # over the 1 MB limit
    config = load_config(str(project / "docgen.yml"))
    for _ in range(2):
        result = build(config, [str(folder)], keep_going=True)
        assert result.handbook is not None
        assert {"pipe", "huge"} <= set(result.invalid)
        assert any("not a regular file" in d.message for d in result.errors)
    assert cache.file_digest(str(folder / "pipe.yaml")) is None
    assert cache.file_digest(str(folder / "huge.yaml")) is None
    assert cache.file_digest(str(folder / "huge.yaml"), large=True).startswith("large:")


# --- stack facts: handbook-wide pages without parsing unchanged templates -------------


def loaded_stacks(root: Path) -> set[str]:
    """Generate; the ids of the stacks whose template this run parsed."""
    result = generate(load_config(str(root / "docgen.yml")))
    assert not result.errors, result.errors
    assert result.handbook is not None
    return {s.id for s in result.handbook.stacks if s.is_loaded}  # type: ignore[attr-defined]


def test_resource_edit_parses_only_that_template(project: Path, rendered: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The handbook-wide pages (home, deployment order, DR, compliance, cost) read the
    other stacks through facts kept under their keys, so they are not parsed again."""
    run(project, rendered)
    (project / "stacks" / "b.yaml").write_text(TEMPLATE_B.replace("30", "60"))
    assert loaded_stacks(project) == {"b"}
    assert read_tree(str(project / "docs" / "runbooks")) == fresh(project, monkeypatch)
    assert (project / cache.CACHE_DIR / "facts.pickle").stat().st_size > 100


def test_facts_without_cache_are_computed(project: Path, rendered: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A facts folder that is lost, corrupt or forged is ignored: the stacks are parsed
    and the pages are the same."""
    import pickle

    first, _ = run(project, rendered)
    facts = project / cache.CACHE_DIR / "facts.pickle"
    marker = str(project / "pwned")

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (marker, "w"))

    for n, content in enumerate((b"garbage",  # then a pickle that would run code:
                                 b"0" * 64 + b"\n" + pickle.dumps(Evil()))):  # wrong MAC
        facts.write_bytes(content)
        (project / "stacks" / "b.yaml").write_text(TEMPLATE_B.replace("30", str(60 + n)))
        assert loaded_stacks(project) == {"a", "b", "c"}
        assert not (project / "pwned").exists()
        assert read_tree(str(project / "docs" / "runbooks")) == fresh(project, monkeypatch)
    (project / "stacks" / "b.yaml").write_text(TEMPLATE_B)
    assert loaded_stacks(project) == {"b"}  # facts were written again
    assert read_tree(str(project / "docs" / "runbooks")) == first


def test_example_handbook_edits_match_a_fresh_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  rendered: list[str]) -> None:
    """The example (two environments, wiring, a DR topology, costs per environment):
    after a resource edit in either stack, cached facts give the fresh pages."""
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("DOCGEN_JOBS", "1")
    monkeypatch.setenv("DOCGEN_CACHE", "1")
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(tmp_path / "user-cache"))
    root = tmp_path / "example"
    root.mkdir()
    (root / "stacks").mkdir()
    for name in ("primary.yaml", "dr.yaml"):
        (root / "stacks" / name).write_text((repo / "stacks" / name).read_text())
    (root / "docgen.yml").write_text((repo / "docgen.yml").read_text())
    (root / "docs_src").mkdir()
    run(root, rendered)
    dr = root / "stacks" / "dr.yaml"
    text = dr.read_text()
    assert "HealthCheckGracePeriodSeconds: 60" in text
    dr.write_text(text.replace("HealthCheckGracePeriodSeconds: 60",
                               "HealthCheckGracePeriodSeconds: 90"))
    _, stacks = run(root, rendered)
    assert stacks == {"", "dr"}
    assert read_tree(str(root / "docs_src" / "runbooks")) == fresh(root, monkeypatch)
    primary = root / "stacks" / "primary.yaml"
    primary.write_text(primary.read_text().replace("BackupRetentionPeriod: 7",
                                                   "BackupRetentionPeriod: 14"))
    run(root, rendered)
    assert read_tree(str(root / "docs_src" / "runbooks")) == fresh(root, monkeypatch)


# --- the tree manifest: a run with nothing changed reads no page --------------------


def test_noop_trusts_runbooks_without_reading_pages(project: Path, rendered: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = run(project, rendered)
    with files_opened(monkeypatch) as opened:
        result = generate(load_config(str(project / "docgen.yml")))
    assert result.unchanged and not result.changed
    assert sorted(result.pages) == sorted(first)
    assert not [f for f in opened if f.endswith(".md") or f"{os.sep}pages{os.sep}" in f]
    assert dict(result.pages) == first  # read from disk on demand


def test_page_edited_by_hand_is_restored(project: Path, rendered: list[str]) -> None:
    first, _ = run(project, rendered)
    page = project / "docs" / "runbooks" / "b" / "index.md"
    page.write_text(page.read_text().replace("Queue", "Qveue"))  # the same size
    again, stacks = run(project, rendered)
    assert stacks == {"b"} and again == first  # rendered again, not the edited file kept
    (project / "docs" / "runbooks" / "c" / "cost.md").unlink()
    again, stacks = run(project, rendered)
    assert stacks == {"c"} and again == first


def test_inputs_changed_back_and_forth_keep_runbooks_right(project: Path,
                                                           rendered: list[str]) -> None:
    first, _ = run(project, rendered)
    path = project / "stacks" / "c.yaml"
    path.write_text(TEMPLATE_C.replace("Topic stack", "Topic stack, edited"))
    edited, stacks = run(project, rendered)
    assert stacks == {"", "c"} and edited != first
    path.write_text(TEMPLATE_C)
    again, _ = run(project, rendered)
    assert again == first


def test_each_template_is_read_once_and_those_bytes_are_parsed(
        project: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes hashed for the key are the bytes parsed: an edit made while a run is
    under way shows in the next run, never half in this one."""
    from docgen import generate as gen

    path = project / "stacks" / "c.yaml"
    real_load = gen._load_one

    def edit_while_running(p: str, data: bytes | None = None) -> Any:
        if p.endswith("c.yaml"):  # the run has read c.yaml already: edit it now
            path.write_text(TEMPLATE_C.replace("Topic stack", "Edited topic stack"))
        return real_load(p, data)

    with files_opened(monkeypatch) as opened, monkeypatch.context() as m:
        m.setattr(gen, "_load_one", edit_while_running)
        first, _ = run(project, rendered)
    assert opened.count(str(path)) == 1
    assert "Topic stack" in first["c/index.md"] and "Edited" not in first["c/index.md"]
    again, stacks = run(project, rendered)
    assert stacks == {"", "c"} and "Edited topic stack" in again["c/index.md"]


def test_knowledge_bases_kept_per_user_give_the_same_pages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The knowledge bases a run loaded are kept per user (pickled, with this user's
    MAC), so a cold run of another project reads them back instead of parsing their
    YAML; its pages are those of a fresh run, over templates that exercise every
    security check (sentinels such as a missing property's documented default keep
    their identity through the pickle). A user knowledge folder is part of the key."""
    from docgen.generate import default_project

    repo = Path(__file__).resolve().parents[1]
    files = sorted(str(p) for p in (repo / "tests" / "fixtures" / "security").rglob("*.yaml"))
    files += [str(repo / "stacks" / "primary.yaml"), str(repo / "stacks" / "dr.yaml")]
    monkeypatch.setenv("DOCGEN_JOBS", "1")
    monkeypatch.setenv("DOCGEN_CACHE", "1")
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(tmp_path / "user-cache"))
    loaded: list[dict[Any, Any]] = []
    original = render.load_knowledge

    def spy(*args: Any) -> dict[Any, Any]:
        loaded.append(original(*args))
        return loaded[-1]

    monkeypatch.setattr(render, "load_knowledge", spy)
    first = default_project(str(tmp_path / "one"), str(tmp_path / "one" / "docs"))
    assert not generate(first, files).errors
    assert loaded and loaded[-1], "the first run loads the knowledge bases"
    loaded.clear()
    second = default_project(str(tmp_path / "two"), str(tmp_path / "two" / "docs"))
    assert not generate(second, files).errors
    assert loaded == [{}], "a cold run of another project took them from the user cache"
    monkeypatch.setenv("DOCGEN_CACHE", "0")
    assert read_tree(str(tmp_path / "two" / "docs" / "runbooks")) == \
        dict(build(second, files).pages)
    monkeypatch.setenv("DOCGEN_CACHE", "1")
    (tmp_path / "kb").mkdir()
    third = dataclasses.replace(default_project(str(tmp_path / "three"),
                                                str(tmp_path / "three" / "docs")),
                                knowledge_dir=str(tmp_path / "kb"))
    loaded.clear()
    assert not generate(third, files).errors
    assert loaded and loaded[-1], "another knowledge folder: loaded again"


# --- templates known by their looks ------------------------------------------------


def templates_read(opened: list[str], root: Path) -> set[str]:
    stacks = str(root / "stacks")
    return {Path(f).name for f in opened if f.startswith(stacks)}


def test_unchanged_templates_are_not_read_again(project: Path, rendered: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A template that looks as when the last run read it (size, times, inode) keeps
    that run's digest unread; an edited one is read; a template that must be parsed
    (its pages deleted) is read then, and the pages are those of a fresh run."""
    monkeypatch.setattr(cache, "RACY_NS", 0)  # these files were written just now
    with files_opened(monkeypatch) as opened:
        first, _ = run(project, rendered)
    assert templates_read(opened, project) == {"a.yaml", "b.yaml", "c.yaml"}
    with files_opened(monkeypatch) as opened:
        again, stacks = run(project, rendered)
    assert templates_read(opened, project) == set() and stacks == set() and again == first
    (project / "stacks" / "c.yaml").write_text(TEMPLATE_C.replace("Topic stack", "Topics"))
    with files_opened(monkeypatch) as opened:
        _, stacks = run(project, rendered)
    assert templates_read(opened, project) == {"c.yaml"} and stacks == {"", "c"}
    shutil.rmtree(project / "docs" / "runbooks" / "a")
    with files_opened(monkeypatch) as opened:
        pages, stacks = run(project, rendered)
    assert templates_read(opened, project) == {"a.yaml"} and stacks == {"a"}
    assert pages == fresh(project, monkeypatch)


def test_a_template_changed_just_before_it_was_read_is_read_again(
        project: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Written less than a second before the run read it: a second change in the same
    clock tick could keep its looks, so the next run reads it again ("racy git")."""
    (project / "stacks" / "b.yaml").write_text(TEMPLATE_B + "\n")
    run(project, rendered)
    with files_opened(monkeypatch) as opened:
        run(project, rendered)
    assert "b.yaml" in templates_read(opened, project)


def test_a_template_must_have_the_digest_it_was_known_by(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE_A)
    digest = cache._digest(TEMPLATE_A.encode())
    assert cache.checked_bytes(str(path), digest) == TEMPLATE_A.encode()
    path.write_text(TEMPLATE_A + "\n")
    with pytest.raises(DocgenError, match="changed while docgen was running"):
        cache.checked_bytes(str(path), digest)


def test_looks_that_deceive_stop_the_run_and_are_forgotten(
        project: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A template known by its looks whose bytes, read because it must be parsed, are
    not those of the digest it was known by (a file system with coarse times): the run
    stops with a clear error, keeps the previous pages, and the next run reads every
    template again."""
    from docgen.generate import generate

    monkeypatch.setattr(cache, "RACY_NS", 0)
    first, _ = run(project, rendered)
    store = cache.Store(str(project / cache.CACHE_DIR))
    a = os.path.abspath(project / "stacks" / "a.yaml")
    store.seen[a][5] = "0" * 40  # as if a.yaml had changed and kept its looks
    store.seen_dirty = True
    store.finish(set(store.loads), list(store.seen))
    shutil.rmtree(project / "docs" / "runbooks" / "a")  # so a.yaml must be parsed
    with pytest.raises(DocgenError, match=r"a\.yaml: changed while docgen was running"):
        generate(load_config(str(project / "docgen.yml")))
    assert not (project / "docs" / "runbooks" / "a").exists()
    assert read_tree(str(project / "docs" / "runbooks"))["b/index.md"] == first["b/index.md"]
    with files_opened(monkeypatch) as opened:
        pages, _ = run(project, rendered)
    assert templates_read(opened, project) == {"a.yaml", "b.yaml", "c.yaml"}
    assert pages == first
