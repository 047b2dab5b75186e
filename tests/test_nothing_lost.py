"""Nothing lost: a failed run leaves the previous ``runbooks/`` exactly as it was.

Every failure mode the issue names is produced for real (an invalid template, a Jinja
error in a user page template, a disk error, Ctrl-C mid-write, a run killed between
the two renames of the swap, two runs at once) and the docs folder is compared byte
for byte with what was there before. ``--keep-going`` and hostile stack names are here
too: hand-written files outside ``runbooks/`` never change, whatever a stack is called.
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docgen import generate as gen
from docgen.cli import main

GOOD = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n"
GOOD2 = "Description: second version\n" + GOOD + "  Topic:\n    Type: AWS::SNS::Topic\n"
BAD = GOOD + "    Properties:\n      BucketName: !Ref Nope\n"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file (dot-files and staging folders included) under ``folder``, as bytes."""
    out: dict[str, bytes] = {}
    for base, _, files in os.walk(folder):
        for name in files:
            full = Path(base, name)
            if name == ".docgen.lock":
                continue  # the lock file is docgen's and may be created by any run
            out[full.relative_to(folder).as_posix()] = full.read_bytes()
    return out


def leftovers(docs: Path) -> list[str]:
    return sorted(p.name for p in docs.iterdir() if p.name.startswith(".runbooks."))


