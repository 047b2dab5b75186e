"""Nothing injected: every string from a template or docgen.yml lands on a page as text.

Hypothesis generates hostile strings (HTML, Markdown, Mermaid, shell and Jinja syntax)
for every field that reaches a page; the pages are rendered with ``docgen`` and turned
into HTML with the Python-Markdown extensions of the project's ``mkdocs.yml`` (a full
MkDocs build per example would be too slow; one full build runs at the end). Checks:

* the HTML has exactly the elements and attributes the same page has with harmless
  strings (nothing injected: no ``<script>``, ``onerror``, ``javascript:`` link...);
* each string appears in the page's text, whole (nothing eaten, nothing added);
* every Markdown table row has its header's column count;
* Mermaid labels stay inside their quotes;
* shell commands still parse, and the values they carry come back as one word each.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markdown
import pytest
import yaml
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docgen import escape
from docgen.config import load_config
from docgen.discover import slug
from docgen.generate import build

HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
    "<iframe src=//evil>", "</td></tr></table>", "|", "||", "\n", "\n\n# Heading\n", "`", "```",
    "[x](javascript:alert(1))", "![i](x)", "<https://evil>", "\n!!! note\n    boom\n",
    "{{ 7*7 }}", "{% raw %}", "{: onclick=\"alert(1)\" }", "-->", "--> B", '"]', "\"", "'",
    "$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "&& x", "\\", "*em*", "_u_", "&amp;",
    "&#60;", "<!--", "-->", ":smile:", "==m==", "~~d~~", "^^c^^", "$$x$$", "%%{init}%%", "#",
    "\t", "  ", "\r\n", "\x00", "\u2028", "é", "🙂", "-", "1. ", "> ", "+ ", "* ",
]

# Hostile text: fragments of markup joined with arbitrary text. Prefixed with "v" so
# that no field is ever empty (an empty field legitimately renders other sentences).
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=4)),
                   min_size=1, max_size=5).map(lambda parts: "v" + "".join(parts))


def _md() -> markdown.Markdown:
    """Python-Markdown configured exactly like the project's mkdocs.yml."""
    from mkdocs.utils import yaml_load

    with open(REPO / "mkdocs.yml", encoding="utf-8") as fh:
        cfg = yaml_load(fh)
    names: list[str] = []
    configs: dict[str, Any] = {}
    for ext in cfg["markdown_extensions"]:
        if isinstance(ext, dict):
            (name, conf), = ext.items()
            names.append(name)
            configs[name] = conf or {}
        else:
            names.append(ext)
    return markdown.Markdown(extensions=names, extension_configs=configs)


