"""``docgen check``: the security findings as a CI gate.

The CLI (``docgen/cli.py``) parses the options and calls :func:`run_check`, which loads
every template, runs the security knowledge base over it and prints the findings as text
(``path:line:col: severity: [rule-id] message``), JSON or SARIF 2.1.0.

Exit codes: 0 when no failing finding is at or above ``fail_on``; 1 when one is, or when
a template cannot be loaded (an unreadable template cannot be vouched for); 2 when the
knowledge base or ``docgen.yml`` is invalid. Findings that depend on a parameter or
condition are printed but do not fail the gate: the deployment, not the template,
decides them. Suppressed findings are reported (JSON/SARIF) but never fail it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from docgen.analyse.security import (
    DEPENDS,
    FAIL,
    SUPPRESSED,
    Finding,
    at_or_above,
    check_template,
    unknown_suppressions,
)
from docgen.diagnostics import Diagnostic, DocgenError
from docgen.knowledge.security import SEVERITIES, SecurityKB

FORMATS = ("text", "json", "sarif")


def _project_knowledge_dir(
    paths: Sequence[str], config_path: str | None = None
) -> tuple[list[str], str | None]:
    """Without paths: the templates of ``docgen.yml`` (or the current folder). The
    project's ``paths.knowledge`` extends the checks either way."""
    from docgen.config import find_config, load_config

    config_path = config_path or find_config(".")
    if config_path is None:
        return list(paths) or ["."], None
    config = load_config(config_path)
    if paths:
        return list(paths), config.knowledge_dir
    if config.stacks:
        return [s.template_path for s in config.stacks], config.knowledge_dir
    return [config.templates_dir or "."], config.knowledge_dir


def collect(paths: Sequence[str], kb: SecurityKB) -> tuple[list[Finding], list[Diagnostic], int]:
    """(findings of every template, load diagnostics, number of templates checked)."""
    from docgen.discover import find_templates
    from docgen.loader import load_template

    files, diags = find_templates(paths)
    findings: list[Finding] = []
    for path in files:
        template, load_diags = load_template(path)
        diags.extend(load_diags)
        if template is not None:
            findings.extend(check_template(template, kb))
            diags.extend(unknown_suppressions(template, kb))
    findings.sort(key=lambda f: (f.location.file, f.location.line, f.location.col, f.check.id))
    return findings, diags, len(files)


def format_text(f: Finding) -> str:
    status = "" if f.status == FAIL else f"({f.status}) "
    extra = f" [suppressed: {f.suppression}]" if f.status == SUPPRESSED else ""
    return (
        f"{f.location}: {f.check.severity}: [{f.check.id}] {status}{f.resource}: {f.message}{extra}"
    )


def to_json(
    findings: Sequence[Finding], diags: Sequence[Diagnostic], fail_on: str, checked: int
) -> dict[str, Any]:
    reported = [f for f in findings if f.status in (FAIL, DEPENDS, SUPPRESSED)]
    return {
        "version": 1,
        "fail_on": fail_on,
        "templates_checked": checked,
        "errors": [
            {
                "file": d.file,
                "line": d.line,
                "col": d.col,
                "severity": d.severity,
                "message": d.message,
            }
            for d in diags
        ],
        "findings": [
            {
                "rule": f.check.id,
                "title": f.check.title,
                "severity": f.check.severity,
                "category": f.check.category,
                "status": f.status,
                "resource": f.resource,
                "resource_type": f.resource_type,
                "file": f.location.file,
                "line": f.location.line,
                "col": f.location.col,
                "message": f.message,
                "depends_on": list(f.depends_on),
                "branches": [{"when": b.label, "outcome": b.status} for b in f.branches],
                "suppression": f.suppression,
                "default": None
                if f.default is None
                else {"value": f.default.value, "source": f.default.source},
            }
            for f in reported
        ],
        "summary": _summary(findings, fail_on),
    }


def _summary(findings: Sequence[Finding], fail_on: str) -> dict[str, int]:
    return {
        "fail": sum(f.status == FAIL for f in findings),
        "fail_at_or_above_threshold": len(at_or_above(findings, fail_on)),
        "depends": sum(f.status == DEPENDS for f in findings),
        "suppressed": sum(f.status == SUPPRESSED for f in findings),
    }


def run_check(
    paths: list[str], fail_on: str, fmt: str, out: TextIO, config: str | None = None
) -> int:
    """Check templates and print the findings; return the exit code (see module doc).

    ``config``: an explicit ``docgen.yml`` (else the one in the current folder, if any)."""
    from docgen.knowledge.security import load

    if fail_on not in SEVERITIES:
        raise ValueError(f"fail_on must be one of {', '.join(SEVERITIES)}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    try:
        targets, knowledge_dir = _project_knowledge_dir(paths, config)
        kb = load(knowledge_dir)
    except DocgenError as exc:
        out.write(exc.format() + "\n")
        return 2
    findings, diags, checked = collect(targets, kb)
    if fmt == "sarif":
        from docgen.sarif import to_sarif

        json.dump(to_sarif(kb, findings, diags), out, indent=2, sort_keys=False)
        out.write("\n")
    elif fmt == "json":
        json.dump(to_json(findings, diags, fail_on, checked), out, indent=2)
        out.write("\n")
    else:
        for d in diags:
            out.write(f"{d}\n")
        for f in findings:
            if f.status in (FAIL, DEPENDS):
                out.write(format_text(f) + "\n")
        s = _summary(findings, fail_on)
        out.write(
            f"docgen check: {checked} template(s), {s['fail']} failing "
            f"({s['fail_at_or_above_threshold']} at or above {fail_on}), "
            f"{s['depends']} depending on deploy-time values, {s['suppressed']} suppressed\n"
        )
    failing = at_or_above(findings, fail_on)
    return 1 if failing or any(d.is_error for d in diags) else 0
