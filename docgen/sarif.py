"""Security findings as SARIF 2.1.0, for code-scanning uploads.

One run, tool ``docgen``; one rule per knowledge-base check (with its rationale, the fix
as help text and a ``security-severity`` GitHub understands); one result per finding that
is not a pass: failing findings at their severity's level, parameter-dependent ones as
``kind: review`` (level ``none``, as SARIF requires for that kind), suppressed ones with an
``inSource`` suppression carrying the reason. Every result has the file and line of the
property (or resource) it is about. Load errors become tool notifications.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from docgen import __version__
from docgen.analyse.security import DEPENDS, FAIL, SUPPRESSED, Finding
from docgen.diagnostics import Diagnostic
from docgen.knowledge.security import Check, SecurityKB

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
#: Level of a failing finding, by severity.
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
#: GitHub code scanning reads ``security-severity`` (0-10) to rank alerts.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def artifact_uri(path: str) -> str:
    """A relative, forward-slash, percent-encoded URI reference for a file."""
    rel = os.path.relpath(path) if os.path.isabs(path) else os.path.normpath(path)
    return quote(rel.replace(os.sep, "/"), safe="/-_.~")


def _rule(check: Check) -> dict[str, Any]:
    tags = ["security", check.category, *sorted({m.framework for m in check.controls})]
    return {
        "id": check.id,
        "name": "".join(part.capitalize() for part in check.id.split("-")),
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": check.rationale},
        "help": {
            "text": f"{check.rationale}\n\nFix:\n{check.remediation}",
            "markdown": (
                f"{check.rationale}\n\n**Fix:**\n\n```yaml\n{check.remediation.rstrip()}\n```"
            ),
        },
        "helpUri": check.source,
        "defaultConfiguration": {"level": LEVELS[check.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[check.severity],
            "tags": tags,
            "precision": "high",
            "problem.severity": LEVELS[check.severity],
        },
    }


def _fingerprint(f: Finding) -> str:
    key = f"{f.check.id}|{artifact_uri(f.location.file)}|{f.resource}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _result(f: Finding, index: int) -> dict[str, Any]:
    status = f.suppressed_status if f.status == SUPPRESSED else f.status
    result: dict[str, Any] = {
        "ruleId": f.check.id,
        "ruleIndex": index,
        "message": {
            "text": f"{f.resource}: {f.message}" if f.message else f"{f.resource}: {f.check.title}"
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": artifact_uri(f.location.file),
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {
                        "startLine": max(1, f.location.line),
                        "startColumn": max(1, f.location.col),
                    },
                },
                "logicalLocations": [
                    {
                        "name": f.resource,
                        "kind": "resource",
                        "fullyQualifiedName": f"{f.resource_type}/{f.resource}",
                    }
                ],
            }
        ],
        "partialFingerprints": {"docgenFinding/v1": _fingerprint(f)},
        "properties": {
            "status": f.status,
            "resourceType": f.resource_type,
            "severity": f.check.severity,
        },
    }
    if status == DEPENDS:
        result["kind"] = "review"
        result["level"] = "none"
        result["properties"]["dependsOn"] = list(f.depends_on)
        result["properties"]["branches"] = [
            {"when": b.label, "outcome": b.status} for b in f.branches
        ]
    else:
        result["kind"] = "fail"
        result["level"] = LEVELS[f.check.severity]
    if f.status == SUPPRESSED:
        result["suppressions"] = [
            {"kind": "inSource", "status": "accepted", "justification": f.suppression or ""}
        ]
    return result


def _notification(d: Diagnostic) -> dict[str, Any]:
    return {
        "level": "error" if d.is_error else "warning",
        "message": {"text": d.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(d.file), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": max(1, d.line), "startColumn": max(1, d.col)},
                }
            }
        ],
    }


def to_sarif(
    kb: SecurityKB, findings: Iterable[Finding], diagnostics: Sequence[Diagnostic] = ()
) -> dict[str, Any]:
    """The SARIF log (a JSON-ready dict) for these findings (passes are left out)."""
    rules = sorted(kb.checks, key=lambda c: c.id)
    index = {c.id: i for i, c in enumerate(rules)}
    reported = [f for f in findings if f.status in (FAIL, DEPENDS, SUPPRESSED)]
    reported.sort(key=lambda f: (f.location.file, f.location.line, f.location.col, f.check.id))
    invocation: dict[str, Any] = {"executionSuccessful": not any(d.is_error for d in diagnostics)}
    if diagnostics:
        invocation["toolExecutionNotifications"] = [_notification(d) for d in diagnostics]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "docgen",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_rule(c) for c in rules],
                    }
                },
                "invocations": [invocation],
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, index[f.check.id]) for f in reported],
            }
        ],
    }
