"""The security checks over every corpus template: no crash, no check that could not be
evaluated, and a SARIF log of the whole corpus that validates."""

from __future__ import annotations

import io
import json
from collections import Counter

import jsonschema
import pytest
from conftest import CORPUS_REAL, corpus_templates, requires_corpus

from docgen.analyse.posture import analyse
from docgen.knowledge.security import load
from docgen.loader import load_template

pytestmark = [pytest.mark.corpus, requires_corpus]


def test_every_corpus_template_is_checked_without_crash() -> None:
    kb = load()
    checked = 0
    counts: Counter[str] = Counter()
    problems = []
    for path in corpus_templates():
        template, _ = load_template(str(path))
        if template is None:
            continue
        report = analyse(template, kb)  # an exception here fails the test
        checked += 1
        secrets = [str(p.default) for p in template.parameters
                   if p.no_echo and p.has_default and len(str(p.default)) >= 4]
        for f in report.findings:
            said = " ".join([f.message, *(b.label for b in f.branches)])
            leaked = [s for s in secrets if s in said]
            assert not leaked, f"{f.location}: {f.check.id} repeats a NoEcho default"
            counts[f.status] += 1
            if f.message.startswith("check could not be evaluated"):
                problems.append(f"{f.location}: {f.check.id}")
    assert checked > 400
    assert not problems, problems[:20]
    assert counts["fail"] and counts["pass"] and counts["depends"]


def test_sarif_of_the_corpus_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    from test_security_check import _sarif_schema

    from docgen.checkcmd import run_check

    monkeypatch.chdir(CORPUS_REAL)
    out = io.StringIO()
    run_check(["."], "critical", "sarif", out)
    log = json.loads(out.getvalue())
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    assert len(log["runs"][0]["results"]) > 500