def cli(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """In-process ``docgen`` (so failures can be injected); exceptions propagate."""
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, result.stderr


def run(args: list[str], cwd: Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "docgen", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, **kw)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two stacks generated once: ``docs/runbooks`` holds the previous good pages."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "app.yaml").write_text(GOOD)
    (tmp_path / "stacks" / "data.yaml").write_text(GOOD)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Hand-written home\n")
    code, err = cli(["generate", "--docs-dir", "docs"], tmp_path, monkeypatch)
    assert code == 0, err
    assert (tmp_path / "docs" / "runbooks" / "app" / "index.md").is_file()
    # the next run would change pages: a failure must keep the old ones
    (tmp_path / "stacks" / "app.yaml").write_text(GOOD2)
    (tmp_path / "stacks" / "data.yaml").write_text(GOOD2)
    return tmp_path


def test_invalid_template_keeps_previous_docs(project: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(project / "docs")
    (project / "stacks" / "data.yaml").write_text(BAD)
    code, err = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code == 1 and "previous docs are unchanged" in err
    assert snapshot(project / "docs") == before


def test_jinja_error_in_a_user_page_template_keeps_previous_docs(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "docgen.yml").write_text(
        "paths:\n  docs: docs\n  page_templates: overrides\n"
        "stacks:\n  app: {template: stacks/app.yaml}\n  data: {template: stacks/data.yaml}\n")
    code, err = cli(["generate"], project, monkeypatch)
    assert code == 0, err
    before = snapshot(project / "docs")
    (project / "stacks" / "app.yaml").write_text(GOOD)  # pages would change again
    overrides = project / "overrides" / "stack"
    overrides.mkdir(parents=True)
    for broken in ("{% if %}\n", "{{ no_such_variable.attribute }}\n"):  # syntax, undefined
        (overrides / "overview.md.j2").write_text("# {{ stack.name|md }}\n" + broken)
        code, err = cli(["generate"], project, monkeypatch)
        assert code == 1, err
        assert "overview.md.j2" in err and "page template error" in err, err
        assert snapshot(project / "docs") == before
        assert not leftovers(project / "docs")


def _fail_writes_after(monkeypatch: pytest.MonkeyPatch, n: int, exc: BaseException,
                       persistent: bool = False) -> None:
    """The ``n``-th page opened for writing (wherever docgen writes it) raises ``exc``;
    ``persistent``: so does every later one (a full disk stays full)."""
    real_open, real_os_open = builtins.open, os.open
    count = {"writes": 0}

    def fail(file: Any) -> None:
        if str(file).endswith(".md"):
            count["writes"] += 1
            if count["writes"] == n or (persistent and count["writes"] > n):
                raise exc

    def patched(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode:
            fail(file)
        return real_open(file, mode, *args, **kwargs)

    def patched_os_open(file: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
        if flags & (os.O_WRONLY | os.O_RDWR):
            fail(file)
        return real_os_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", patched)
    monkeypatch.setattr(os, "open", patched_os_open)


def test_disk_full_mid_write_keeps_previous_docs(project: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(project / "docs")
    _fail_writes_after(monkeypatch, 3, OSError(errno.ENOSPC, "No space left on device"),
                       persistent=True)
    code, err = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code == 1 and "No space left on device" in err, err
    assert snapshot(project / "docs") == before
    assert not leftovers(project / "docs")


def test_interrupt_mid_write_keeps_previous_docs(project: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(project / "docs")
    _fail_writes_after(monkeypatch, 2, KeyboardInterrupt())
    code, err = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code == 130 and "interrupted; the previous docs are unchanged" in err, err
    assert snapshot(project / "docs") == before
    assert not leftovers(project / "docs")


@pytest.mark.parametrize("exc", [OSError(errno.EIO, "Input/output error"), KeyboardInterrupt()],
                         ids=["disk error", "interrupt"])
def test_failure_between_the_two_renames_puts_the_old_tree_back(
        project: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """The swap is two renames (runbooks -> old, staging -> runbooks): a failure between
    them must not leave the docs without runbooks/."""
    before = snapshot(project / "docs")
    real_rename = os.rename

    def rename(src: Any, dst: Any) -> None:
        if ".runbooks.new-" in str(src) and str(dst).endswith("runbooks"):
            raise exc
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    code, err = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code in (1, 130), err
    assert snapshot(project / "docs") == before
    assert not leftovers(project / "docs")


def test_a_run_killed_between_the_renames_is_recovered(project: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL leaves runbooks/ moved aside and a staging folder: the next run under the
    lock puts things right before writing, and nothing of the kill remains."""
    docs = project / "docs"
    previous = snapshot(docs / "runbooks")
    os.rename(docs / "runbooks", docs / ".runbooks.old-killed")
    (docs / ".runbooks.new-killed" / "half").mkdir(parents=True)
    (docs / ".runbooks.new-killed" / "half" / "index.md").write_text("half written")
    (project / "stacks" / "data.yaml").write_text(BAD)  # keep-going keeps data's old pages
    code, err = cli(["generate", "--docs-dir", "docs", "--keep-going"], project, monkeypatch)
    assert code == 1, err
    assert not leftovers(docs)
    after = snapshot(docs / "runbooks")
    assert {k: v for k, v in after.items() if k.startswith("data/")} == {
        k: v for k, v in previous.items() if k.startswith("data/")}
    assert after["app/index.md"] != previous["app/index.md"]  # app was regenerated


def test_keep_going(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = project / "docs" / "runbooks"
    before = snapshot(docs)
    (project / "stacks" / "data.yaml").write_text(BAD)
    code, err = cli(["generate", "--docs-dir", "docs", "--keep-going"], project, monkeypatch)
    assert code == 1
    assert "data.yaml:5:" in err and "Ref to undefined parameter or resource 'Nope'" in err
    assert "invalid templates (their previous pages kept): data" in err
    after = snapshot(docs)
    old_data = {k: v for k, v in before.items() if k.startswith("data/")}
    assert old_data and {k: v for k, v in after.items() if k.startswith("data/")} == old_data
    assert after["app/index.md"] != before["app/index.md"]  # the valid stack was updated
    assert b"second version" in after["app/index.md"]
    # without --keep-going nothing is written at all
    (project / "stacks" / "app.yaml").write_text(GOOD)
    code, err = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code == 1 and snapshot(docs) == after


# --- two runs at once ---------------------------------------------------------------------

def _stack_set(folder: Path, prefix: str, n: int) -> list[str]:
    folder.mkdir()
    names = []
    for i in range(n):
        body = f"Description: {prefix} stack {i}\n" + GOOD + "".join(
            f"  Queue{j}:\n    Type: AWS::SQS::Queue\n" for j in range(i % 5))
        (folder / f"{prefix}{i}.yaml").write_text(body)
        names.append(f"{folder.name}/{prefix}{i}.yaml")
    return names


def test_two_runs_at_once_do_not_interleave(tmp_path: Path) -> None:
    env = {**os.environ, "DOCGEN_CACHE": "0"}
    sets = {"a": _stack_set(tmp_path / "set_a", "alpha", 12),
            "b": _stack_set(tmp_path / "set_b", "beta", 12)}
    complete: dict[str, dict[str, bytes]] = {}
    for key, files in sets.items():  # each set alone: the two possible complete outputs
        proc = run(["generate", "--docs-dir", f"alone_{key}", *files], tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        complete[key] = snapshot(tmp_path / f"alone_{key}" / "runbooks")
    assert complete["a"] != complete["b"]
    for round_ in range(4):
        procs = [subprocess.Popen([sys.executable, "-m", "docgen", "generate", "--docs-dir",
                                   "shared", *files], cwd=tmp_path, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for files in (sets["a"], sets["b"])[:: 1 if round_ % 2 else -1]]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0 and "Traceback" not in err, err
        final = snapshot(tmp_path / "shared" / "runbooks")
        assert final in (complete["a"], complete["b"]), sorted(
            set(final) ^ set(complete["a"]))[:5]
        assert not leftovers(tmp_path / "shared")


# --- whatever a stack is called, hand-written files stay --------------------------------

HOSTILE_IDS = ["../x", "../../outside", "index", "CON", "with spaces", "ünïcödé", "runbooks",
               "cost", "notes", "a/b", ".hidden", "-", "\uff26\uff35\uff2c\uff2c"]  # fullwidth FULL


def test_hostile_stack_ids_stay_inside_runbooks(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.yaml").write_text(GOOD)
    stacks = "".join(f"  {sid!r}: {{template: app.yaml}}\n".replace("'", '"')
                     for sid in HOSTILE_IDS)
    (tmp_path / "docgen.yml").write_text(f"paths:\n  docs: site/docs\nstacks:\n{stacks}")
    docs = tmp_path / "site" / "docs"
    hand = {"index.md": "home", "x/index.md": "x", "CON/index.md": "con", "cost.md": "cost",
            "runbooks.md": "rb", "notes/index.md": "n", "../outside/index.md": "o",
            "../x/index.md": "x2"}
    for rel, text in hand.items():
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_text(text)
    outside_before = {k: v for k, v in snapshot(tmp_path).items()
                      if not k.startswith("site/docs/runbooks/")}
    code, err = cli(["generate"], tmp_path, monkeypatch)
    assert code == 0, err
    after = snapshot(tmp_path)
    outside_after = {k: v for k, v in after.items() if not k.startswith("site/docs/runbooks/")
                     and not k.startswith(".docgen-cache/")}
    assert outside_after == {k: v for k, v in outside_before.items()
                             if not k.startswith(".docgen-cache/")}
    folders = sorted({k.split("/")[3] for k in after if k.startswith("site/docs/runbooks/")
                      and k.count("/") == 4})
    assert len(folders) == len(HOSTILE_IDS), folders  # one folder each, none merged
    for f in folders:
        assert f.isascii() and all(c.isalnum() or c == "-" for c in f) and f[0] != "-", f
        assert f.lower() not in ("con", "index", "cost", "notes"), f


def test_file_stacks_that_slug_alike_are_disambiguated(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    names = ["My App.yaml", "my-app.yaml", "MY_APP.yaml", "index.yaml", "CON.yaml",
             "ünï.yaml", "uni.yaml"]
    for i, name in enumerate(names):
        (stacks / name).write_text(f"Description: stack number {i}\n" + GOOD)
    code, err = cli(["generate", "--docs-dir", "docs"], tmp_path, monkeypatch)
    assert code == 0, err
    runbooks = tmp_path / "docs" / "runbooks"
    folders = sorted(p.name for p in runbooks.iterdir() if p.is_dir())
    assert len(folders) == len(names), folders
    texts = {(runbooks / f / "index.md").read_text() for f in folders}
    for i in range(len(names)):  # every stack has its own pages: nothing merged
        assert sum(f"stack number {i}" in t for t in texts) == 1, i
    assert "index" not in folders and "con" not in folders


def test_docgen_yml_ids_that_slug_alike_are_not_merged(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(GOOD)
    (tmp_path / "docgen.yml").write_text(
        "paths:\n  docs: docs\nstacks:\n  My App: {template: app.yaml}\n"
        "  my-app: {template: app.yaml}\n")
    proc = run(["generate"], tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "docgen.yml:5:" in proc.stderr and "used twice" in proc.stderr, proc.stderr
    assert not (tmp_path / "docs" / "runbooks").exists()


def test_no_staging_folder_survives_a_successful_run(project: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    code, _ = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code == 0
    assert not leftovers(project / "docs")
    shutil.rmtree(project / "docs" / "runbooks")
    code, _ = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code == 0 and (project / "docs" / "runbooks" / "index.md").is_file()
    assert gen.write_tree(str(project / "docs"), gen.read_tree(
        str(project / "docs" / "runbooks"))) is False  # equal tree: nothing rewritten


def _inodes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-links"])
def test_a_one_page_change_rewrites_that_page_only(tmp_path: Path, links: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Unchanged pages are carried into the new tree as hard links (same inode: not
    rewritten); where links fail they are copied, and the tree is the same either way."""
    docs = tmp_path / "docs"
    tree = {f"s{i}/page{j}.md": f"stack {i} page {j}\n" * 50 for i in range(5) for j in range(3)}
    tree["index.md"] = "home\n"
    assert gen.write_tree(str(docs), tree) is True
    before = _inodes(docs / "runbooks")
    if not links:
        def no_link(*_args: object) -> None:
            raise OSError(1, "Operation not permitted")
        monkeypatch.setattr(gen.os, "link", no_link)
    changed = dict(tree)
    changed["s2/page1.md"] = "stack 2 page 1, edited\n"  # a different size
    changed["s3/page0.md"] = tree["s3/page0.md"].replace("stack", "STACK")  # the same size
    del changed["s4/page2.md"]
    changed["s5/page0.md"] = "new\n"
    assert gen.write_tree(str(docs), changed) is True
    assert gen.read_tree(str(docs / "runbooks")) == changed
    after = _inodes(docs / "runbooks")
    kept = {rel for rel in after if rel in before and after[rel] == before[rel]}
    rewritten = {"s2/page1.md", "s3/page0.md", "s5/page0.md"}
    if links:
        assert kept == set(changed) - rewritten
    else:
        assert not kept
    assert not leftovers(docs)
    assert gen.write_tree(str(docs), changed) is False


def test_prestaged_pages_are_moved_only_when_complete(tmp_path: Path) -> None:
    """Pages written early by the rendering processes are moved into the new tree; one
    cut short (its size differs from the page's) is never used."""
    docs = tmp_path / "docs"
    pre = docs / ".runbooks.pre-test"
    tree = {"a/index.md": "page a\n", "b/index.md": "page b\n", "index.md": "home\n"}
    gen.prestage_pages(str(pre), {"a/index.md": "page a\n", "b/index.md": "page"})
    ino = (pre / "a" / "index.md").stat().st_ino
    assert gen.write_tree(str(docs), tree, prestaged=str(pre)) is True
    assert gen.read_tree(str(docs / "runbooks")) == tree
    assert (docs / "runbooks" / "a" / "index.md").stat().st_ino == ino  # moved, not copied
    assert not pre.exists() and not leftovers(docs)


def test_generate_leaves_no_prestage_folder(project: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    code, _ = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code == 0 and not leftovers(project / "docs")


def test_prestage_stops_at_a_failed_write_and_says_so(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A rendering process reports the files it wrote (so the parent need not walk the
    folder); after a failed write it removes the partial file and reports nothing, and
    write_tree then looks at the folder itself."""
    pre = tmp_path / ".runbooks.pre-test"
    pages = {"a/index.md": "page a\n", "b/index.md": "page b\n", "c/index.md": "page c\n"}
    written = gen.prestage_pages(str(pre), pages)
    assert written is not None and set(written) == set(pages)
    assert all(written[rel] == gen._stat(str(pre / rel)) for rel in pages)
    shutil.rmtree(pre)
    real_write = os.write
    calls = {"n": 0}

    def short_then_full(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            real_write(fd, bytes(data[:3]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short_then_full)
    assert gen.prestage_pages(str(pre), pages) is None
    monkeypatch.undo()
    assert not (pre / "b" / "index.md").exists()  # the partial page is gone
    docs = tmp_path / "docs"
    assert gen.write_tree(str(docs), pages, prestaged=str(pre)) is True
    assert gen.read_tree(str(docs / "runbooks")) == pages


def test_manifest_stats_are_those_on_disk(project: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The stats the writers report (instead of a walk) are the files' real ones."""
    import json

    from docgen import cache

    monkeypatch.setenv("DOCGEN_CACHE", "1")
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(project / "user-cache"))
    code, _ = cli(["generate", "--docs-dir", "docs"], project, monkeypatch)
    assert code == 0
    body = (project / cache.CACHE_DIR / "tree.json").read_bytes().partition(b"\n")[2]
    assert json.loads(body)["files"] == cache._tree_stats(str(project / "docs" / "runbooks"))
