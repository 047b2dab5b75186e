"""The CI recipes of the handbook and the pre-commit hooks run real commands.

Why: a recipe that calls ``docgen check --fail-at high`` fails only in the team's CI, months
later. So every fenced YAML block of ``docs_src/ci.md`` is parsed, every shell line it runs
is split into commands, and each ``docgen``/``mkdocs`` command is parsed by that tool's own
click command objects (unknown subcommand, unknown option, bad choice or missing required
option: the test fails). The same goes for the hooks in ``.pre-commit-hooks.yaml``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from docgen.cli import main as docgen_cli

REPO = Path(__file__).resolve().parents[1]
CI_DOC = REPO / "docs_src" / "ci.md"
HOOKS = REPO / ".pre-commit-hooks.yaml"

_FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)
_OPERATORS = {"|", "||", "&&", ";", "&"}
_REDIRECTS = {">", ">>", "<", "2>", "2>>", "&>"}


def yaml_blocks(markdown: str) -> list[str]:
    return [m["body"] for m in _FENCE.finditer(markdown) if m["info"].strip() in ("yaml", "yml")]


def shell_scripts(node: Any) -> Iterator[str]:
    """Shell text a CI file runs: GitHub ``run:``, GitLab ``script``/``before_script``..."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                yield value
            elif key in ("script", "before_script", "after_script"):
                items = value if isinstance(value, list) else [value]
                yield from (v for v in items if isinstance(v, str))
            else:
                yield from shell_scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from shell_scripts(item)


def commands(script: str) -> Iterator[list[str]]:
    """Simple commands of a shell script: lines joined, split at operators, redirects cut."""
    text = re.sub(r"\\\n", " ", script)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        skip_next = False
        for token in lexer:
            if skip_next:
                skip_next = False
                continue
            if token in _OPERATORS:
                if current:
                    yield current
                current = []
            elif token in _REDIRECTS or (token.endswith((">", ">>")) and token[:-1].isdigit()):
                skip_next = True
            else:
                current.append(token)
        if current:
            yield current


def click_problem(cli: click.Command, argv: list[str], prog: str) -> str | None:
    """Parse ``argv`` with the tool's own click objects; the problem, or None if it parses."""
    try:
        ctx = cli.make_context(prog, list(argv), resilient_parsing=False)
        if isinstance(cli, click.Group):
            # click keeps the subcommand and its arguments for invoke(): parse them too
            rest = [*ctx._protected_args, *ctx.args]  # type: ignore[attr-defined]
            if not rest:
                return "no subcommand"
            name, sub, sub_args = cli.resolve_command(ctx, rest)
            assert sub is not None and name is not None
            return click_problem_sub(sub, sub_args, name, ctx)
    except click.exceptions.Exit:
        return None
    except click.ClickException as exc:
        return exc.format_message()
    return None


def click_problem_sub(cmd: click.Command, argv: list[str], name: str,
                      parent: click.Context) -> str | None:
    try:
        cmd.make_context(name, list(argv), parent=parent, resilient_parsing=False)
    except click.exceptions.Exit:
        return None
    except click.ClickException as exc:
        return exc.format_message()
    return None


def mkdocs_cli() -> click.Command:
    from mkdocs.__main__ import cli

    return cli


def check_command(words: list[str]) -> str | None:
    """A problem with one command line of a recipe, or None (other tools are not checked)."""
    if words[:3] == [sys.executable, "-m", "docgen"] or words[:3] == ["python", "-m", "docgen"]:
        words = ["docgen", *words[3:]]
    if words[0] == "docgen":
        return click_problem(docgen_cli, words[1:], "docgen")
    if words[0] == "mkdocs":
        return click_problem(mkdocs_cli(), words[1:], "mkdocs")
    return None


def recipe_commands() -> list[list[str]]:
    out = []
    for block in yaml_blocks(CI_DOC.read_text(encoding="utf-8")):
        data = yaml.safe_load(block)
        for script in shell_scripts(data):
            out.extend(commands(script))
    return out


# --- the recipes in docs_src/ci.md ------------------------------------------------------------

