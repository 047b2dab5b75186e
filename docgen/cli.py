"""The ``docgen`` command line: a thin layer that decides exit codes.

Exit codes: 0 success, 1 invalid input / findings / stale docs, 2 usage error.
Heavy modules (MkDocs, Jinja, the knowledge base) are imported inside the commands
that need them, so ``--help``, ``--version`` and ``validate`` start fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from docgen import __version__

F = TypeVar("F", bound=Callable[..., Any])


class Settings:
    def __init__(self, quiet: bool, verbose: bool) -> None:
        self.quiet = quiet
        self.verbose = verbose

    def info(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)


def _guard(fn: F) -> F:
    """Turn every failure into a message and an exit code, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from docgen.diagnostics import DocgenError

        try:
            return fn(*args, **kwargs)
        except DocgenError as exc:
            click.echo(exc.format(), err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("docgen: interrupted; the previous docs are unchanged", err=True)
            sys.exit(130)
        except OSError as exc:
            click.echo(f"docgen: error: {exc}", err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug in docgen: still no traceback for the user
            if os.environ.get("DOCGEN_DEBUG"):
                raise
            click.echo(f"docgen: internal error: {type(exc).__name__}: {exc} "
                       "(set DOCGEN_DEBUG=1 for a traceback)", err=True)
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="docgen")
@click.option("-q", "--quiet", is_flag=True, help="Only print errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print warnings and progress details.")
@click.pass_context
def main(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """Generate an operations handbook from CloudFormation templates."""
    ctx.obj = Settings(quiet, verbose)


def _project(config: str | None, docs_dir: str | None = None) -> Any:
    import dataclasses

    from docgen.config import find_config, load_config
    from docgen.generate import default_project

    path = config or find_config(".")
    project = load_config(path) if path else default_project(".", docs_dir)
    if docs_dir:
        project = dataclasses.replace(project, docs_dir=os.path.abspath(docs_dir))
    return project


def _print_diagnostics(settings: Settings, diags: Sequence[Any]) -> None:
    for d in sorted(diags, key=lambda d: (d.file, d.line, d.col)):
        if d.is_error or settings.verbose:
            click.echo(str(d), err=True)


PROGRESS_MIN_ITEMS = 6


def _progress(settings: Settings, items: Iterator[Any], total: int, label: str) -> Any:
    """A progress bar on stderr for interactive runs over more than a handful of files;
    ``items`` are consumed through it (one step each), ``total`` of them."""
    import contextlib

    if settings.quiet or total < PROGRESS_MIN_ITEMS or not sys.stderr.isatty():
        return contextlib.nullcontext(items)
    return click.progressbar(items, length=total, label=label, file=sys.stderr)


@contextlib.contextmanager
def _bar(settings: Settings, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar on an interactive stderr once
    more than a handful of templates are read; None otherwise."""
    if settings.quiet or not sys.stderr.isatty():
        yield None
        return
    state: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if total < PROGRESS_MIN_ITEMS:
            return
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(1)

    try:
        yield progress
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


def _check_one(path: str) -> tuple[bool, list[Any]]:
    """``validate``'s work on one file: valid or not, and its diagnostics (a small
    result to send back from a worker, unlike the template itself)."""
    from docgen.modelbuild import load_template

    template, found = load_template(path)
    return template is not None, found


config_option = click.option("--config", type=click.Path(dir_okay=False),
                             help="Path to docgen.yml (default: ./docgen.yml if present).")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--lint", is_flag=True, help="Also run cfn-lint's rules (needs docgen[lint]).")
@click.pass_obj
@_guard
def validate(settings: Settings, paths: tuple[str, ...], lint: bool) -> None:
    """Check templates: exit 0 when all are valid, 1 when any is not."""
    import docgen.modelbuild  # noqa: F401  (imported once here, inherited by forked workers)
    from docgen.discover import find_templates
    from docgen.parallel import imap_ordered

    files, diags = find_templates(paths)
    failed = bool([d for d in diags if d.is_error])
    valid: list[str] = []
    # many files: checked in worker processes, which send back only the verdict and
    # the diagnostics; in input order, so the output is the serial one
    results = imap_ordered(_check_one, files, chunks_per_worker=16)
    with _progress(settings, results, len(files), "Validating") as checked:
        for path, (ok, found) in zip(files, checked, strict=True):
            diags.extend(found)
            if ok:
                valid.append(path)
            else:
                failed = True
    if lint and valid:
        from docgen.lint import lint_files

        lint_diags = lint_files(valid)
        diags.extend(lint_diags)
        failed = failed or any(d.is_error for d in lint_diags)
    _print_diagnostics(settings, diags)
    if not files and not diags:
        click.echo("docgen: no templates found", err=True)
        sys.exit(1)
    settings.info(f"{len(files)} template(s) checked, "
                  f"{len(files) - len(valid)} invalid" if files else "")
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--docs-dir", type=click.Path(file_okay=False),
              help="MkDocs docs folder; pages go to DOCS_DIR/runbooks/.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 if the docs on disk are stale.")
@click.option("--keep-going", is_flag=True,
              help="Generate pages for the valid templates; exit 1 if any is invalid.")
@config_option
@click.pass_obj
@_guard
def generate(settings: Settings, paths: tuple[str, ...], docs_dir: str | None, check_only: bool,
             keep_going: bool, config: str | None) -> None:
    """Write the runbook pages (Markdown) under DOCS_DIR/runbooks/."""
    from docgen import generate as gen

    project = _project(config, docs_dir)
    if check_only:
        result = gen.build(project, paths or None, keep_going=keep_going)
        _print_diagnostics(settings, result.diagnostics)
        if result.handbook is None:
            sys.exit(1)
        stale = gen.check(project, result)
        if stale.up_to_date and not result.errors:
            click.echo("docgen: runbooks are up to date")
            sys.exit(0)
        if stale.up_to_date:  # but there are errors, reported above
            what = (f"{len(result.invalid)} template(s) are invalid" if result.invalid
                    else "there are errors")
            click.echo(f"docgen: runbooks are up to date for the valid templates; {what}",
                       err=True)
            sys.exit(1)
        for rel in stale.stale:
            click.echo(f"stale: runbooks/{rel} ({stale.summaries[rel]})")
        for rel in stale.missing:
            click.echo(f"missing: runbooks/{rel}")
        for rel in stale.extra:
            click.echo(f"extra: runbooks/{rel}")
        click.echo("docgen: runbooks are out of date; run `docgen generate`", err=True)
        sys.exit(1)
    with _bar(settings, "Reading templates") as progress:
        result = gen.generate(project, paths or None, keep_going=keep_going, progress=progress)
    _print_diagnostics(settings, result.diagnostics)
    if result.handbook is None:
        click.echo("docgen: nothing written; the previous docs are unchanged", err=True)
        sys.exit(1)
    if result.invalid:
        click.echo("docgen: invalid templates (their previous pages kept): "
                   + ", ".join(result.invalid), err=True)
    state = "updated" if result.changed else "unchanged"
    settings.info(f"docgen: {len(result.pages)} pages for {len(result.handbook.stacks)} "
                  f"stack(s) {state} in {os.path.join(project.docs_dir, 'runbooks')}")
    sys.exit(1 if result.errors else 0)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--site-dir", type=click.Path(file_okay=False), help="Output folder of the site.")
@click.option("--strict", is_flag=True, help="Fail on MkDocs warnings.")
@config_option
@click.pass_obj
@_guard
def build(settings: Settings, paths: tuple[str, ...], site_dir: str | None, strict: bool,
          config: str | None) -> None:
    """Generate the runbooks, then build the MkDocs site."""
    from docgen import generate as gen
    from docgen.site import build_site

    project = _project(config)
    if paths:  # explicit templates: generate them first; the plugin then finds them current
        result = gen.generate(project, paths)
        _print_diagnostics(settings, result.diagnostics)
        if result.handbook is None:
            sys.exit(1)
        import dataclasses

        from docgen.discover import find_templates, stacks_from_files

        files, _ = find_templates(paths)
        project = dataclasses.replace(project, stacks=project.stacks or stacks_from_files(files))
    try:
        out = build_site(project, site_dir, strict)
    except Exception as exc:
        from mkdocs.exceptions import MkDocsException

        if isinstance(exc, MkDocsException):
            click.echo(f"docgen: site build failed: {exc}", err=True)
            sys.exit(1)
        raise
    settings.info(f"docgen: site written to {out}")


@main.command()
@click.option("--dev-addr", help="Address to serve on (default 127.0.0.1:8000).")
@config_option
@_guard
def serve(dev_addr: str | None, config: str | None) -> None:
    """Serve the handbook with live reload when templates or config change."""
    from docgen.site import serve_site

    serve_site(_project(config), dev_addr)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--fail-on", type=click.Choice(["low", "medium", "high", "critical"]),
              default="high", show_default=True, help="Lowest severity that fails the run.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True)
@config_option
@_guard
def check(paths: tuple[str, ...], fail_on: str, fmt: str, config: str | None) -> None:
    """Security and compliance findings; exit 1 at or above --fail-on."""
    from docgen.checkcmd import run_check

    sys.exit(run_check(list(paths), fail_on, fmt, sys.stdout, config=config))


@main.command()
@click.option("--stack", "stack_name", required=True, help="Deployed stack name.")
@click.option("--region", help="AWS region (default: the AWS CLI/SDK default).")
@click.option("-o", "--output", "output", default="cfn-outputs/flat-outputs.json",
              show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the flat {OutputKey: OutputValue} JSON ('-' for stdout).")
@_guard
def outputs(stack_name: str, region: str | None, output: str) -> None:
    """Write a deployed stack's outputs as flat JSON for integration tests."""
    from docgen.liveoutputs import write_outputs

    sys.exit(write_outputs(stack_name, region, output))


def run() -> None:
    """The ``docgen`` console script: :func:`main`, then a hard exit.

    After a generate the heap holds every parsed template and rendered page; an
    ordinary exit frees them object by object (~50 ms for the corpus, more than the
    whole start-up). The command is finished by then: output streams are flushed and
    the process ends at once, as mypy does. Library callers (tests, the MkDocs plugin)
    use :func:`main` and keep normal behaviour."""
    try:
        main()
    except SystemExit as exc:
        # exits here, while the exception (its traceback holds the command's frames, and
        # so the handbook) is alive: letting it go first would free it all after all
        _hard_exit(exc.code)
    _hard_exit(0)


def _hard_exit(code: Any) -> NoReturn:
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): what Python would do
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
