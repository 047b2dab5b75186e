"""The CLI contract: exit codes, message format, what is written where."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from docgen import __version__
from docgen.cli import main

GOOD = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n"
BAD = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref Nope\n"


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "docgen", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_validate_exit_codes_and_format(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    assert run(["validate", "good.yaml"], tmp_path).returncode == 0
    (tmp_path / "bad.yaml").write_text(BAD)
    proc = run(["validate", "."], tmp_path)
    assert proc.returncode == 1
    assert re.search(r"^bad\.yaml:5:\d+: error: Ref to undefined parameter or resource 'Nope'",
                     proc.stderr, re.M), proc.stderr
    assert "Traceback" not in proc.stderr
    assert run(["validate"], tmp_path).returncode == 2  # usage error
    assert run(["validate", "missing.yaml"], tmp_path).returncode == 1


def test_validate_lint(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(GOOD + "    Properties:\n      NotAProperty: 1\n")
    proc = run(["validate", "--lint", "t.yaml"], tmp_path)
    assert proc.returncode == 1 and "[cfn-lint E3002]" in proc.stderr, proc.stderr


def test_generate_owns_only_runbooks(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "app.yaml").write_text(GOOD)
    docs = tmp_path / "docs_src"
    (docs / "runbooks" / "old").mkdir(parents=True)
    (docs / "runbooks" / "old" / "stale.md").write_text("stale")
    (docs / "mine.md").write_text("hand-written")
    proc = run(["generate"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    pages = sorted(p.relative_to(docs / "runbooks").as_posix()
                   for p in (docs / "runbooks").rglob("*.md"))
    assert "app/index.md" in pages and "app/deploy.md" in pages and "index.md" in pages
    assert not (docs / "runbooks" / "old").exists()
    assert (docs / "mine.md").read_text() == "hand-written"


def test_failed_generate_keeps_previous_docs(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(GOOD)
    assert run(["generate", "app.yaml", "--docs-dir", "docs"], tmp_path).returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "docs").rglob("*") if p.is_file()}
    (tmp_path / "app.yaml").write_text(BAD)
    proc = run(["generate", "app.yaml", "--docs-dir", "docs"], tmp_path)
    assert proc.returncode == 1 and "previous docs are unchanged" in proc.stderr
    after = {p: p.read_bytes() for p in (tmp_path / "docs").rglob("*") if p.is_file()}
    assert before == after


def test_stack_names_from_files_and_collisions(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "network.yaml").write_text(GOOD)
    assert run(["generate", "a", "b", "--docs-dir", "docs"], tmp_path).returncode == 0
    assert (tmp_path / "docs/runbooks/a-network/index.md").exists()
    assert (tmp_path / "docs/runbooks/b-network/index.md").exists()


@pytest.mark.slow
def test_build_bare_templates_uses_embedded_config(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(GOOD)
    proc = run(["build", "app.yaml", "--site-dir", "out"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "index.html").exists()
    assert (tmp_path / "out" / "runbooks" / "app" / "deploy" / "index.html").exists()


@pytest.mark.slow
def test_build_example_strict(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name in ("stacks", "docs_src", "site_overrides"):
        shutil.copytree(REPO / name, project / name,
                        ignore=shutil.ignore_patterns("runbooks", ".docgen*", ".runbooks*"))
    for name in ("docgen.yml", "mkdocs.yml"):
        shutil.copy(REPO / name, project / name)
    proc = run(["build", "--strict", "--site-dir", str(tmp_path / "site")], project)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site/runbooks/primary/deploy/index.html").exists()


def _run_with_tty_stderr(args: list[str], cwd: Path) -> tuple[int, str]:
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "docgen", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=300), b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("command", ["validate", "generate"])
def test_progress_bar_only_on_a_terminal_with_many_templates(tmp_path: Path,
                                                             command: str) -> None:
    for i in range(8):
        (tmp_path / f"t{i}.yaml").write_text(GOOD)
    args = [command, "."] if command == "validate" else [command, ".", "--docs-dir", "docs"]
    label = "Validating" if command == "validate" else "Reading templates"
    code, tty_err = _run_with_tty_stderr(args, tmp_path)
    assert code == 0 and label in tty_err
    piped = run(args, tmp_path)
    assert piped.returncode == 0 and label not in piped.stderr
    for i in range(3, 8):
        (tmp_path / f"t{i}.yaml").unlink()
    code, tty_err = _run_with_tty_stderr(args, tmp_path)
    assert code == 0 and label not in tty_err  # a handful of templates: no bar


@pytest.mark.parametrize(("argv", "code"), [(["--version"], 0), (["validate", "nowhere"], 1),
                                            (["no-such-command"], 2)])
def test_console_script_exits_hard_with_the_commands_code(
        argv: list[str], code: int, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``docgen`` (``cli.run``) ends with ``os._exit`` after flushing, skipping the
    interpreter's teardown; the exit code and the output are those of ``main``."""
    import docgen.cli as cli

    class Exited(Exception):
        pass

    def fake_exit(status: int) -> None:
        raise Exited(status)

    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "argv", ["docgen", *argv])
    with pytest.raises(Exited) as exited:
        cli.run()
    assert exited.value.args == (code,)
    out = capsys.readouterr()
    if code == 0:
        assert __version__ in out.out
    else:
        assert out.err


def test_console_script_output_survives_the_hard_exit(tmp_path: Path) -> None:
    """Everything written before the hard exit reaches a pipe (stdout is flushed)."""
    (tmp_path / "good.yaml").write_text(GOOD)
    proc = subprocess.run([sys.executable, "-m", "docgen", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip().endswith(__version__)
    proc = run(["generate", "good.yaml", "--docs-dir", "docs"], tmp_path)
    assert proc.returncode == 0 and "pages for 1 stack(s)" in proc.stderr
