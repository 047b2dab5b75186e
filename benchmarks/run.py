#!/usr/bin/env python3
"""docgen benchmark harness: one command, every figure side by side.

    python benchmarks/run.py                 # full run, writes benchmarks/RESULTS.md
    python benchmarks/run.py --repeats 5     # more repeats (medians are reported)
    python benchmarks/run.py --quick         # 1 repeat, no site build, no profiles

These machines are noisy, so every figure is the median of N runs and is compared
with a *floor* measured in the same run: the cost of merely reading the input
(every corpus template loaded with PyYAML's C ``CSafeLoader``, short tags
constructed, JSON with :mod:`json`, in a fresh interpreter like every docgen run).
Targets are stated as ratios to that floor (or absolute where the issue says so).

Every docgen figure is a real ``docgen`` command in a fresh process from a temporary
project folder (no ``docgen.yml``). The corpus holds invalid templates (duplicate
keys etc.): ``validate`` checks the whole folder and ``generate`` runs over it with
``--keep-going`` (the invalid ones are reported and skipped, exit code 1 is
expected); ``build`` gets a list of valid templates (the MkDocs plugin refuses
invalid ones), every 4th by default. docgen runs from a snapshot of ``docgen/`` and
``templates/`` taken at the start, so edits made meanwhile do not skew the figures,
byte-compiled like an installed package.
A missed target gets a profile in RESULTS.md: per-page render times and cProfile's
top entries.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "real")
SIZES = (0.25, 0.5, 1.0)  # of the maximal synthetic template (500/200/200, ~1 MB)
ANALYSIS = "## Analysis"  # hand-written; kept when the harness rewrites RESULTS.md
HEAVY = ("jinja2", "mkdocs", "material", "docgen.knowledge", "docgen.render",
         "docgen.analyse", "docgen.pages")


# --- the floor (runs in a child interpreter: ``run.py _floor LISTFILE``) ----------------


def floor_child(list_file: str, out_file: str) -> None:
    import yaml

    class Loader(yaml.CSafeLoader):
        pass

    def construct(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node, deep=True)}
        return {suffix: loader.construct_mapping(node, deep=True)}

    Loader.add_multi_constructor("!", construct)
    with open(list_file, encoding="utf-8") as fh:
        files = fh.read().split("\n")
    start = time.perf_counter()
    loaded = 0
    for path in filter(None, files):
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            if path.endswith(".json") or data.lstrip()[:1] in (b"{", b"["):
                json.loads(data)
            else:
                yaml.load(data, Loader=Loader)
            loaded += 1
        except (ValueError, yaml.YAMLError):
            pass
    with open(out_file, "w", encoding="utf-8") as fh:
        json.dump({"files": len(files), "loaded": loaded,
                   "seconds": time.perf_counter() - start}, fh)


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    times: list[float] = field(default_factory=list)
    note: str = ""

    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")

    def run(self, cmd: Sequence[str], cwd: str, env: dict[str, str] | None = None,
            ok: Sequence[int] = (0,), rss: list[float] | None = None) -> None:
        cpu: list[float] = []
        self.times.append(timed(cmd, cwd, env, ok, rss, cpu))
        self.cpu.extend(cpu)


def docgen_cmd() -> list[str]:
    """The ``docgen`` console script beside this interpreter (a version manager's shim
    on PATH, such as pyenv's, would add its own start-up to every figure)."""
    beside = os.path.join(os.path.dirname(sys.executable), "docgen")
    if os.access(beside, os.X_OK):
        return [beside]
    exe = shutil.which("docgen")
    return [exe] if exe else [sys.executable, "-m", "docgen"]


def timed(cmd: Sequence[str], cwd: str, env: dict[str, str] | None = None,
          ok: Sequence[int] = (0,), rss: list[float] | None = None,
          cpu: list[float] | None = None) -> float:
    """Wall time of ``cmd``; its peak RSS (MB, largest process of its tree) into ``rss``,
    its CPU time (user + system, all its processes) into ``cpu``."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in ok:
            err.seek(0)
            raise SystemExit(f"benchmark command failed ({proc.returncode}): "
                             f"{' '.join(cmd[:4])} ...\n{err.read()[-3000:].decode()}")
    if rss is not None:
        rss.append(usage.ru_maxrss / 1024)
    if cpu is not None:
        cpu.append(usage.ru_utime + usage.ru_stime)
    return elapsed


def imported_modules(cmd_args: Sequence[str], cwd: str, env: dict[str, str]) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "docgen", *cmd_args],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)
    mods = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip())
    return mods


def machine() -> dict[str, str]:
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = int(fh.readline().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import yaml

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "docgen", "templates"],
                           cwd=ROOT, capture_output=True, text=True, check=False).stdout
    return {"nproc": str(os.cpu_count()), "memory": mem, "cpu": cpu or "unknown",
            "python": platform.python_version(), "os": platform.platform(),
            "pyyaml": f"{yaml.__version__} (libyaml: {getattr(yaml, '__with_libyaml__', False)})",
            "docgen": f"{rev}{' + uncommitted changes' if dirty.strip() else ''}",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load average at the end (1/5/15 min)": " / ".join(f"{x:.1f}"
                                                              for x in os.getloadavg())}


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def parallel_capacity(n: int = 15_000_000) -> float:
    """Speed-up of two processes burning CPU over one: ~2 with two real cores, ~1 when
    the "cores" share one (then no parallel code can pay on this machine)."""
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    _burn(n)
    _burn(n)
    one = time.perf_counter() - start
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_burn, [1, 1]))  # workers up before timing
        start = time.perf_counter()
        list(pool.map(_burn, [n, n]))
        two = time.perf_counter() - start
    return one / two


# --- profiles for missed targets ---------------------------------------------------------


def profile_child(kind: str, args: list[str]) -> None:
    """``run.py _profile KIND ARGS...``: in-process profile of one docgen command.

    ``BENCH_PROFILE=pages`` times each page render only (cheap, the whole corpus);
    ``cprofile`` runs cProfile too (slow: pass fewer templates).
    """
    import docgen
    from docgen import render
    from docgen.cli import main

    per_page: dict[str, list[float]] = {}
    original = render.render_page

    def timed_page(env: Any, spec: Any, ctx: Any, rel_path: str) -> Any:
        start = time.perf_counter()
        try:
            return original(env, spec, ctx, rel_path)
        finally:
            key = ("stack/" if ctx.stack is not None else "handbook/") + spec.slug
            per_page.setdefault(key, []).append(time.perf_counter() - start)

    render.render_page = timed_page  # type: ignore[assignment]
    use_cprofile = os.environ.get("BENCH_PROFILE") == "cprofile"
    prof = cProfile.Profile()
    start = time.perf_counter()
    if use_cprofile:
        prof.enable()
    try:
        main(args, standalone_mode=False)
    except SystemExit:
        pass
    if use_cprofile:
        prof.disable()
    total = time.perf_counter() - start
    out: dict[str, Any] = {"kind": kind, "total": total}
    out["pages"] = sorted(((k, sum(v), len(v)) for k, v in per_page.items()),
                          key=lambda x: -x[1])
    if use_cprofile:
        strip = os.path.dirname(os.path.dirname(os.path.abspath(docgen.__file__))) + "/"
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(
            r"docgen|yaml|jinja2", 30)
        out["cumulative"] = _trim(buf.getvalue(), strip)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
        out["tottime"] = _trim(buf.getvalue(), strip)
    print(json.dumps(out))


def _trim(text: str, strip: str) -> str:
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("ncalls")), 0)
    return "\n".join(ln.replace(strip, "").replace(sys.prefix + "/", "")
                     for ln in lines[start:] if ln.strip())


def profile(kind: str, args: list[str], cwd: str, base_env: dict[str, str],
            mode: str = "cprofile") -> dict[str, Any]:
    env = {**base_env, "DOCGEN_JOBS": "1", "DOCGEN_CACHE": "0", "BENCH_PROFILE": mode}
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "_profile", kind, *args],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)
    last = proc.stdout.strip().splitlines()[-1:] or ["{}"]
    try:
        return json.loads(last[0])  # type: ignore[no-any-return]
    except ValueError:
        return {"kind": kind, "error": proc.stderr[-2000:]}


# --- the run -----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--build-repeats", type=int, default=1)
    ap.add_argument("--build-every", type=int, default=4,
                    help="site build over every Kth valid template (1: all; ~10 GB, slow)")
    ap.add_argument("--quick", action="store_true", help="1 repeat, no site build, no profiles")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--live", action="store_true",
                    help="run the working tree itself, not a snapshot taken at the start")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"),
                    help="Markdown results file ('' to skip writing)")
    opts = ap.parse_args()
    if opts.quick:
        opts.repeats, opts.no_build, opts.no_profile = 1, True, True
    n = max(1, opts.repeats)
    docgen = docgen_cmd()
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("DOCGEN_JOBS", "DOCGEN_CACHE", "DOCGEN_DEBUG")}
    work = tempfile.mkdtemp(prefix="docgen-bench-")
    facts_load = os.getloadavg()[0]
    rows: dict[str, Row] = {}
    facts: dict[str, Any] = {"load_start": facts_load}

    def row(key: str, name: str, note: str = "") -> Row:
        rows[key] = Row(name, note=note)
        return rows[key]

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        from docgen.discover import find_templates

        corpus = os.path.join(work, "corpus")
        shutil.copytree(opts.corpus, corpus)
        files, _ = find_templates([corpus])
        list_file = os.path.join(work, "files.txt")
        with open(list_file, "w", encoding="utf-8") as fh:
            fh.write("\n".join(files))
        facts["templates"] = len(files)
        facts["corpus_bytes"] = sum(os.path.getsize(f) for f in files)

        # which templates docgen accepts (the build needs the valid ones)
        from docgen.loader import load_template

        valid = [f for f in files if load_template(f)[0] is not None]
        facts["valid"] = len(valid)

        if not opts.live:  # a frozen copy: others may edit the tree during the run
            src = os.path.join(work, "src")
            skip = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(os.path.join(ROOT, "docgen"), os.path.join(src, "docgen"), ignore=skip)
            shutil.copytree(os.path.join(ROOT, "templates"), os.path.join(src, "templates"))
            # byte-compiled, as ``pip install`` does: the floor's PyYAML and json are
            # compiled too, and a sandbox with PYTHONDONTWRITEBYTECODE would otherwise
            # recompile docgen's modules from source in every measured run
            import compileall

            compileall.compile_dir(os.path.join(src, "docgen"), quiet=1)
            base_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (src, base_env.get("PYTHONPATH", "")) if p)
        say(f"corpus: {len(files)} templates ({len(valid)} valid), work dir {work}")
        empty = os.path.join(work, "empty")
        os.makedirs(empty)

        # 1. floor
        r = row("floor", "floor: CSafeLoader + json, every template")
        inproc = []
        floor_out = os.path.join(work, "floor.json")
        for _ in range(n):
            r.run([sys.executable, os.path.abspath(__file__), "_floor", list_file, floor_out],
                  empty)
            with open(floor_out, encoding="utf-8") as fh:
                inproc.append(json.load(fh)["seconds"])
        facts["floor_parse_only"] = statistics.median(inproc)
        say(f"floor {r.median:.2f}s")

        # 2. validate, cold (validate has no cache)
        r = row("validate", "docgen validate (corpus)")
        for _ in range(n):
            r.run([*docgen, "validate", corpus], empty, base_env, ok=(0, 1))
        say(f"validate {r.median:.2f}s")
        # 3. generate: cold, no-op, one template edited
        gen_args = ["generate", corpus, "--docs-dir", "docs", "--keep-going"]
        cold, noop, edited = (row("generate", "docgen generate (corpus), cold"),
                              row("noop", "  regeneration, nothing changed"),
                              row("edit", "  regeneration, one template edited"))
        serial = row("serial", "  cold, one process (DOCGEN_JOBS=1)")
        sizes = sorted((os.path.getsize(f), f) for f in valid if f.endswith((".yaml", ".yml")))
        victim = sizes[len(sizes) // 2][1]
        facts["edited_template"] = os.path.relpath(victim, corpus)
        project = project_s = ""
        capacity = [parallel_capacity()]  # other tenants come and go: sample it around
        rss_cold: list[float] = []
        rss_serial: list[float] = []
        for k in range(n):  # parallel and one-process cold runs interleaved (load drifts)
            project = os.path.join(work, f"gen-{k}")
            os.makedirs(project)
            cold.run([*docgen, *gen_args], project, base_env, ok=(0, 1), rss=rss_cold)
            noop.run([*docgen, *gen_args], project, base_env, ok=(0, 1))
            with open(victim, "a", encoding="utf-8") as fh:
                fh.write(f"\n# benchmark edit {k}\n")
            edited.run([*docgen, *gen_args], project, base_env, ok=(0, 1))
            project_s = os.path.join(work, f"gen-serial-{k}")
            os.makedirs(project_s)
            serial.run([*docgen, *gen_args], project_s, {**base_env, "DOCGEN_JOBS": "1"},
                       ok=(0, 1), rss=rss_serial)
        say(f"generate {cold.median:.2f}s, no-op {noop.median:.2f}s, edit {edited.median:.2f}s")
        alone = row("alone", "  the edited template generated alone, cold")
        for k in range(n):
            adir = os.path.join(work, f"alone-{k}")
            os.makedirs(adir)
            alone.run([*docgen, "generate", victim, "--docs-dir", "docs"], adir, base_env)
        say(f"one process {serial.median:.2f}s")
        capacity.append(parallel_capacity())
        # identical output, parallel vs serial, cached vs fresh
        from docgen.generate import read_tree

        fresh = os.path.join(work, "fresh")  # parallel, no cache
        os.makedirs(fresh)
        timed([*docgen, *gen_args], fresh, {**base_env, "DOCGEN_CACHE": "0"}, ok=(0, 1))
        same_parallel = read_tree(os.path.join(project_s, "docs", "runbooks")) == \
            read_tree(os.path.join(fresh, "docs", "runbooks"))
        same_cache = read_tree(os.path.join(fresh, "docs", "runbooks")) == \
            read_tree(os.path.join(project, "docs", "runbooks"))
        facts["identical_parallel_serial"] = same_parallel
        facts["identical_cached_fresh"] = same_cache
        facts["pages"] = len(read_tree(os.path.join(fresh, "docs", "runbooks")))
        facts["pages_bytes"] = sum(len(t.encode()) for t in
                                   read_tree(os.path.join(fresh, "docs", "runbooks")).values())

        facts["rss_mb"] = max(rss_cold)
        facts["rss_mb_serial"] = max(rss_serial)
        say(f"peak RSS {facts['rss_mb']:.0f} MB")

        # 5. docgen build (MkDocs included): valid templates, every Kth by default (a
        # whole-corpus site is ~10 GB: every page carries the full navigation)
        if not opts.no_build:
            sample = valid[::max(1, opts.build_every)]
            facts["build_templates"] = len(sample)
            rb = row("build", f"docgen build, MkDocs included ({len(sample)} valid templates)")
            rg = row("build-gen", f"  docgen generate of the same {len(sample)}, cold")
            for k in range(max(1, opts.build_repeats)):
                gdir = os.path.join(work, f"build-gen-{k}")
                os.makedirs(gdir)
                rg.run([*docgen, "generate", *sample, "--docs-dir", "docs"], gdir, base_env)
                bdir = os.path.join(work, f"build-{k}")
                os.makedirs(bdir)
                rb.run([*docgen, "build", *sample, "--site-dir", "site"], bdir, base_env)
                facts["site_mb"] = sum(os.path.getsize(os.path.join(b, f))
                                       for b, _, fs in os.walk(os.path.join(bdir, "site"))
                                       for f in fs) / 1e6
                shutil.rmtree(bdir, ignore_errors=True)
            facts["mkdocs_share"] = max(0.0, 1 - rg.median / rb.median)
            say(f"build {rb.median:.2f}s (generate {rg.median:.2f}s)")

        # 6. synthetic templates: the maximal one, and 3 sizes for linearity
        sys.path.insert(0, HERE)
        import synth

        facts["synthetic"] = []
        for scale in SIZES:
            path = os.path.join(work, f"synthetic-{int(scale * 100)}.yaml")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(synth.maximal(scale))
            r = row(f"synth{scale}", f"synthetic template x{scale:g} ({os.path.getsize(path) // 1024} KB)")
            for k in range(n):
                sdir = os.path.join(work, f"synth-{scale}-{k}")
                os.makedirs(sdir)
                r.run([*docgen, "generate", path, "--docs-dir", "docs"], sdir, base_env)
            facts["synthetic"].append((scale, os.path.getsize(path), r.median, r.cpu_median))
            say(f"synthetic x{scale}: {r.median:.2f}s")

        # 7. CLI start-up
        starts = {"pass": [sys.executable, "-c", "pass"], "version": [*docgen, "--version"],
                  "help": [*docgen, "--help"]}
        for key, cmd in starts.items():
            r = row(f"start-{key}", {"pass": "python -c pass", "version": "docgen --version",
                                     "help": "docgen --help"}[key])
            for _ in range(max(10, n)):
                r.run(cmd, empty, base_env)
        heavy: dict[str, list[str]] = {}
        for label, args in (("--version", ["--version"]), ("--help", ["--help"]),
                            ("validate", ["validate", victim])):
            mods = imported_modules(args, empty, base_env)
            heavy[label] = sorted(m for m in mods if m.split(".")[0] in HEAVY or
                                  any(m == h or m.startswith(h + ".") for h in HEAVY))
        facts["heavy_imports"] = heavy
        capacity.append(parallel_capacity())
        facts["capacity"] = statistics.median(capacity)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise

    # --- verdicts ------------------------------------------------------------------------
    fl = rows["floor"].median
    g = rows["generate"].median
    targets: list[tuple[str, str, str, bool | None]] = []

    def target(name: str, goal: str, figure: str, met: bool | None) -> None:
        targets.append((name, goal, figure, met))

    target("full generate", "≤ 3x floor", f"{g / fl:.1f}x ({g:.2f} s)", g <= 3 * fl)
    v = rows["validate"].median
    target("validate", "≤ 1.5x floor", f"{v / fl:.2f}x ({v:.2f} s)", v <= 1.5 * fl)
    nm = rows["noop"].median
    target("no-op regeneration", "≤ 10% of a full one", f"{nm / g:.1%} ({nm:.2f} s)",
           nm <= 0.1 * g)
    ed = rows["edit"].median
    al = rows["alone"].median
    target("one template edited", "close to that template alone (within 2x of no-op + "
           "that template generated alone)",
           f"{ed:.2f} s = {ed / g:.1%} of a full run; no-op + alone: {nm + al:.2f} s",
           ed <= 2 * (nm + al))
    mx = rows["synth1.0"].median
    target("maximal template", "< 1 s", f"{mx:.2f} s", mx < 1.0)
    syn = facts["synthetic"]
    slopes = [(syn[i + 1][3] - syn[i][3]) / ((syn[i + 1][1] - syn[i][1]) / 1e6)
              for i in range(len(syn) - 1)]  # CPU time: steadier than wall time here
    linear = slopes[-1] <= 1.5 * slopes[0] if slopes[0] > 0 else False
    target("linear growth", "CPU time per extra MB grows less than 1.5x from the first "
           "size step to the second (3 sizes)",
           " then ".join(f"{s:.2f} s/MB" for s in slopes), linear)
    for key, label in (("version", "docgen --version"), ("help", "docgen --help")):
        t = rows[f"start-{key}"].median
        target(f"start-up {label}", "< 150 ms",
               f"{t * 1000:.0f} ms (python -c pass: {rows['start-pass'].median * 1000:.0f} ms)",
               t < 0.150)
    bad = {k: v for k, v in facts["heavy_imports"].items() if v}
    target("lazy imports", "no MkDocs/Jinja/knowledge for --help/--version/validate",
           "none" if not bad else "; ".join(f"{k}: {', '.join(v[:6])}" for k, v in bad.items()),
           not bad)
    target("peak RSS", "< 300 MB", f"{facts['rss_mb']:.0f} MB "
           f"(one process: {facts['rss_mb_serial']:.0f} MB)", facts["rss_mb"] < 300)
    sr = rows["serial"].median
    cap = facts["capacity"]
    same = bool(facts["identical_parallel_serial"])
    overlap = rows["generate"].cpu_median / g  # > 1 only if two processes ran at once
    target("both cores", "parallel faster than one process, output identical",
           f"{sr / g:.2f}x speed-up, identical: {same}; CPU/wall of the parallel run: "
           f"{overlap:.2f} (1.0: its processes never ran at the same time); the machine's "
           f"2-process speed-up on pure CPU work: {cap:.2f}x",
           (g < sr and same) if cap >= 1.3 and overlap >= 1.15 else (None if same else False))
    target("cache correctness", "cached output byte-identical to a fresh render",
           str(facts["identical_cached_fresh"]), bool(facts["identical_cached_fresh"]))

    profiles = []
    if not opts.no_profile:
        pdir = os.path.join(work, "profile")
        os.makedirs(pdir)
        if g > 3 * fl or mx >= 1.0 or ed > 2 * (nm + al):
            say("profiling generate (per page, whole corpus) ...")
            profiles.append(profile("generate, whole corpus: time per page", [
                "generate", corpus, "--docs-dir", "docs-pages", "--keep-going"], pdir, base_env,
                "pages"))
            sample = valid[::4]
            say(f"profiling generate (cProfile, {len(sample)} templates) ...")
            profiles.append(profile(f"generate, every 4th valid template ({len(sample)}): "
                                    "cProfile", ["generate", *sample, "--docs-dir",
                                                 "docs-sample"], pdir, base_env))
        if mx >= 1.0:
            say("profiling the maximal template ...")
            profiles.append(profile("generate, maximal synthetic template: cProfile",
                                    ["generate", os.path.join(work, "synthetic-100.yaml"),
                                     "--docs-dir", "docs-synth"], pdir, base_env))
        if v > 1.5 * fl:
            say("profiling validate ...")
            profiles.append(profile("validate, whole corpus: cProfile", ["validate", corpus],
                                    pdir, base_env))

    # --- report --------------------------------------------------------------------------
    table = ["| measurement | median wall | x floor | median CPU | x floor CPU | runs |",
             "|---|---:|---:|---:|---:|---:|"]
    fc = rows["floor"].cpu_median
    for r in rows.values():
        table.append(f"| {r.name} | {r.median:.3f} s | {r.median / fl:.2f} | "
                     f"{r.cpu_median:.3f} s | {r.cpu_median / fc:.2f} | {len(r.times)} |")
    print("\n".join(table))
    print()
    for name, goal, figure, met in targets:
        mark = "n/a" if met is None else ("MET" if met else "MISSED")
        print(f"{mark:7} {name}: {figure}  (target {goal})")
    if opts.output:
        write_results(opts.output, machine(), table, targets, facts, rows, profiles, opts)
        print(f"\nwrote {opts.output}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)


def write_results(path: str, mach: dict[str, str], table: list[str],
                  targets: list[tuple[str, str, str, bool | None]], facts: dict[str, Any],
                  rows: dict[str, Row], profiles: list[dict[str, Any]],
                  opts: argparse.Namespace) -> None:
    fl = rows["floor"].median
    out = ["# docgen benchmark results", "",
           "Produced by `python benchmarks/run.py` (see README, *Benchmarks*). Medians of "
           f"{opts.repeats} runs (site build: {opts.build_repeats}); ratios are against the "
           "floor measured in the same run.", "",
           "## Machine", ""]
    out += [f"- {k}: {v}" for k, v in mach.items()]
    out += [f"- load average at the start (1 min): {facts['load_start']:.1f} -- other jobs "
            "share this machine; with a load near or above nproc, parallel figures say "
            "little"]
    out += ["", "## Input", "",
            f"- corpus: {facts['templates']} templates, {facts['corpus_bytes'] / 1e6:.1f} MB; "
            f"{facts['valid']} valid ({facts['templates'] - facts['valid']} rejected: duplicate "
            "keys, aliases, ...)",
            "- `validate` checks the whole corpus folder (the invalid templates are reported, "
            "exit code 1 is expected); `generate` runs over the whole folder with "
            "`--keep-going` (the invalid ones are reported and skipped); `build` gets a list "
            "of valid templates, because the MkDocs plugin refuses invalid ones",
            f"- generated: {facts['pages']} pages, {facts['pages_bytes'] / 1e6:.1f} MB of Markdown",
            f"- one-template edit: `{facts['edited_template']}` (median-size YAML; a comment "
            "line appended, so its content hash changes)",
            f"- floor, parse time alone (inside the child, no interpreter start-up): "
            f"{facts['floor_parse_only']:.3f} s",
            "", "## Measurements", "", *table, ""]
    if "mkdocs_share" in facts:
        out += [f"MkDocs share of `docgen build` ({facts['build_templates']} templates, "
                f"site {facts['site_mb']:.0f} MB): {facts['mkdocs_share']:.0%} "
                "(build minus a cold generate of the same templates, over build).", ""]
    out += ["Synthetic templates (`benchmarks/synth.py`; x1 = 500 resources, 200 parameters, "
            "200 outputs):", "", "| scale | bytes | median wall | median CPU |",
            "|---:|---:|---:|---:|"]
    out += [f"| x{s:g} | {b:,} | {t:.3f} s | {c:.3f} s |" for s, b, t, c in facts["synthetic"]]
    out += ["", "## Targets", "", "| target | goal | figure | verdict |", "|---|---|---|---|"]
    for name, goal, figure, met in targets:
        verdict = "n/a" if met is None else ("met" if met else "**missed**")
        out.append(f"| {name} | {goal} | {figure} | {verdict} |")
    out += ["", f"Floor median: {fl:.3f} s. Heavy modules imported by fast commands: "
            f"`{json.dumps(facts['heavy_imports'])}`.", ""]
    kept = _kept_analysis(path)
    if kept:
        out += [kept, ""]
    if profiles:
        out += ["## Profiles of missed targets", "",
                "In-process, one process (`DOCGEN_JOBS=1`), no cache (`DOCGEN_CACHE=0`). "
                "\"time per page\" runs plain (timers around each page render only); the "
                "cProfile runs are slower than plain ones (the profiler inflates "
                "Python-heavy code).", ""]
        for prof in profiles:
            out += [f"### {prof.get('kind')}", ""]
            if "total" in prof:
                out += [f"Run time in this mode: {prof['total']:.2f} s.", ""]
            if "error" in prof:
                out += ["```", prof["error"], "```", ""]
                continue
            if prof.get("pages"):
                out += ["Render time per page (summed over stacks; the first page to need a "
                        "shared analysis pays for it):", "", "| page | total | pages |",
                        "|---|---:|---:|"]
                out += [f"| {k} | {t:.2f} s | {c} |" for k, t, c in prof["pages"][:20]]
                out.append("")
            if "cumulative" in prof:
                out += ["Top cumulative (docgen, yaml, jinja2):", "", "```",
                        prof["cumulative"], "```", "", "Top own time:", "", "```",
                        prof["tottime"], "```", ""]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out).rstrip() + "\n")


def _kept_analysis(path: str) -> str:
    """The hand-written ``## Analysis`` section of the previous RESULTS.md (up to the
    next generated section), carried over so that re-running keeps it."""
    try:
        with open(path, encoding="utf-8") as fh:
            previous = fh.read()
    except OSError:
        return ""
    if ANALYSIS not in previous:
        return ""
    text = previous[previous.index(ANALYSIS):]
    end = text.find("\n## Profiles of missed targets")
    return (text if end < 0 else text[:end]).rstrip()


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "_floor":
        floor_child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 2 and sys.argv[1] == "_profile":
        profile_child(sys.argv[2], sys.argv[3:])
    else:
        main()
