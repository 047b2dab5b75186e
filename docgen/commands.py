"""Shell commands shown on pages, built as data and rendered with quoting.

Commands are kept structured (service, operation, options) so that the test suite
can check each one against the AWS CLI's own command model, and so that every
value is quoted exactly once, at render time.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

WRAP_AT = 100


@dataclass(frozen=True, slots=True)
class ShellVar:
    """A shell variable set earlier on the page; rendered as ``"$NAME"``."""

    name: str


@dataclass(frozen=True, slots=True)
class Concat:
    """Literal text and variables joined into one shell word."""

    parts: tuple[str | ShellVar, ...]


Value = str | int | float | ShellVar | Concat


@lru_cache(maxsize=1 << 14)
def _quote(text: str) -> str:
    """``shlex.quote``, memoised: pages quote the same stack names, regions and option
    values tens of thousands of times per corpus build."""
    return shlex.quote(text)


def word(value: Value) -> str:
    """Render one shell word."""
    if type(value) is str:  # most words: skip the ShellVar/Concat/bool tests
        return _quote(value)
    if isinstance(value, ShellVar):
        return f'"${{{value.name}}}"'
    if isinstance(value, Concat):
        return "".join(
            f'"${{{p.name}}}"' if isinstance(p, ShellVar) else (_quote(p) if p else "")
            for p in value.parts
        ) or "''"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _quote(str(value))


@dataclass(frozen=True, slots=True)
class AwsCommand:
    """``aws SERVICE OPERATION [--option value...]``.

    ``options`` holds ``(option, values)`` pairs; an empty ``values`` tuple is a flag
    (``--no-execute-changeset``); several values follow one option
    (``--capabilities A B``). ``pipe`` is an optional trailing shell pipeline
    (``jq ...``) and ``redirect`` a file the output is written to.
    """

    service: str
    operation: str
    options: tuple[tuple[str, tuple[Value, ...]], ...] = ()
    pipe: tuple[tuple[str, ...], ...] = ()
    redirect: str | None = None

    def words(self) -> list[str]:
        out = ["aws", self.service, self.operation]
        for opt, values in self.options:
            out.append(opt)
            out.extend(word(v) for v in values)
        return out

    def render(self) -> str:
        """The command as a person would type it, wrapped with ``\\`` when long."""
        segments: list[str] = ["aws " + self.service + " " + self.operation]
        for opt, values in self.options:
            if len(values) == 1:  # the usual option: one value, never wrapped
                segments.append(opt + " " + word(values[0]))
                continue
            words = [word(v) for v in values]
            joined = " ".join([opt, *words])
            if len(joined) > WRAP_AT and len(words) > 1:
                # one value per line: long --parameter-overrides stay readable
                joined = opt + "".join(" \\\n    " + w for w in words)
            segments.append(joined)
        lines: list[str] = []
        current = segments[0]
        for seg in segments[1:]:
            nl = seg.find("\n")  # a wrapped option is as long as its first line
            if len(current) + 1 + (nl if nl >= 0 else len(seg)) > WRAP_AT:
                lines.append(current + " \\")
                current = "  " + seg
            else:
                current += " " + seg
        for stage in self.pipe:
            current += " | " + " ".join(_quote(w) for w in stage)
        if self.redirect:
            current += " > " + _quote(self.redirect)
        lines.append(current)
        return "\n".join(lines)


def aws(service: str, operation: str, *pairs: tuple[str, Value | Sequence[Value] | None],
        region: str | None = None) -> AwsCommand:
    """Build an :class:`AwsCommand`; ``None`` values drop the option, ``()`` makes a flag."""
    options: list[tuple[str, tuple[Value, ...]]] = []
    for opt, val in pairs:
        if val is None:
            continue
        if isinstance(val, (list, tuple)):
            options.append((opt, tuple(val)))
        else:
            options.append((opt, (val,)))
    if region:
        options.append(("--region", (region,)))
    return AwsCommand(service, operation, tuple(options))


@dataclass(frozen=True, slots=True)
class Assign:
    """``NAME=$(command)``: capture a value (usually a physical id) for later commands."""

    var: ShellVar
    command: AwsCommand

    def render(self) -> str:
        body = self.command.render()
        return f"{self.var.name}=$({body})"


@dataclass(frozen=True, slots=True)
class Raw:
    """A non-AWS line (``mkdir -p cfn-outputs``, ``cfn-lint file``), already quoted."""

    line: str


Step = AwsCommand | Assign | Raw


@dataclass(frozen=True, slots=True)
class Script:
    """Several commands shown in one copyable block."""

    steps: tuple[Step, ...] = field(default_factory=tuple)
    comment: str = ""

    def render(self) -> str:
        lines = [f"# {c}" for c in self.comment.splitlines() if c] if self.comment else []
        for step in self.steps:
            lines.append(step.render() if not isinstance(step, Raw) else step.line)
        return "\n".join(lines)

    def aws_commands(self) -> Iterable[AwsCommand]:
        for step in self.steps:
            if isinstance(step, AwsCommand):
                yield step
            elif isinstance(step, Assign):
                yield step.command


def raw(*words: Value) -> Raw:
    """A non-AWS command line from words (each quoted)."""
    return Raw(" ".join(word(w) if not isinstance(w, str) or i else w
                        for i, w in enumerate(words)))


def physical_id_lookup(var: str, stack: Value, logical_id: str, region: str | None) -> Assign:
    """Capture a resource's physical id from the deployed stack."""
    return Assign(
        ShellVar(var),
        aws(
            "cloudformation",
            "describe-stack-resource",
            ("--stack-name", stack),
            ("--logical-resource-id", logical_id),
            ("--query", "StackResourceDetail.PhysicalResourceId"),
            ("--output", "text"),
            region=region,
        ),
    )


def var_name(logical_id: str, suffix: str = "ID") -> str:
    """A shell variable name for a logical id: ``PrimaryDB`` -> ``PRIMARY_DB_ID``."""
    import re

    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[^A-Za-z0-9]+", "_", logical_id).strip("_").upper()
    if not snake or snake[0].isdigit():
        snake = "R_" + snake
    return f"{snake}_{suffix}" if suffix else snake