MD = _md()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self.urls: list[str] = []
        self.text: list[str] = []
        self.rows_per_table: list[int] = []

        self.pre = 0  # inside <pre>, the highlighter's <span>s depend on the code itself

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self.pre += 1
        if not (self.pre and tag == "span"):
            self.elements[(tag, tuple(sorted(a for a, _ in attrs)))] += 1
        self.urls += [v or "" for a, v in attrs if a in ("href", "src", "action", "data")]
        if tag == "table":
            self.rows_per_table.append(0)
        elif tag == "tr":
            self.rows_per_table[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self.pre -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(md_text: str) -> _Tags:
    html = MD.reset().convert(md_text)
    p = _Tags()
    p.feed(html)
    p.close()
    return p


def norm(s: str) -> str:
    """What a reader sees of a string: controls as spaces, whitespace runs as one."""
    s = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", " ", s)
    return " ".join(s.split())


# --- Markdown table and Mermaid structure -------------------------------------------------

def split_row(line: str) -> list[str]:
    """Cells of a Markdown table row as Python-Markdown splits them: ``\\|`` and code
    spans do not split."""
    cells, cur, i, tick = [], "", 0, 0
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            cur += body[i:i + 2]
            i += 2
            continue
        if ch == "`":
            run = len(body[i:]) - len(body[i:].lstrip("`"))
            tick = 0 if tick == run else (run if not tick else tick)
            cur += "`" * run
            i += run
            continue
        if ch == "|" and not tick:
            cells.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    if cur.strip():
        cells.append(cur)
    return cells


def check_tables(page: str, text: str) -> int:
    """Every table row has its header's column count; no row is broken over lines."""
    lines = text.split("\n")
    rows = 0
    i = 0
    while i < len(lines):
        if re.match(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", lines[i]) and i:
            header = len(split_row(lines[i - 1]))
            j = i + 1
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                assert len(split_row(lines[j])) == header, (page, lines[i - 1], lines[j])
                rows += 1
                j += 1
            if j < len(lines):  # a row broken by a newline would leave a "... |" line
                assert not lines[j].rstrip().endswith(" |"), (page, lines[j])
            i = j
        else:
            i += 1
    return rows


_LABEL = re.compile(r'"[^"\n]*"')
_MERMAID_OUTSIDE_OK = re.compile(r"^[A-Za-z0-9_ \-.>|=\[\](){}:;,&%#/]*$")


def check_mermaid(page: str, text: str) -> None:
    """Outside its quoted labels, a Mermaid line holds only ids and arrows."""
    for block in re.findall(r"^(\s*)(`{3,}) ?mermaid\n(.*?)^\1\2\s*$", text, re.M | re.S):
        for line in block[2].split("\n"):
            outside = _LABEL.sub("", line)
            assert _MERMAID_OUTSIDE_OK.match(outside), (page, line)


# --- shell ---------------------------------------------------------------------------------

def shell_words(body: str) -> list[str]:
    """Words of a bash block as the shell sees them (comments dropped and line
    continuations joined only outside quotes, where the shell does so)."""
    out, quote, i = [], "", 0
    while i < len(body):
        ch = body[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                out.append(body[i:i + 2])
                i += 2
                continue
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (not out or out[-1] in " \t\n;"):
            end = body.find("\n", i)
            i = len(body) if end < 0 else end  # a comment, up to the end of its line
            continue
        elif ch == "\\" and body[i + 1:i + 2] == "\n":
            out.append(" ")
            i += 2
            continue
        elif ch == "\\":
            out.append(body[i:i + 2])
            i += 2
            continue
        out.append(ch)
        i += 1
    assert not quote, f"unbalanced quote in:\n{body}"
    return shlex.split("".join(out), comments=False, posix=True)


def bash_blocks(text: str) -> list[str]:
    blocks = re.findall(r"^([ \t]*)(`{3,})(?:bash|sh|shell|console)\n(.*?)\n\1\2[ \t]*$", text,
                        re.M | re.S)
    out = []
    for indent, _, body in blocks:
        lines = body.split("\n")
        out.append("\n".join(ln[len(indent):] if ln.startswith(indent) else ln for ln in lines))
    return out


# --- the project under test -------------------------------------------------------------

def make_project(root: Path, v: dict[str, str]) -> None:
    """A template and a docgen.yml carrying ``v``'s strings in every field that reaches
    a page (names CloudFormation constrains to alphanumerics stay alphanumeric)."""
    template = {
        "Description": v["template_description"],
        "Metadata": {"AWS::CloudFormation::Interface": {
            "ParameterGroups": [{"Label": {"default": v["group"]}, "Parameters": ["Mode"]}],
            "ParameterLabels": {"Mode": {"default": v["label"]}}}},
        "Parameters": {
            "Mode": {"Type": "String", "Description": v["param_description"],
                     "Default": v["default"], "AllowedValues": [v["default"], v["allowed"]],
                     "ConstraintDescription": v["constraint"],
                     "AllowedPattern": v["pattern"]},
            "Plain": {"Type": "String", "Description": "free text"},
        },
        # never true, whatever the strings: the pages' branches stay those of the baseline
        "Conditions": {v["condition"]: {"Fn::Equals": [{"Ref": "Mode"}, "1 never 2"]}},
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain",
                       "Properties": {"BucketName": v["bucket"],
                                      "Tags": [{"Key": v["tag_key"], "Value": v["tag_value"]}]}},
            "Queue": {"Type": "AWS::SQS::Queue", "Condition": v["condition"]},
            # CloudFormation limits custom type names; docgen must not rely on it
            "Extra": {"Type": "Custom::" + v["rtype"], "DependsOn": "Bucket", "Properties": {
                "ServiceToken": "arn:aws:lambda:eu-west-2:123456789012:function:f"}},
        },
        "Outputs": {
            "BucketOut": {"Description": v["output_description"], "Value": {"Ref": "Bucket"},
                          "Export": {"Name": v["export"]}},
        },
    }
    (root / "app.json").write_text(json.dumps(template, indent=1, ensure_ascii=False),
                                   encoding="utf-8")
    config = {
        "title": v["title"], "description": v["description"],
        "paths": {"docs": "docs"},
        "stacks": {v["stack_id"]: {
            "template": "app.json", "name": v["stack_name"], "region": "eu-west-2",
            "description": v["stack_description"], "owner": v["owner"]}},
        "environments": {
            v["env"]: {"parameters": {"Plain": v["param_value"]},
                       "stacks": {slug(v["stack_id"]): {"outputs_file": "live.json"}}},
            "prod": {"parameters": {"Plain": "p"}},
        },
    }
    live = {"BucketOut": v["live_value"], v["live_key"]: "x"}  # a live outputs file
    (root / "live.json").write_text(json.dumps(live), encoding="utf-8")
    # YAML escapes (not JSON's surrogate pairs, which YAML does not read) for every
    # character a YAML file cannot hold literally
    (root / "docgen.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


FIELDS = ["template_description", "group", "label", "param_description", "default", "allowed",
          "constraint", "pattern", "condition", "bucket", "tag_key", "tag_value",
          "output_description", "export", "title", "description", "stack_id", "stack_name",
          "stack_description", "owner", "env", "param_value", "live_value", "live_key", "rtype"]

# Where each string must be readable (page path relative to runbooks/, stack id = "S").
SHOWN_ON = {
    "template_description": "S/index.md", "group": "S/parameters.md",
    "label": "S/parameters.md", "param_description": "S/parameters.md",
    "default": "S/parameters.md", "allowed": "S/parameters.md",
    "constraint": "S/parameters.md", "pattern": "S/parameters.md",
    "condition": "S/index.md", "output_description": "S/outputs.md", "title": "index.md",
    "stack_description": "index.md", "owner": "S/index.md", "env": "S/deploy.md",
    "stack_name": "S/index.md", "live_value": "S/outputs.md", "live_key": "S/outputs.md",
    "rtype": "S/index.md",
}


def render(v: dict[str, str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, v)
        result = build(load_config(str(root / "docgen.yml")))
        assert result.handbook is not None, [str(d) for d in result.errors]
        return result.pages


def _baseline(v: dict[str, str]) -> dict[str, str]:
    safe = {k: f"v{k.replace('_', '')}" for k in FIELDS}
    safe["condition"] = "vcondition"
    return safe


BASE_PAGES: dict[str, dict[str, str]] = {}


def baseline_pages() -> dict[str, str]:
    if not BASE_PAGES:
        BASE_PAGES.update(render(_baseline({})))
    return BASE_PAGES


def as_shell_sees(value: str) -> str:
    """Markdown turns CR LF and CR into LF before anything else, so a value reaches a
    page's code block (and a shell) with LF line ends."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def check_pages(v: dict[str, str], pages: dict[str, str]) -> None:
    base = baseline_pages()
    stack_dir = next(p.split("/")[0] for p in pages if "/" in p)
    base_dir = next(p.split("/")[0] for p in base if "/" in p)
    assert sorted(p.replace(stack_dir + "/", "S/") for p in pages) == sorted(
        p.replace(base_dir + "/", "S/") for p in base)
    for rel, text in pages.items():
        key = rel.replace(stack_dir + "/", "S/")
        html = parse_html(text)
        want = parse_html(base[key.replace("S/", base_dir + "/")])
        # 1. nothing injected: the same elements with the same attribute names
        assert html.elements == want.elements, (key, html.elements - want.elements,
                                                want.elements - html.elements)
        for url in html.urls:
            assert not re.sub(r"\s", "", url).lower().startswith(("javascript:", "data:")), url
        # 2. tables keep their columns (and their rows)
        check_tables(key, text)
        assert html.rows_per_table == want.rows_per_table, key
        # 3. Mermaid labels stay labels
        check_mermaid(key, text)
        # 4. shell: every block still parses; stack name and values are single words
        for body in bash_blocks(text):
            words = shell_words(body)
            for i, w in enumerate(words[:-1]):
                if w == "--stack-name":
                    assert words[i + 1] == as_shell_sees(v["stack_name"]) or \
                        words[i + 1].startswith("$"), (key, words[i + 1])
            assert not any("PWNED" in w and w.startswith(("touch", "$(")) for w in words)
        # 5. each string readable, whole, where it belongs
        page_text = norm("".join(html.text))
        for field, page in SHOWN_ON.items():
            if page == key:
                assert norm(v[field]) in page_text, (field, v[field], key)
    deploy = pages[f"{stack_dir}/deploy.md"]
    words = [w for body in bash_blocks(deploy) for w in shell_words(body)]
    assert f"Plain={as_shell_sees(v['param_value'])}" in words, "the value is one word"
    assert as_shell_sees(v["stack_name"]) in words


@st.composite
def values(draw: st.DrawFn) -> dict[str, str]:
    v = {k: draw(hostile) for k in FIELDS}
    # a condition name is a mapping key CloudFormation matches exactly: keep it one line
    v["condition"] = draw(hostile.map(lambda s: re.sub(r"\s", "", s) or "v"))
    # stack ids are slugged; keep two that slug alike from being generated in one example
    return v


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values())
def test_hostile_strings_render_only_as_text(v: dict[str, str]) -> None:
    check_pages(v, render(v))


FIXED = {k: f"v{HOSTILE[i % len(HOSTILE)]}{HOSTILE[(i * 7 + 3) % len(HOSTILE)]} {k}"
         for i, k in enumerate(FIELDS)}
FIXED["condition"] = "vCond<script>alert(1)</script>|x"
FIXED["stack_name"] = "App$(touch PWNED);'\"`x` <svg onload=alert(1)>"
FIXED["param_value"] = ("$(touch PWNED) ; rm -rf ~ 'q' \"d\" `b`\nsecond line\r<script>alert(1)"
                        "</script>\u2028third\x0bfourth")
FIXED["bucket"] = "bucket$(touch PWNED)"


def test_fixed_hostile_project() -> None:
    check_pages(FIXED, render(FIXED))


def test_escape_functions_directly() -> None:
    """The filters alone, on every fragment: the md/cell/code/html output parses back to
    exactly the text, with no element besides the expected wrapper."""
    for frag in [*HOSTILE, "a|b", "x\\|y", "[a]: http://evil", "<b>bold</b>"]:
        s = "v" + frag + "w"
        for fn, wrapper in ((escape.md, []), (escape.cell, []), (escape.code, ["code"]),
                            (escape.html_text, [])):
            html = parse_html(fn(s))
            tags = sorted(t for (t, _), n in html.elements.items() for _ in range(n))
            assert tags == sorted(["p", *wrapper]), (fn.__name__, frag, tags)
            assert norm("".join(html.text)) == norm(s), (fn.__name__, frag, html.text)
        row = f"| {escape.cell(s)} | {escape.code(s)} |"
        assert len(split_row(row)) == 2, row
        label = escape.mermaid_label(s)
        assert '"' not in label and "\n" not in label and "`" not in label
        assert shlex.split(escape.shell(s)) == [s]


def test_full_mkdocs_build_with_a_hostile_project(tmp_path: Path) -> None:
    """One real site build: the built HTML, search index and sitemap hold the strings
    only as text, and a shell command from the page still means what it says."""
    make_project(tmp_path, FIXED)
    proc = subprocess.run([sys.executable, "-m", "docgen", "build", "--site-dir", "site"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    site = tmp_path / "site"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 5
    for page in pages:
        html = page.read_text(encoding="utf-8")
        p = _Tags()
        p.feed(html)
        for (tag, attrs), _ in p.elements.items():
            assert not any(a.startswith("on") for a in attrs), (page, tag, attrs)
            assert tag not in ("iframe", "object", "embed"), (page, tag)
        # the theme's own scripts are <script src=...>; injected ones would be inline alert()
        assert "<script>alert(1)</script>" not in html
        assert "<svg onload" not in html and "onerror=alert" not in html
        for url in p.urls:
            assert not url.strip().lower().startswith("javascript:"), (page, url)
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    blob = json.dumps(index)
    assert "<script>alert(1)</script>" not in blob and "<svg onload" not in blob
    # shell: run the deploy page's commands with a stand-in `aws` that prints its words
    deploy = next(p for p in pages if p.parts[-2] == "deploy")
    assert deploy.is_file()
    md_deploy = next((tmp_path / "docs" / "runbooks").rglob("deploy.md")).read_bytes().decode()
    block = next(b for b in bash_blocks(md_deploy) if "cloudformation deploy" in b)
    script = ("set -e\naws() { printf '%s\\0' \"$@\" >> words.bin; }\n"
              "jq() { cat; }\ndocgen() { :; }\n" + block + "\n")
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "PWNED").exists(), "a value was executed by the shell"
    words = (tmp_path / "words.bin").read_bytes().decode().split("\0")
    assert FIXED["stack_name"] in words
    assert f"Plain={as_shell_sees(FIXED['param_value'])}" in words


@pytest.mark.parametrize("frag", HOSTILE)
def test_mermaid_label_round_trip(frag: str) -> None:
    label = escape.mermaid_label("v" + frag)
    decoded = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)
    decoded = re.sub(r"#(quot|lt|gt|amp);", lambda m: {"quot": '"', "lt": "<", "gt": ">",
                                                        "amp": "&"}[m.group(1)], decoded)
    assert norm(decoded) == norm("v" + frag.replace("\n", " ").replace("\r", " "))


def test_indent_filter_matches_jinja_but_splits_only_where_markdown_does() -> None:
    """``indent`` puts code blocks in tabs: Jinja's own splits at U+2028 and friends
    (changing quoted values) and leaves a lone CR unindented (which Markdown then reads
    as a line that ends the tab, letting the rest of the block out as Markdown)."""
    import jinja2

    for s in ["a\nb\n\nc", "x", "", "a\n", "\nb", "  x\n\n\n"]:
        for first in (False, True):
            for blank in (False, True):
                assert escape.indent(s, 4, first, blank) == jinja2.filters.do_indent(
                    s, 4, first, blank)
    assert escape.indent("'a\u2028b\x0bc'", 4, True) == "    'a\u2028b\x0bc'"
    assert escape.indent("'a\rb'\nc", 4, True) == "    'a\n    b'\n    c"
