"""Check AWS CLI commands against the AWS CLI's own command model (test helper).

Every page promises commands that run as printed. This helper asks the installed
``awscli`` package (the same command table ``aws`` itself dispatches on) whether a
command names a real service, a real operation or waiter, only options that exist,
and every required option. Two entry points:

* :func:`check_words` — one command as shell words (``["aws", "rds", ...]``);
* :func:`commands_in_markdown` + :func:`check_markdown` — every ``aws`` command in
  the fenced code blocks of a rendered page (continuation lines joined, ``$(...)``
  substitutions and pipelines split), so any engineer's page can be checked.

Usage in a test::

    from tests.awscli_model import check_markdown
    problems = check_markdown(page_text)
    assert not problems, "\\n".join(problems)
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterable, Iterator
from typing import Any

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "$(", "$", ">", ">>", "<", "2>", "|&"}


@functools.lru_cache(maxsize=1)
def _driver() -> Any:
    from awscli.clidriver import create_clidriver

    return create_clidriver()


@functools.lru_cache(maxsize=1)
def _services() -> dict[str, Any]:
    return dict(_driver()._get_command_table())


@functools.lru_cache(maxsize=1)
def _global_options() -> dict[str, Any]:
    return dict(_driver()._get_argument_table())


@functools.lru_cache(maxsize=512)
def _subcommands(service: str) -> dict[str, Any] | None:
    command = _services().get(service)
    if command is None:
        return None
    table = getattr(command, "_get_command_table", None) or getattr(
        command, "subcommand_table", None)
    if callable(table):
        return dict(table())
    if isinstance(table, dict):
        return dict(table)
    return {}


def _arg_table(command: Any) -> dict[str, Any]:
    table = getattr(command, "arg_table", None)
    return dict(table) if table else {}


def _is_flag(arg: Any) -> bool:
    return getattr(arg, "cli_type_name", "") == "boolean" or getattr(
        arg, "action", "") in ("store_true", "store_false")


def _takes_many(arg: Any) -> bool:
    """List-typed options take several space-separated values."""
    if arg == "unknown":
        return True
    return getattr(arg, "cli_type_name", "") == "list" or getattr(arg, "nargs", None) in (
        "+", "*")


def _positional_count(table: dict[str, Any], names: list[str]) -> tuple[int, int]:
    low = high = 0
    for name in names:
        nargs = getattr(table[name], "nargs", None)
        if isinstance(nargs, int):
            low += nargs
            high += nargs
        elif nargs == "?":
            high += 1
        elif nargs in ("*", "+"):
            low += 1 if nargs == "+" else 0
            high += 1000
        else:
            low += 1
            high += 1
    return low, high


def check_words(words: list[str]) -> list[str]:
    """Problems with one ``aws ...`` command given as words ([] when it is valid)."""
    text = " ".join(words)
    if len(words) < 3 or words[0] != "aws":
        return [f"not an aws command with a service and an operation: {text}"]
    service, rest = words[1], words[2:]
    subs = _subcommands(service)
    if subs is None:
        return [f"unknown service {service!r}: {text}"]
    operation = rest[0]
    command = subs.get(operation)
    if command is None:
        return [f"unknown operation {service} {operation}: {text}"]
    rest = rest[1:]
    if operation == "wait":
        waiters = dict(getattr(command, "subcommand_table", {}) or {})
        if not rest or rest[0] not in waiters:
            got = rest[0] if rest else "(none)"
            return [f"unknown waiter {service} wait {got}: {text}"]
        command = waiters[rest[0]]
        rest = rest[1:]
    return _check_options(command, rest, text)


def _check_options(command: Any, rest: list[str], text: str) -> list[str]:
    table = _arg_table(command)
    positional = [name for name, arg in table.items() if getattr(arg, "positional_arg", False)]
    problems: list[str] = []
    seen: set[str] = set()
    loose: list[str] = []
    current: Any = None
    for token in rest:
        if token.startswith("--") and len(token) > 2:
            name = token[2:].split("=", 1)[0]
            seen.add(name)
            current = table.get(name, _global_options().get(name))
            if current is None:
                problems.append(f"unknown option --{name}: {text}")
                current = "unknown"
            if current is not None and _is_flag(current) and "=" not in token:
                current = "flag"
            elif "=" in token:
                current = None
            continue
        if current == "flag":
            problems.append(f"value {token!r} after a flag that takes no value: {text}")
            current = None
        elif current is None:
            loose.append(token)
        elif not _takes_many(current):
            current = None  # one value consumed; what follows is positional
    low, high = _positional_count(table, positional)
    if len(loose) > high:
        problems.append(f"unexpected positional argument(s) {loose[high:]}: {text}")
    if "cli-input-json" not in seen and "cli-input-yaml" not in seen:
        for name, arg in table.items():
            if getattr(arg, "required", False) and name not in seen and name not in positional:
                problems.append(f"missing required option --{name}: {text}")
        if len(loose) < low:
            problems.append(f"missing positional argument(s) for {positional}: {text}")
    return problems


def check_command(command: Any) -> list[str]:
    """Check a :class:`docgen.commands.AwsCommand` (or anything with ``render()``)."""
    return check_markdown("```bash\n" + command.render() + "\n```")


def _code_blocks(markdown: str) -> Iterator[str]:
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = _FENCE.match(lines[i])
            if close and close.group("fence")[0] == fence[0] and \
                    len(close.group("fence")) >= len(fence) and not close.group("info").strip():
                break
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        yield "\n".join(body)


def _logical_lines(block: str) -> Iterator[str]:
    pending = ""
    for line in block.replace("\\\n", " ").splitlines():
        candidate = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(candidate, comments=True)
        except ValueError:  # an open quote: the value continues on the next line
            pending = candidate
            continue
        pending = ""
        yield candidate
    if pending:
        yield pending


def _segments(line: str) -> Iterator[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:
        return
    segment: list[str] = []
    for token in tokens:
        # "X=$(aws ..." lexes as "X=$" then "(": both are separators here.
        if token in _SEPARATORS or token.endswith("=$") or token == "$":
            if segment:
                yield segment
            segment = []
        else:
            segment.append(token)
    if segment:
        yield segment


def commands_in_markdown(markdown: str) -> list[list[str]]:
    """Every ``aws`` command (as words) inside the fenced code blocks of a page."""
    found: list[list[str]] = []
    for block in _code_blocks(markdown):
        for line in _logical_lines(block):
            for segment in _segments(line):
                while segment and _ASSIGN.match(segment[0]) and segment[0] != "aws":
                    segment = segment[1:]
                if segment and segment[0] == "aws":
                    found.append(segment)
    return found


def check_markdown(markdown: str) -> list[str]:
    """Problems with every ``aws`` command on a rendered page."""
    problems: list[str] = []
    for words in commands_in_markdown(markdown):
        problems.extend(check_words(words))
    return problems


def check_pages(pages: Iterable[tuple[str, str]]) -> list[str]:
    """``(page name, markdown)`` pairs -> problems prefixed with the page name."""
    return [f"{name}: {p}" for name, text in pages for p in check_markdown(text)]
