"""``docgen validate --lint``: cfn-lint's rules as docgen diagnostics (optional extra)."""

from __future__ import annotations

from pathlib import Path

from docgen.diagnostics import Diagnostic, DocgenError


def lint_files(paths: list[str]) -> list[Diagnostic]:
    try:
        from cfnlint.api import ManualArgs, lint_file
    except ImportError as exc:
        raise DocgenError("--lint needs cfn-lint: pip install 'docgen[lint]'") from exc
    out: list[Diagnostic] = []
    for path in paths:
        for match in lint_file(Path(path), config=ManualArgs()):
            severity = "error" if str(match.rule.severity).lower() == "error" else "warning"
            out.append(Diagnostic(path, match.linenumber, match.columnnumber,
                                  f"[cfn-lint {match.rule.id}] {match.message}", severity))
    return out
