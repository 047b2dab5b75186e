"""Loading and rendering in forked workers that keep what they parsed.

A cold run with many templates hands them to a crew of forked workers
(``docgen.stackworkers``): each parses a share, sends back only the load outcome and
the stack's surface part, then renders the stacks it parsed (and takes over the
smallest ones of another worker when its own run out). The thresholds are lowered so
that a few templates go through the crew; spies record which process parsed and
rendered, so a test fails if the run quietly stayed in one process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from docgen import loader, parallel, render, stackworkers
from docgen.config import load_config
from docgen.diagnostics import DocgenError
from docgen.generate import build, default_project
from docgen.model import ProjectConfig

REPO = Path(__file__).resolve().parents[1]

BUCKET = """\
Parameters:
  Env: {{Type: String, Default: dev}}
Resources:
  Bucket{n}:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "b{n}-${{Env}}"
Outputs:
  Name:
    Value: !Ref Bucket{n}
    Export: {{Name: !Sub "${{AWS::StackName}}-bucket{n}"}}
"""
IMPORTER = """\
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !ImportValue t0-bucket0
"""


@pytest.fixture
def crew(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers from two templates on."""
    monkeypatch.setenv("DOCGEN_JOBS", "2")
    monkeypatch.setattr(parallel, "MIN_STACKS_FOR_POOL", 1)


def spy(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, log: Path) -> None:
    """Record the pid of each call of ``module.name`` (forked workers inherit the spy)."""
    original = getattr(module, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)


def pids(log: Path) -> set[str]:
    return set(log.read_text().split()) if log.exists() else set()


def example(tmp_path: Path) -> ProjectConfig:
    """The repository's example project (environments, wiring, DR), docs under tmp."""
    return dataclasses.replace(load_config(str(REPO / "docgen.yml")),
                               docs_dir=str(tmp_path / "docs"))


