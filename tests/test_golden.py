"""Golden pages for the example deployment: the product is the output.

Run ``pytest tests/test_golden.py --update-goldens`` after an intended change and
review the diff of tests/golden/.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from conftest import REPO

from docgen.config import load_config
from docgen.generate import generate, read_tree

GOLDEN = Path(__file__).parent / "golden" / "example"


def test_example_pages_match_goldens(tmp_path: Path, update_goldens: bool) -> None:
    project = dataclasses.replace(load_config(str(REPO / "docgen.yml")),
                                  docs_dir=str(tmp_path / "docs"))
    result = generate(project)
    assert not result.errors, result.errors
    pages = read_tree(str(tmp_path / "docs" / "runbooks"))
    if update_goldens:
        for old in GOLDEN.rglob("*.md"):
            old.unlink()
        for rel, text in pages.items():
            target = GOLDEN / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    golden = read_tree(str(GOLDEN))
    assert sorted(pages) == sorted(golden)
    for rel, text in pages.items():
        assert text == golden[rel], f"{rel} differs from its golden file"
