"""Site assets docgen adds to the MkDocs configuration: its stylesheet and, for sites
that must work offline, a local copy of Mermaid.

Why a local Mermaid: Material renders ``mermaid`` fences with a script it fetches from a
CDN (unpkg) the first time a page has a diagram, unless a global ``mermaid`` object
already exists. A handbook is read during incidents, often on a locked-down network, so
with ``site: {mermaid: local}`` (the default) docgen ships ``mermaid.min.js`` inside the
site and loads it (``defer``) before Material looks for it.

The script is third-party code, so it is never committed: it is taken from the npm
package ``mermaid`` at a pinned version (``npm pack``), checked against a pinned SHA-256
and cached outside the repository (``$DOCGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/docgen``,
else ``~/.cache/docgen``). ``DOCGEN_MERMAID_JS=/path/to/mermaid.min.js`` uses a copy you
provide instead. When neither works the build still succeeds and prints a warning: the
site then falls back to Material's CDN copy.

The files reach the built site as extra *theme* directories (MkDocs copies every static
file of every theme directory), so nothing is written into the docs folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from typing import Any

from docgen.model import ProjectConfig

#: The Mermaid release shipped with sites; Material 9.x expects the 11.x API.
MERMAID_VERSION = "11.12.1"
#: SHA-256 of ``dist/mermaid.min.js`` in that release: the cache and downloads are checked.
MERMAID_SHA256 = "198b19442f86f0b46a17e56d3abf744c3a28a3427e66fa8dada3b589a77babcc"
#: Where the script lands in the built site.
MERMAID_SITE_PATH = "assets/javascripts/docgen/mermaid.min.js"
MERMAID_LICENSE_SITE_PATH = "assets/javascripts/docgen/mermaid.LICENSE.txt"
#: docgen's stylesheet (in ``site_overrides/``, shipped in the wheel).
STYLESHEET = "assets/docgen/docgen.css"
#: How long ``npm pack`` may take before docgen gives up and falls back to the CDN.
NPM_TIMEOUT_SECONDS = 180


def overrides_dir() -> str:
    """docgen's theme overrides: inside the wheel, or ``site_overrides/`` of the checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "site_overrides")
    if os.path.isdir(packaged):
        return packaged
    return os.path.join(os.path.dirname(here), "site_overrides")


def cache_dir() -> str:
    """Downloads live outside git (and outside the project): one cache per user."""
    explicit = os.environ.get("DOCGEN_CACHE_DIR")
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "docgen")


def mermaid_theme_dir() -> str:
    """The theme directory holding the cached script (one per pinned version)."""
    return os.path.join(cache_dir(), "mermaid", MERMAID_VERSION, "theme")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _npm() -> str | None:
    """The npm executable (``DOCGEN_NPM`` overrides; an empty value disables fetching)."""
    if "DOCGEN_NPM" in os.environ:
        return os.environ["DOCGEN_NPM"] or None
    return shutil.which("npm")


def fetch_mermaid(theme_dir: str) -> str | None:
    """Fetch the pinned release with ``npm pack`` into ``theme_dir``; None, or why not."""
    npm = _npm()
    if not npm:
        return "npm is not installed (or DOCGEN_NPM is empty)"
    with tempfile.TemporaryDirectory(prefix="docgen-mermaid-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", f"mermaid@{MERMAID_VERSION}", "--pack-destination", tmp,
                 "--silent"],
                cwd=tmp, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"npm pack failed: {exc}"
        tarballs = [n for n in os.listdir(tmp) if n.endswith(".tgz")]
        if proc.returncode != 0 or len(tarballs) != 1:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no tarball"]
            return f"npm pack mermaid@{MERMAID_VERSION} failed: {detail[0]}"
        # Read the two members we need; nothing is extracted to disk by name, so a
        # hostile tarball cannot write outside the cache.
        try:
            with tarfile.open(os.path.join(tmp, tarballs[0]), "r:gz") as tar:
                script = _member(tar, "package/dist/mermaid.min.js")
                licence = _member(tar, "package/LICENSE")
        except (OSError, tarfile.TarError, KeyError) as exc:
            return f"unreadable mermaid package: {exc}"
    if hashlib.sha256(script).hexdigest() != MERMAID_SHA256:
        return f"mermaid@{MERMAID_VERSION} dist/mermaid.min.js does not match the pinned SHA-256"
    _write_atomic(os.path.join(theme_dir, MERMAID_LICENSE_SITE_PATH), licence)
    _write_atomic(os.path.join(theme_dir, MERMAID_SITE_PATH), script)
    return None


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    fh = tar.extractfile(name)
    if fh is None:
        raise KeyError(f"{name} is not a file")
    return fh.read()