def templates(folder: Path, count: int = 6) -> list[str]:
    """``count`` small stacks exporting a bucket name, one importing another's export."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(count):
        path = folder / f"t{n}.yaml"
        path.write_text(IMPORTER if n == count - 1 else BUCKET.format(n=n), encoding="utf-8")
        files.append(str(path))
    return files


def one_process(project: ProjectConfig, files: list[str] | None,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    with monkeypatch.context() as m:
        m.setenv("DOCGEN_JOBS", "1")
        result = build(project, files)
    assert result.handbook is not None and not result.errors
    return dict(result.pages)


def test_example_project_in_the_crew_equals_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crew: None) -> None:
    """Environments, wiring between the stacks, DR: the pages are the one-process
    pages, byte for byte; the templates were parsed and the stacks rendered in two
    worker processes, and the handbook pages in one of them."""
    project = example(tmp_path)
    serial = one_process(project, None, monkeypatch)
    parsed, rendered = tmp_path / "parsed.txt", tmp_path / "rendered.txt"
    spy(monkeypatch, loader, "load_template", parsed)
    spy(monkeypatch, render, "render_stack", rendered)
    handbook_pages = tmp_path / "handbook.txt"
    spy(monkeypatch, render, "render_handbook_pages", handbook_pages)
    result = build(project)
    assert not result.errors
    me = str(os.getpid())
    assert len(pids(parsed) - {me}) == 2, pids(parsed)
    assert me not in pids(rendered) and len(pids(rendered)) == 2, pids(rendered)
    assert me not in pids(handbook_pages) and len(pids(handbook_pages)) == 1
    assert list(result.pages) == list(serial)
    assert dict(result.pages) == serial


def test_imports_across_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                crew: None) -> None:
    """A stack imports an export of a stack parsed by the other worker: its outputs
    page ("imported by") and the deployment order see it through the surface parts."""
    files = templates(tmp_path / "stacks")
    project = default_project(str(tmp_path), str(tmp_path / "docs"))
    serial = one_process(project, files, monkeypatch)
    result = build(project, files)
    assert dict(result.pages) == serial
    assert "t5" in serial["t0/outputs.md"]  # imported by the last stack
    order = serial["deployment-order.md"]
    assert order.index("t0") < order.index("t5")


def test_a_worker_takes_over_stacks_it_did_not_parse(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crew: None) -> None:
    """Every stack handed first to one worker: the other, idle, takes over the
    smallest of them (parsing them again); the output is the same."""
    files = templates(tmp_path / "stacks", 8)
    project = default_project(str(tmp_path), str(tmp_path / "docs"))
    serial = one_process(project, files, monkeypatch)
    original = stackworkers.Crew.load

    def all_to_the_first(self: stackworkers.Crew, *args: Any) -> Any:
        got = original(self, *args)
        self.owner = dict.fromkeys(self.owner, 0)
        return got

    monkeypatch.setattr(stackworkers.Crew, "load", all_to_the_first)
    rendered = tmp_path / "rendered.txt"
    spy(monkeypatch, render, "render_stack", rendered)
    result = build(project, files)
    assert len(pids(rendered)) == 2, "the idle worker rendered nothing"
    assert dict(result.pages) == serial


def test_whoever_is_free_parses_the_next_template(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crew: None) -> None:
    """Templates are taken one at a time, largest first: while one worker is stuck on
    the largest, the other parses all the rest."""
    files = templates(tmp_path / "stacks", 8)
    big = Path(files[0])
    big.write_text(big.read_text() + "".join(f"# padding {n}\n" for n in range(200)))
    original = loader.load_template

    def slow_on_the_largest(path: str, data: bytes | None = None) -> Any:
        if path == str(big):
            import time

            time.sleep(1.0)
        return original(path, data)

    monkeypatch.setattr(loader, "load_template", slow_on_the_largest)
    owners: dict[int, int] = {}
    load = stackworkers.Crew.load

    def spy_owners(self: stackworkers.Crew, *args: Any) -> Any:
        got = load(self, *args)
        owners.update(self.owner)  # config index -> the worker that parsed it
        return got

    monkeypatch.setattr(stackworkers.Crew, "load", spy_owners)
    result = build(default_project(str(tmp_path), str(tmp_path / "docs")), files)
    assert not result.errors
    stuck = owners[0]
    assert [i for i, w in owners.items() if w == stuck] == [0], owners
    assert len(owners) == 8


def errors_in_one_process_and_two(project: ProjectConfig, files: list[str],
                                  monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The error a build raises with one process, then with two workers."""
    errors = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("DOCGEN_JOBS", jobs)
        with pytest.raises(DocgenError) as caught:
            build(project, files)
        errors.append(str(caught.value))
    return errors


@pytest.mark.parametrize("page, broken, named", [
    ("stack/overview.md.j2",
     "{% if stack.id in ('t2', 't4') %}{{ stack.id ~ no_such_variable }}{% endif %}\n",
     "t2/index.md"),
    ("handbook/index.md.j2", "{{ no_such_variable }}\n", "index.md"),
])
def test_a_page_error_is_the_one_process_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, crew: None,
                                               page: str, broken: str, named: str) -> None:
    """Stack pages that fail to render (two of them) or the handbook pages: the error
    raised is the one a single process raises (the first stack in input order, however
    the workers' timing went)."""
    files = templates(tmp_path / "stacks")
    override = tmp_path / "overrides" / page
    override.parent.mkdir(parents=True)
    override.write_text(broken)
    project = dataclasses.replace(default_project(str(tmp_path), str(tmp_path / "docs")),
                                  page_templates_dir=str(tmp_path / "overrides"))
    errors = errors_in_one_process_and_two(project, files, monkeypatch)
    assert f"while rendering {named}:" in errors[0], errors[0]
    assert "no_such_variable" in errors[0]
    assert errors[1] == errors[0]
    assert not multiprocessing.active_children()


