"""Parallel loading and rendering give the serial output, byte for byte.

The pool thresholds are lowered so that a dozen templates go through worker
processes; a spy records which processes rendered, so the test fails if the "parallel"
run quietly stayed in one process.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from docgen import parallel, render
from docgen.generate import build, default_project
from docgen.loader import load_template
from docgen.model import NO_DEFAULT

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DOCGEN_CORPUS", REPO.parent / "shared" / "corpus")) / "real"


def sample_templates(count: int = 12) -> list[str]:
    """The example stacks plus valid templates of assorted services: from the corpus
    when it is there, else (and to fill up) the security fixtures of this repository,
    so that the parallel tests run on a clean checkout too."""
    files = [str(p) for p in sorted((REPO / "stacks").glob("*.yaml"))]
    pools = [CORPUS] if CORPUS.is_dir() else []
    pools.append(REPO / "tests" / "fixtures" / "security")
    for pool in pools:
        candidates = sorted(p for p in pool.rglob("*")
                            if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
        step = max(1, len(candidates) // (count * 3))
        for path in candidates[::step]:
            if len(files) >= count:
                return files
            if path.stat().st_size < 60_000 and load_template(str(path))[0] is not None:
                files.append(str(path))
    return files


@pytest.fixture
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCGEN_CACHE", "0")


def run(jobs: int, files: list[str], root: Path, monkeypatch: pytest.MonkeyPatch,
        pid_log: Path | None = None) -> dict[str, str]:
    monkeypatch.setenv("DOCGEN_JOBS", str(jobs))
    if pid_log is not None:
        original = render.render_stack

        def spy(*args: Any, **kwargs: Any) -> Any:
            with open(pid_log, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\n")
            return original(*args, **kwargs)

        monkeypatch.setattr(render, "render_stack", spy)
    result = build(default_project(str(root), str(root / "docs")), files)
    assert result.handbook is not None and not result.errors
    if pid_log is not None:
        monkeypatch.setattr(render, "render_stack", original)
    return result.pages


def test_parallel_equals_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                no_cache: None) -> None:
    files = sample_templates()
    assert len(files) >= 6
    monkeypatch.setattr(parallel, "MIN_ITEMS_FOR_POOL", 2)
    monkeypatch.setattr(parallel, "MIN_STACKS_FOR_POOL", 2)
    serial = run(1, files, tmp_path, monkeypatch)
    log = tmp_path / "pids.txt"
    two = run(2, files, tmp_path, monkeypatch, pid_log=log)
    pids = set(log.read_text().split())
    # every stack renders in one of 2 workers (the crew: docgen.stackworkers)
    assert str(os.getpid()) not in pids and len(pids) == 2, pids
    assert list(two) == list(serial)  # same pages, same order
    assert two == serial  # same bytes


def test_parallel_with_cache_equals_serial(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold cached parallel run and an uncached serial run agree."""
    files = sample_templates(8)
    monkeypatch.setattr(parallel, "MIN_STACKS_FOR_POOL", 2)
    monkeypatch.setenv("DOCGEN_CACHE", "1")
    two = run(2, files, tmp_path / "a", monkeypatch)
    again = run(2, files, tmp_path / "a", monkeypatch)
    monkeypatch.setenv("DOCGEN_CACHE", "0")
    serial = run(1, files, tmp_path / "b", monkeypatch)
    assert two == again == serial


def test_small_inputs_stay_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      no_cache: None) -> None:
    log = tmp_path / "pids.txt"
    run(2, sample_templates(2), tmp_path, monkeypatch, pid_log=log)
    assert set(log.read_text().split()) == {str(os.getpid())}


def test_map_ordered_keeps_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCGEN_JOBS", "2")
    monkeypatch.setattr(parallel, "MIN_ITEMS_FOR_POOL", 1)
    items = list(range(50))
    assert parallel.map_ordered(abs, [-i for i in items]) == items


def test_workers_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCGEN_JOBS", "3")
    assert parallel.workers() == 3
    monkeypatch.setenv("DOCGEN_JOBS", "0")
    assert parallel.workers() == 1
    monkeypatch.setenv("DOCGEN_JOBS", "many")
    assert parallel.workers() == (os.cpu_count() or 1)


def test_no_default_marker_survives_pickling() -> None:
    """Templates come back from loader processes by pickle; ``has_default`` tests the
    marker by identity."""
    assert pickle.loads(pickle.dumps(NO_DEFAULT)) is NO_DEFAULT
    template, _ = load_template(str(REPO / "stacks" / "dr.yaml"))
    assert template is not None
    back = pickle.loads(pickle.dumps(template))
    assert [p.has_default for p in back.parameters] == \
        [p.has_default for p in template.parameters]


