"""Escaping for every place a template string can land on a page.

Each function takes untrusted text and returns text that, placed where its name
says, renders as exactly that text: no HTML, no Markdown structure, no broken
table, no shell meaning. Pages never interpolate template strings without one.
"""

from __future__ import annotations

import re
import shlex
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
_MD_CHARS = re.compile("[" + re.escape("".join(_MD_MAP)) + "]")
#: Inside raw HTML such as ``<code>``, Python-Markdown still runs inline patterns
#: (links, images, emphasis, backslash escapes), so every ASCII punctuation character
#: that could start one is a character reference there.
_HTML_CHARS = re.compile(r"[!-/:-@\[-`{-~]")
_HTML_SAFE = set(",./;?@-!()")  # cannot start anything mid-line (`[` is escaped)


def text(value: Any) -> str:
    """Render ``value`` as a plain string (None -> empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _one_line(value: Any) -> str:
    # stripped: leading spaces would make an indented code block of a paragraph
    return _CONTROLS.sub(" ", _NEWLINES.sub(" ", text(value))).strip()


def md(value: Any) -> str:
    """Inline Markdown text: HTML-escaped, Markdown punctuation escaped.

    Newlines collapse to spaces so that a value can never start a new block
    (heading, admonition, list, HTML block) or close the surrounding one. Characters
    are escaped in one pass, so no escape is ever escaped again.
    """
    return _MD_CHARS.sub(lambda m: _MD_MAP[m.group()], _one_line(value))


def cell(value: Any) -> str:
    """A Markdown table cell: like :func:`md`, and a pipe never splits the cell."""
    out = md(value)
    return out if out else "&nbsp;"


def _html_char(m: re.Match[str]) -> str:
    ch = m.group()
    return ch if ch in _HTML_SAFE else f"&#{ord(ch)};"


def html_text(value: Any) -> str:
    """Text inside an HTML element, also when Markdown processes that element's content
    (``md_in_html``, raw inline HTML): every punctuation character that could start
    HTML or an inline Markdown construct is a character reference; a newline is
    ``&#10;`` so the value stays on one line."""
    s = _CONTROLS.sub(" ", text(value)).replace("\r\n", "\n").replace("\r", "\n")
    return _HTML_CHARS.sub(_html_char, s).replace("\n", "&#10;")


def code(value: Any) -> str:
    """Inline code that is safe in running text and in table cells.

    Rendered as an HTML ``<code>`` element rather than a backtick span, because a
    backtick span cannot hold every string and a ``|`` inside it splits tables.
    """
    s = _one_line(value)
    return f"<code>{html_text(s)}</code>" if s else ""


def fence(body: str, lang: str = "") -> str:
    """A fenced code block whose fence no line of ``body`` can close."""
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=2)
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


def mermaid_label(value: Any) -> str:
    """Text for a quoted Mermaid label: ``id["<this>"]``."""
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text(value))


def anchor(value: Any) -> str:
    """A stable HTML id fragment for a name (letters, digits and dashes)."""
    s = re.sub(r"[^A-Za-z0-9]+", "-", text(value)).strip("-").lower()
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