def ensure_mermaid(fetch: bool = True) -> tuple[str | None, str]:
    """A theme directory that holds ``MERMAID_SITE_PATH``, or None and the reason.

    Order: ``DOCGEN_MERMAID_JS`` (a copy you provide), the verified cache, ``npm pack``.
    """
    provided = os.environ.get("DOCGEN_MERMAID_JS")
    if provided:
        if not os.path.isfile(provided):
            return None, f"DOCGEN_MERMAID_JS={provided} does not exist"
        theme = os.path.join(cache_dir(), "mermaid", "provided", "theme")
        target = os.path.join(theme, MERMAID_SITE_PATH)
        if not os.path.isfile(target) or _sha256(target) != _sha256(provided):
            with open(provided, "rb") as fh:
                _write_atomic(target, fh.read())
        return theme, f"provided by DOCGEN_MERMAID_JS ({provided})"
    theme = mermaid_theme_dir()
    target = os.path.join(theme, MERMAID_SITE_PATH)
    if os.path.isfile(target) and _sha256(target) == MERMAID_SHA256:
        return theme, f"mermaid {MERMAID_VERSION} from the cache"
    if not fetch:
        return None, f"mermaid {MERMAID_VERSION} is not in the cache ({theme})"
    problem = fetch_mermaid(theme)
    if problem:
        return None, problem
    return theme, f"mermaid {MERMAID_VERSION} fetched with npm"


def _warn(message: str) -> None:
    """A visible warning that is not an MkDocs warning: ``--strict`` must not turn a
    missing offline copy into a failed build (the CDN still works where there is a
    network)."""
    print(f"WARNING -  docgen: {message}", file=sys.stderr)


def _insert_theme_dir(config: Any, path: str) -> None:
    """Add a theme directory after the project's ``custom_dir`` and before Material's,
    so a project can still override anything docgen ships."""
    dirs: list[str] = config["theme"].dirs
    norm = os.path.realpath(path)
    if any(os.path.realpath(d) == norm for d in dirs):
        return
    custom = config["theme"].custom_dir
    index = 1 if custom and dirs and os.path.realpath(dirs[0]) == os.path.realpath(custom) else 0
    dirs.insert(index, path)


def _has_script(config: Any, path: str) -> bool:
    return any(str(s) == path for s in config["extra_javascript"])


def add_site_assets(config: Any, project: ProjectConfig) -> None:
    """Called from the plugin's ``on_config``: stylesheet always, Mermaid when local."""
    _insert_theme_dir(config, overrides_dir())
    if STYLESHEET not in [str(c) for c in config["extra_css"]]:
        config["extra_css"].append(STYLESHEET)
    if not project.mermaid_local:
        return
    theme, why = ensure_mermaid()
    if theme is None:
        _warn(f"no local Mermaid script ({why}); diagrams will load Mermaid from Material's "
              "CDN and need internet access. Set site.mermaid: cdn in docgen.yml to silence "
              "this, or run scripts/fetch_mermaid.sh where the npm registry is reachable.")
        return
    _insert_theme_dir(config, theme)
    if not _has_script(config, MERMAID_SITE_PATH):
        from mkdocs.config.config_options import ExtraScriptValue

        # Material only fetches its CDN copy when `mermaid` is undefined; deferred scripts
        # run before DOMContentLoaded, i.e. before Material mounts the diagrams.
        script = ExtraScriptValue(MERMAID_SITE_PATH)
        script.defer = True
        config["extra_javascript"].append(script)


def main(argv: list[str] | None = None) -> int:
    """``python -m docgen.assets``: fill the cache ahead of an offline build."""
    theme, why = ensure_mermaid()
    if theme is None:
        print(f"docgen: could not obtain Mermaid: {why}", file=sys.stderr)
        return 1
    print(f"{os.path.join(theme, MERMAID_SITE_PATH)} ({why})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
