"""Shared test fixtures: repository paths, the shared corpus, golden-file updates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests monkeypatch docgen's code, which no content hash can see: the page cache is off
# for the suite (and the CLI processes it starts) unless a test turns it on.
os.environ.setdefault("DOCGEN_CACHE", "0")

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DOCGEN_CORPUS", REPO.parent / "shared" / "corpus"))
CORPUS_REAL = CORPUS / "real"
CORPUS_BAD = CORPUS / "bad"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true",
                     help="Rewrite tests/golden/ from the current output.")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def corpus_templates() -> list[Path]:
    if not CORPUS_REAL.is_dir():
        return []
    return sorted(p for p in CORPUS_REAL.rglob("*")
                  if p.suffix in (".yaml", ".yml", ".json", ".template") and p.is_file())


requires_corpus = pytest.mark.skipif(
    not CORPUS_REAL.is_dir(),
    reason=f"shared corpus not found at {CORPUS} (set DOCGEN_CORPUS); corpus tests skipped")
