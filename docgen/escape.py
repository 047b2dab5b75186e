"""Escaping for every place a template string can land on a page.

Each function takes untrusted text and returns text that, placed where its name
says, renders as exactly that text: no HTML, no Markdown structure, no broken
table, no shell meaning. Pages never interpolate template strings without one.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from typing import Any

_NEWLINES = re.compile(r"\s*[\r\n\x0b\x0c\x85\u2028\u2029]+\s*")
# C0/C1 controls (bar tab and newlines, handled above) are not text: a page shows a space.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")

#: Python-Markdown's backslash escapes (``md.ESCAPED_CHARS`` with the tables extension):
#: a backslash before these disappears and the character is literal.
_BACKSLASHED = "\\`*_{}[]()#+-.!|"
#: Everything else that means something to HTML or to a Markdown extension (emoji
#: ``:x:``, mark ``==``, tilde/caret, arithmatex ``$``) becomes a numeric character
#: reference, which every renderer shows as the character and none interprets.
_MD_MAP: dict[str, str] = {
    **{ch: "\\" + ch for ch in _BACKSLASHED},
    **{ch: f"&#{ord(ch)};" for ch in "~^=:$%'\""},
    "&": "&amp;", "<": "&lt;", ">": "&gt;",
}
#: Inside raw HTML such as ``<code>``, Python-Markdown still runs inline patterns
#: (links, images, emphasis, backslash escapes), so every ASCII punctuation character
#: that could start one is a character reference there.
_HTML_CHARS = re.compile(r"[!-/:-@\[-`{-~]")
_HTML_SAFE = set(",./;?@-!()")  # cannot start anything mid-line (`[` is escaped)

# The functions below run about a million times per corpus build, mostly on short values
# that repeat (types, names, statuses) and need no escaping at all. Hence: one ``search``
# decides whether the newline/control substitutions are needed, escaping is one
# ``str.translate`` (no Python callback per character), and results for plain ``str``
# inputs are memoised (bounded: pages of a big corpus repeat far fewer distinct values).
#: Any character ``_NEWLINES`` or ``_CONTROLS`` would touch (tab is kept, so excluded).
_NEEDS_ONE_LINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_MD_TABLE = str.maketrans(_MD_MAP)
#: ``html_text`` in one pass over text whose CR LF pairs are already LF: controls become
#: spaces, line ends ``&#10;``, punctuation that could start markup a character reference.
_HTML_TABLE = str.maketrans({
    **{chr(i): " " for i in [*range(0x00, 0x09), *range(0x0e, 0x20), *range(0x7f, 0x85),
                             *range(0x86, 0xa0)]},
    "\r": "&#10;", "\n": "&#10;",
    **{ch: f"&#{ord(ch)};" for ch in map(chr, range(0x21, 0x7f))
       if _HTML_CHARS.fullmatch(ch) and ch not in _HTML_SAFE},
})
_MEMO = 1 << 16


def text(value: Any) -> str:
    """Render ``value`` as a plain string (None -> empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _one_line(value: Any) -> str:
    # stripped: leading spaces would make an indented code block of a paragraph
    s = value if type(value) is str else text(value)
    if _NEEDS_ONE_LINE.search(s) is None:
        return s.strip()
    return _CONTROLS.sub(" ", _NEWLINES.sub(" ", s)).strip()


def md(value: Any) -> str:
    """Inline Markdown text: HTML-escaped, Markdown punctuation escaped.

    Newlines collapse to spaces so that a value can never start a new block
    (heading, admonition, list, HTML block) or close the surrounding one. Characters
    are escaped in one pass, so no escape is ever escaped again.
    """
    return _md(value) if type(value) is str else _md(text(value))


@lru_cache(maxsize=_MEMO)
def _md(s: str) -> str:
    return _one_line(s).translate(_MD_TABLE)


def cell(value: Any) -> str:
    """A Markdown table cell: like :func:`md`, and a pipe never splits the cell."""
    out = md(value)
    return out if out else "&nbsp;"


def html_text(value: Any) -> str:
    """Text inside an HTML element, also when Markdown processes that element's content
    (``md_in_html``, raw inline HTML): every punctuation character that could start
    HTML or an inline Markdown construct is a character reference; a newline is
    ``&#10;`` so the value stays on one line."""
    return _html(value) if type(value) is str else _html(text(value))


@lru_cache(maxsize=_MEMO)
def _html(s: str) -> str:
    return s.replace("\r\n", "\n").translate(_HTML_TABLE)


def code(value: Any) -> str:
    """Inline code that is safe in running text and in table cells.

    Rendered as an HTML ``<code>`` element rather than a backtick span, because a
    backtick span cannot hold every string and a ``|`` inside it splits tables.
    """
    return _code(value) if type(value) is str else _code(text(value))


@lru_cache(maxsize=_MEMO)
def _code(value: str) -> str:
    s = _one_line(value)
    return f"<code>{_html(s)}</code>" if s else ""


def fence(body: str, lang: str = "") -> str:
    """A fenced code block whose fence no line of ``body`` can close."""
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=2) \
        if "```" in body else 2  # the usual body has no run of backticks to outdo
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def shell(value: Any) -> str:
    """One shell word: ``$(...)``, ``;``, quotes and spaces stay data."""
    return shlex.quote(text(value))


_MERMAID_ENTITIES = {
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "#": "#35;",
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    "|": "#124;",
    "`": "#96;",
    "-": "#45;",
    ";": "#59;",
    "\\": "#92;",
    "\n": " ",
    "\r": " ",
}


_MERMAID_TABLE = str.maketrans(_MERMAID_ENTITIES)


def mermaid_label(value: Any) -> str:
    """Text for a quoted Mermaid label: ``id["<this>"]``."""
    return text(value).translate(_MERMAID_TABLE)


_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def anchor(value: Any) -> str:
    """A stable HTML id fragment for a name (letters, digits and dashes)."""
    s = _NOT_ALNUM.sub("-", text(value)).strip("-").lower()
    return s or "item"


def indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    """Jinja's ``indent`` filter, splitting at ``\\n`` only.

    Jinja's own uses ``str.splitlines``, which also breaks at U+2028, NEL, form feed and
    the like: inside a quoted shell word that silently changes the value (and a page's
    line structure). Markdown's lines end at LF, CR LF or a lone CR (it rewrites both to
    LF before parsing), so exactly those are lines here: a CR inside a quoted value
    must be indented too, or it ends the tab or list the block sits in.
    """
    pad = width if isinstance(width, str) else " " * width
    lines = re.split(r"\r\n|\r|\n", text(value))
    out = [pad + lines[0] if first else lines[0]]
    out += [pad + ln if ln or blank else ln for ln in lines[1:]]
    return "\n".join(out)