def test_a_dependency_cycle_is_the_one_process_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     crew: None) -> None:
    """Two stacks importing each other's exports: the deployment order fails while
    the workers compute facts; the error is the one-process error."""
    files = templates(tmp_path / "stacks")
    Path(files[0]).write_text(BUCKET.format(n=0) + "  Back:\n    Value: !ImportValue t5-topic\n")
    Path(files[5]).write_text(IMPORTER + "Outputs:\n  T:\n    Value: !Ref Topic\n"
                              "    Export: {Name: t5-topic}\n")
    project = default_project(str(tmp_path), str(tmp_path / "docs"))
    errors = errors_in_one_process_and_two(project, files, monkeypatch)
    assert "cycle" in errors[0] and "t0" in errors[0] and "t5" in errors[0], errors[0]
    assert errors[1] == errors[0]


def test_an_unexpected_error_in_a_worker_reaches_the_parent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crew: None) -> None:
    files = templates(tmp_path / "stacks")
    original = loader.load_template

    def broken(path: str, data: bytes | None = None) -> Any:
        if path.endswith("t3.yaml"):
            raise RuntimeError("parser bug")
        return original(path, data)

    monkeypatch.setattr(loader, "load_template", broken)
    with pytest.raises(RuntimeError, match="parser bug"):
        build(default_project(str(tmp_path), str(tmp_path / "docs")), files)
    assert not multiprocessing.active_children()


def test_invalid_templates_in_the_crew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       crew: None) -> None:
    """Diagnostics come back from the workers as one process reports them; without
    --keep-going nothing renders, with it the valid stacks do."""
    files = templates(tmp_path / "stacks")
    Path(files[1]).write_text("Resources:\n  A: {Type: AWS::S3::Bucket}\n"
                              "  A: {Type: AWS::S3::Bucket}\n")
    project = default_project(str(tmp_path), str(tmp_path / "docs"))
    monkeypatch.setenv("DOCGEN_JOBS", "1")
    serial = [build(project, files, keep_going=k) for k in (False, True)]
    monkeypatch.setenv("DOCGEN_JOBS", "2")
    two = [build(project, files, keep_going=k) for k in (False, True)]
    for one, other in zip(serial, two, strict=True):
        assert [str(d) for d in other.diagnostics] == [str(d) for d in one.diagnostics]
        assert other.invalid == one.invalid == ["t1"]
        assert dict(other.pages) == dict(one.pages)
    assert two[0].handbook is None and two[1].handbook is not None
    assert len(two[1].pages) > 0
    assert not multiprocessing.active_children()


def test_loads_from_the_cache_render_in_the_pool(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 crew: None) -> None:
    """With every template's load outcome cached but the pages gone (runbooks/
    deleted), nothing needs parsing up front: the templates are parsed here and the
    stacks rendered by the pool of docgen.parallel; the pages are the same."""
    from docgen.generate import generate, read_tree

    monkeypatch.setenv("DOCGEN_CACHE", "1")
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(tmp_path / "user-cache"))
    files = templates(tmp_path / "stacks")
    project = default_project(str(tmp_path), str(tmp_path / "docs"))
    assert not generate(project, files).errors
    first = read_tree(str(tmp_path / "docs" / "runbooks"))
    shutil.rmtree(tmp_path / "docs" / "runbooks")
    started = []
    monkeypatch.setattr(stackworkers.Crew, "__init__",
                        lambda *a, **k: started.append(1) or pytest.fail("crew started"))
    rendered = tmp_path / "rendered.txt"
    spy(monkeypatch, render, "render_stack", rendered)
    assert not generate(project, files).errors
    assert not started and len(pids(rendered)) >= 2
    assert read_tree(str(tmp_path / "docs" / "runbooks")) == first


