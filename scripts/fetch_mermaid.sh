#!/usr/bin/env bash
# Fill docgen's Mermaid cache (npm package `mermaid` at the version pinned in
# docgen/assets.py, SHA-256 checked) so that later builds work offline. Prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m docgen.assets "$@"
