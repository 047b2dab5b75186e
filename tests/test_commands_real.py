"""Every AWS CLI command on every generated page is a real command.

The pages of the example and of every corpus template are rendered and each ``aws``
command in their code blocks is checked against the installed AWS CLI's command
model (tests/awscli_model.py): service, operation or waiter, every option, required
options. A failure prints the offending command with its page.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import pytest

from docgen.config import load_config
from docgen.diagnostics import DocgenError
from docgen.discover import stacks_from_files
from docgen.generate import default_project, load_stacks
from docgen.loader import load_template
from docgen.model import Handbook, Stack
from docgen.pages import PageContext
from docgen.pages.registry import STACK_PAGES
from docgen.render import environment, render_page
from tests.awscli_model import check_markdown, check_words, commands_in_markdown
from tests.conftest import CORPUS_REAL, corpus_templates, requires_corpus

ROOT = Path(__file__).resolve().parent.parent
OPS_PAGES = {"troubleshooting", "backup", "monitoring"}


@functools.cache
def _env():  # type: ignore[no-untyped-def]
    return environment()


def stack_pages(handbook: Handbook, stack: Stack) -> tuple[dict[str, str], list[str]]:
    """Render every registered stack page; other teams' page crashes are reported, not
    fatal here (their own tests own them), while this team's pages must render."""
    ctx = PageContext(handbook, stack)
    pages: dict[str, str] = {}
    broken: list[str] = []
    for spec in STACK_PAGES:
        rel = f"{stack.id}/{spec.slug}.md"
        try:
            text = render_page(_env(), spec, ctx, rel)
        except DocgenError as exc:
            if spec.slug in OPS_PAGES:
                raise
            broken.append(f"{rel}: {exc}")
            continue
        if text is not None:
            pages[rel] = text
    return pages, broken


def problems_in(pages: dict[str, str]) -> list[str]:
    return [f"{name}: {p}" for name, text in pages.items() for p in check_markdown(text)]


def test_checker_rejects_what_the_cli_would_reject() -> None:
    good = ["aws", "rds", "restore-db-instance-to-point-in-time",
            "--source-db-instance-identifier", "a", "--target-db-instance-identifier", "b",
            "--restore-time", "2025-01-01T00:00:00Z", "--region", "eu-west-2"]
    assert check_words(good) == []
    assert check_words(["aws", "rdz", "x"])[0].startswith("unknown service")
    assert check_words(["aws", "rds", "restore-db"])[0].startswith("unknown operation")
    assert "unknown option --bogus" in check_words([*good, "--bogus", "1"])[0]
    assert "missing required option --target-db-instance-identifier" in " ".join(
        check_words(good[:5] + good[7:]))
    assert check_words(["aws", "elasticache", "wait", "replication-group-gone"])
    assert not check_words(["aws", "elasticache", "wait", "replication-group-deleted",
                            "--replication-group-id", "x"])
    assert check_words(["aws", "elasticache", "delete-replication-group",
                        "--replication-group-id", "x", "--retain-primary-cluster", "yes"])


def test_commands_are_found_in_tabs_substitutions_and_continuations() -> None:
    page = """
=== "dev"

    ```bash
    X_ID=$(aws cloudformation describe-stack-resource --stack-name S \\
      --logical-resource-id X --query StackResourceDetail.PhysicalResourceId --output text)
    aws s3api get-bucket-versioning --bucket "${X_ID}" | jq .
    ```
"""
    found = commands_in_markdown(page)
    assert [w[:3] for w in found] == [["aws", "cloudformation", "describe-stack-resource"],
                                      ["aws", "s3api", "get-bucket-versioning"]]
    assert check_markdown(page) == []
    assert check_markdown(page.replace("--logical-resource-id X ", ""))


def test_every_command_on_the_example_pages_is_real() -> None:
    project = load_config(str(ROOT / "docgen.yml"))
    stacks, diags, _ = load_stacks(project.stacks)
    assert stacks, diags
    handbook = Handbook(project, tuple(stacks))
    problems: list[str] = []
    count = 0
    for stack in stacks:
        pages, broken = stack_pages(handbook, stack)
        for b in broken:
            warnings.warn(f"page not checked (it does not render): {b}", stacklevel=1)
        problems += problems_in(pages)
        count += sum(len(commands_in_markdown(t)) for t in pages.values())
    assert count > 100
    assert not problems, "\n".join(problems)


SHARDS = 8


@requires_corpus
@pytest.mark.corpus
@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_command_on_every_corpus_page_is_real(tmp_path: Path, shard: int) -> None:
    """Sharded so that pytest-xdist spreads the 565 templates over workers."""
    every = corpus_templates()
    assert every, f"no templates under {CORPUS_REAL}"
    files = every[shard::SHARDS]
    project = default_project(str(tmp_path))
    problems: list[str] = []
    broken_pages = 0
    checked = 0
    for path in files:
        template, _ = load_template(str(path))
        if template is None:  # invalid templates get no pages; test_corpus covers them
            continue
        (config,) = stacks_from_files([str(path)])
        stack = Stack(config, template)
        pages, broken = stack_pages(Handbook(project, (stack,)), stack)
        broken_pages += len(broken)
        rel = path.relative_to(CORPUS_REAL)
        problems += [f"{rel}: {p}" for p in problems_in(pages)]
        checked += 1
    if broken_pages:
        warnings.warn(f"{broken_pages} corpus pages of other areas did not render and were "
                      "not checked", stacklevel=1)
    assert checked > 400 // SHARDS
    assert not problems, f"{len(problems)} invalid commands:\n" + "\n".join(problems[:50])