def test_large_results_and_facts_both_ways_do_not_block(tmp_path: Path) -> None:
    """Without a prestage folder the workers send the pages' text back (megabytes),
    and the handbook-pages task carries the other worker's facts (megabytes): the
    parent must never wait on a full pipe while the worker waits on the other one.
    Run in a child with a time limit: a hang fails the test instead of the suite."""
    import subprocess
    import sys

    folder = tmp_path / "stacks"
    folder.mkdir()
    for n in range(48):
        resources = "".join(
            f"  Bucket{k}:\n    Type: AWS::S3::Bucket\n    Properties:\n"
            f"      BucketName: !Sub 'b{n}-{k}-${{AWS::AccountId}}'\n" for k in range(40))
        (folder / f"t{n}.yaml").write_text("Resources:\n" + resources)
    code = (
        "import os\n"
        "from docgen import parallel\n"
        "from docgen.generate import build, default_project\n"
        "parallel.MIN_STACKS_FOR_POOL = 1\n"
        f"r = build(default_project({str(tmp_path)!r}, {str(tmp_path / 'docs')!r}), "
        f"[{str(folder)!r}])\n"
        "assert not r.errors and len(r.pages) > 400, len(r.pages)\n")
    env = {**os.environ, "DOCGEN_JOBS": "2", "DOCGEN_CACHE": "0"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_each_pipe_to_a_worker_has_one_writer(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              crew: None) -> None:
    """Everything the parent sends a worker (tasks, the handbook pages' megabytes of
    facts) goes through that worker's sender thread: two writers on one pipe could
    interleave their bytes."""
    from multiprocessing import connection

    writers: dict[int, set[str]] = {}
    original = connection.Connection.send_bytes

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        import threading

        writers.setdefault(id(self), set()).add(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(connection.Connection, "send_bytes", spy)
    files = templates(tmp_path / "stacks", 8)
    result = build(default_project(str(tmp_path), str(tmp_path / "docs")), files)
    assert not result.errors and "index.md" in result.pages
    assert len(writers) == 2 and all(len(names) == 1 for names in writers.values()), writers
    assert "MainThread" not in set().union(*writers.values())


def test_a_worker_that_dies_ends_the_run_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crew: None) -> None:
    files = templates(tmp_path / "stacks")
    original = render.render_stack

    def dies_on_t3(handbook: Any, n: int, *args: Any) -> Any:
        if handbook.stacks[n].id == "t3":
            os._exit(9)  # as if killed
        return original(handbook, n, *args)

    monkeypatch.setattr(render, "render_stack", dies_on_t3)
    with pytest.raises(DocgenError, match="ended unexpectedly"):
        build(default_project(str(tmp_path), str(tmp_path / "docs")), files)
    assert not multiprocessing.active_children()


def test_workers_end_when_the_parent_is_killed(tmp_path: Path) -> None:
    """The parent's ends of the pipes are closed in the workers: killed, it leaves
    no worker waiting forever for it."""
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "stacks"
    templates(folder, 8)
    pids = tmp_path / "pids.txt"
    code = (
        "import os, time\n"
        "from docgen import loader, parallel\n"
        "from docgen.generate import build, default_project\n"
        "parallel.MIN_STACKS_FOR_POOL = 1\n"
        "original = loader.load_template\n"
        "def slow(path, data=None):\n"
        f"    with open({str(pids)!r}, 'a') as fh: fh.write(f'{{os.getpid()}}\\n')\n"
        "    time.sleep(0.3)\n"
        "    return original(path, data)\n"
        "loader.load_template = slow\n"
        f"build(default_project({str(tmp_path)!r}, {str(tmp_path / 'docs')!r}), "
        f"[{str(folder)!r}])\n")
    env = {**os.environ, "DOCGEN_JOBS": "2", "DOCGEN_CACHE": "0"}
    parent = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 30
        while len(set(pids.read_text().split()) if pids.exists() else ()) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        workers = {int(p) for p in pids.read_text().split()}

        def alive(pid: int) -> bool:
            try:
                with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
                    return fh.read().split(") ")[1][0] != "Z"  # a zombie has ended
            except OSError:
                return False

        deadline = time.monotonic() + 20
        while any(alive(p) for p in workers):
            assert time.monotonic() < deadline, f"orphaned workers: {workers}"
            time.sleep(0.1)
    finally:
        parent.kill()