def test_recipes_parse_as_yaml() -> None:
    blocks = yaml_blocks(CI_DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "GitHub Actions, GitLab CI and pre-commit recipes"
    for block in blocks:
        assert isinstance(yaml.safe_load(block), (dict, list))


def test_recipes_run_real_commands() -> None:
    cmds = recipe_commands()
    problems = [f"{shlex.join(c)}: {p}" for c in cmds if (p := check_command(c))]
    assert not problems, "\n".join(problems)


def test_recipes_cover_the_gates() -> None:
    """Both CI systems validate, check freshness, gate on findings and build the site."""
    text = CI_DOC.read_text(encoding="utf-8")
    github = gitlab = None
    for block in yaml_blocks(text):
        data = yaml.safe_load(block)
        if isinstance(data, dict) and "jobs" in data:  # (`on:` loads as the key True)
            github = data
        elif isinstance(data, dict) and "stages" in data:
            gitlab = data
    assert github is not None and gitlab is not None
    for data in (github, gitlab):
        lines = [shlex.join(c) for s in shell_scripts(data) for c in commands(s)]
        assert any(line.startswith("docgen validate") for line in lines)
        assert "docgen generate --check" in lines
        assert any(re.match(r"docgen check .*--fail-on (high|critical|medium|low)", line)
                   for line in lines)
        assert any(line.startswith(("mkdocs build --strict", "mkdocs gh-deploy"))
                   for line in lines)
    gh_lines = [shlex.join(c) for s in shell_scripts(github) for c in commands(s)]
    assert any(line.startswith("mkdocs gh-deploy") for line in gh_lines)
    assert "pages" in gitlab and gitlab["pages"]["artifacts"]["paths"] == ["public"]


def test_checker_catches_wrong_commands() -> None:
    """The checker itself must be able to fail."""
    bad = [
        "docgen generate --chek",
        "docgen check --fail-on severe",
        "docgen outputs --region us-east-1",  # --stack is required
        "docgen publish",
        "mkdocs gh-deploy --forse",
    ]
    for line in bad:
        words = next(commands(line))
        assert check_command(words), f"{line!r} should be rejected"
    good = ["docgen -q generate --check", "docgen check --format sarif",
            "mkdocs build --strict --site-dir public"]
    for line in good:
        assert check_command(next(commands(line))) is None, line


def test_command_splitting() -> None:
    got = list(commands("docgen check --format sarif > out.sarif || true\n"
                        "a && docgen generate \\\n  --check  # comment"))
    assert got == [["docgen", "check", "--format", "sarif"], ["true"], ["a"],
                   ["docgen", "generate", "--check"]]


def test_outputs_command_on_pages_is_real(tmp_path: Path) -> None:
    """The `docgen outputs` line the outputs page prints parses too."""
    runbooks = REPO / "docs_src" / "runbooks"
    pages = sorted(runbooks.glob("*/outputs.md"))
    if not pages:
        pytest.skip("no generated outputs pages in docs_src/runbooks")
    lines = [line.strip() for p in pages for line in p.read_text().splitlines()
             if line.strip().startswith("docgen outputs")]
    assert lines
    for line in lines:
        assert check_command(next(commands(line))) is None, line


# --- .pre-commit-hooks.yaml ---------------------------------------------------------------------

HOOK_KEYS = {"id", "name", "entry", "language", "files", "exclude", "types", "types_or",
             "exclude_types", "always_run", "fail_fast", "verbose", "pass_filenames",
             "require_serial", "description", "language_version", "minimum_pre_commit_version",
             "args", "stages"}


def hooks() -> list[dict[str, Any]]:
    data = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_hooks_file_parses_and_has_both_hooks() -> None:
    by_id = {h["id"]: h for h in hooks()}
    assert set(by_id) == {"docgen-check", "docgen-validate"}
    for hook in by_id.values():
        assert set(hook) <= HOOK_KEYS, set(hook) - HOOK_KEYS
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"  # installs this package, which provides `docgen`
    assert by_id["docgen-check"]["pass_filenames"] is False
    assert by_id["docgen-check"]["always_run"] is True
    assert by_id["docgen-validate"].get("pass_filenames", True) is True


def test_hook_entries_are_real_commands() -> None:
    for hook in hooks():
        words = shlex.split(hook["entry"]) + list(hook.get("args", []))
        assert words[0] == "docgen"
        extra = ["stacks/app.yaml"] if hook.get("pass_filenames", True) else []
        assert check_command(words + extra) is None, hook["entry"]
    by_id = {h["id"]: h for h in hooks()}
    assert shlex.split(by_id["docgen-check"]["entry"]) == ["docgen", "generate", "--check"]
    assert shlex.split(by_id["docgen-validate"]["entry"])[:2] == ["docgen", "validate"]


def test_validate_hook_file_pattern() -> None:
    pattern = re.compile(next(h for h in hooks() if h["id"] == "docgen-validate")["files"])
    for path in ("stacks/app.yaml", "infra/cloudformation/db.json", "cfn/x.template",
                 "stacks/nested/a.yml"):
        assert pattern.search(path), path
    for path in ("mkdocs.yml", "docgen.yml", ".github/workflows/ci.yml", "stacks/README.md"):
        assert not pattern.search(path), path


def pre_commit_command() -> list[str] | None:
    explicit = os.environ.get("DOCGEN_PRE_COMMIT")
    if explicit:
        return [explicit]
    found = shutil.which("pre-commit")
    return [found] if found else None


def test_hooks_manifest_valid_for_pre_commit() -> None:
    command = pre_commit_command()
    if command is None:
        pytest.skip("pre-commit is not installed (or set DOCGEN_PRE_COMMIT to its executable)")
    proc = subprocess.run([*command, "validate-manifest", str(HOOKS)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _git(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                   timeout=120)


@pytest.mark.slow
def test_hooks_run_under_pre_commit(tmp_path: Path) -> None:
    """End to end: pre-commit installs this repository and runs both hooks on a project.

    Everything happens in copies under tmp_path (their own git repositories); pre-commit
    builds docgen from the copy in an isolated environment, as it would for a team.
    """
    command = pre_commit_command()
    if command is None or shutil.which("git") is None:
        pytest.skip("pre-commit or git is not installed (set DOCGEN_PRE_COMMIT)")
    hook_repo = tmp_path / "docgen"
    shutil.copytree(REPO, hook_repo, ignore=shutil.ignore_patterns(
        ".git", "site", ".docgen-cache", "__pycache__", ".pytest_cache", ".ruff_cache",
        ".hypothesis", ".benchmarks", "test-artifacts", "*.egg-info", ".venv", "node_modules"))
    _git(["init", "-q"], hook_repo)
    _git(["add", "-A"], hook_repo)
    _git(["commit", "-q", "-m", "snapshot"], hook_repo)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(REPO / "stacks", project / "stacks")
    shutil.copy2(REPO / "docgen.yml", project / "docgen.yml")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n"
        "      - id: docgen-check\n      - id: docgen-validate\n        files: ^stacks/\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def run_hooks() -> subprocess.CompletedProcess[str]:
        _git(["add", "-A"], project)
        return subprocess.run([*command, "run", "--all-files"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=1200)

    _git(["init", "-q"], project)
    first = run_hooks()  # no runbooks yet: the freshness hook fails, validation passes
    assert first.returncode == 1, first.stdout + first.stderr
    assert "missing: runbooks/index.md" in first.stdout
    assert re.search(r"docgen validate[^\n]*Passed", first.stdout), first.stdout
    docgen_bin = next((tmp_path / "pre-commit-home").glob("repo*/py_env-*/bin/docgen"))
    subprocess.run([str(docgen_bin), "generate"], cwd=project, check=True, capture_output=True,
                   timeout=600)
    second = run_hooks()
    assert second.returncode == 0, second.stdout + second.stderr
    with (project / "stacks" / "dr.yaml").open("a") as fh:
        fh.write("broken: [\n")
    third = run_hooks()
    assert third.returncode == 1
    assert "dr.yaml:" in third.stdout and re.search(r"docgen validate[^\n]*Failed", third.stdout)