def test_validate_in_workers_equals_serial(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``docgen validate`` checks many files in worker processes (which send back only
    verdicts and diagnostics); its output and exit code are the serial run's."""
    from click.testing import CliRunner

    from docgen import modelbuild
    from docgen.cli import main

    files = sample_templates(8)
    bad = {"dup.yaml": "Resources:\n  B: {Type: AWS::S3::Bucket}\n  B: {Type: X::Y::Z}\n",
           "ref.yaml": "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n"
                       "      BucketName: !Ref Nope\n",
           "warn.yaml": "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n"
                        "    Type: AWS::Serverless::Function\n    Properties: {Role: !Ref R}\n"}
    for name, text in bad.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.insert(len(files) // 2, str(tmp_path / name))
    monkeypatch.setattr(parallel, "MIN_ITEMS_FOR_POOL", 2)
    log = tmp_path / "pids.txt"
    original = modelbuild.load_template

    def spy(path: str) -> Any:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
        return original(path)

    monkeypatch.setattr(modelbuild, "load_template", spy)
    results = {}
    for jobs in ("1", "2"):
        monkeypatch.setenv("DOCGEN_JOBS", jobs)
        log.write_text("")
        results[jobs] = CliRunner().invoke(main, ["-v", "validate", *files])
        pids = set(log.read_text().split())
        if jobs == "1":
            assert pids == {str(os.getpid())}
        else:  # every file was checked in a worker
            assert pids and str(os.getpid()) not in pids, pids
    serial, two = results["1"], results["2"]
    assert serial.exit_code == two.exit_code == 1
    assert "duplicate key 'B'" in serial.output and "Nope" in serial.output
    assert "warning" in serial.output
    assert two.output == serial.output


def test_generate_in_workers_writes_the_serial_pages(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     no_cache: None) -> None:
    """``generate`` with workers: they write the pages into the prestage folder and
    send back names and file stats, not text. The tree on disk is the serial one, the
    result reads those pages back, and a second run finds nothing to rewrite (it
    compares the workers' files with the tree file to file)."""
    from docgen.generate import generate, read_tree

    files = sample_templates(8)
    monkeypatch.setattr(parallel, "MIN_STACKS_FOR_POOL", 2)
    serial = run(1, files, tmp_path / "serial", monkeypatch)
    monkeypatch.setenv("DOCGEN_JOBS", "2")
    project = default_project(str(tmp_path / "p"), str(tmp_path / "p" / "docs"))
    result = generate(project, files)
    assert result.changed and not result.errors
    runbooks = tmp_path / "p" / "docs" / "runbooks"
    assert read_tree(str(runbooks)) == serial
    assert len(result.pages.fresh) < len(serial)  # type: ignore[attr-defined]
    assert dict(result.pages) == serial
    inodes = {p: p.stat().st_ino for p in runbooks.rglob("*.md")}
    again = generate(project, files)
    assert not again.changed
    assert {p: p.stat().st_ino for p in runbooks.rglob("*.md")} == inodes


def _edit_after_first_run(root: Path, files: list[str], jobs: int,
                          monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], dict[str, str]]:
    """Copy ``files`` under ``root``, generate with ``jobs`` and the cache, edit the last
    template, generate in one process: (templates parsed by that run, pages on disk)."""
    import shutil

    from docgen.generate import generate, read_tree

    (root / "stacks").mkdir(parents=True)
    copies = []
    for n, f in enumerate(files):
        copy = root / "stacks" / f"t{n}{Path(f).suffix}"
        shutil.copy(f, copy)
        copies.append(str(copy))
    monkeypatch.setenv("DOCGEN_JOBS", str(jobs))
    project = default_project(str(root), str(root / "docs"))
    assert not generate(project, copies).errors
    edited = Path(copies[-1])
    edited.write_text(edited.read_text() + "\n")
    monkeypatch.setenv("DOCGEN_JOBS", "1")
    result = generate(project, copies)
    assert result.handbook is not None and not result.errors
    parsed = {Path(s.config.template_path).name for s in result.handbook.stacks
              if s.is_loaded}  # type: ignore[attr-defined]
    return parsed, read_tree(str(root / "docs" / "runbooks"))


def test_facts_pickled_by_workers_serve_the_next_run(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers send each stack's facts pickled; the cache stores those bytes as they
    are. After a one-template edit the handbook pages are made from them exactly as
    from facts kept by a one-process run: the same few templates parsed (the edited
    one, and those the example's DR procedure follows), the same pages."""
    files = sample_templates(8)
    monkeypatch.setattr(parallel, "MIN_STACKS_FOR_POOL", 2)
    monkeypatch.setenv("DOCGEN_CACHE", "1")
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(tmp_path / "user-cache"))
    parsed_two, pages_two = _edit_after_first_run(tmp_path / "two", files, 2, monkeypatch)
    parsed_one, pages_one = _edit_after_first_run(tmp_path / "one", files, 1, monkeypatch)
    assert f"t{len(files) - 1}{Path(files[-1]).suffix}" in parsed_two
    assert parsed_two == parsed_one and len(parsed_two) < len(files)
    assert pages_two == pages_one
