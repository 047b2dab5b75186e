"""Findings about input: every problem is a value with a file and a line.

Loading never raises on bad input; it returns diagnostics, and only the CLI decides
what they mean for the exit code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    file: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class DocgenError(Exception):
    """An error the CLI reports as-is (no traceback) with exit code ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics

    def format(self) -> str:
        lines = [str(d) for d in self.diagnostics]
        if not lines or str(self) not in lines:
            lines.append(f"error: {self}" if not self.diagnostics else str(self))
        return "\n".join(lines)


class ConfigError(DocgenError):
    """docgen.yml is invalid."""


class KnowledgeError(DocgenError):
    """A knowledge-base file is invalid."""
