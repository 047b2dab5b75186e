"""Escaping for every place a template string can land on a page.

Each function takes untrusted text and returns text that, placed where its name
says, renders as exactly that text: no HTML, no Markdown structure, no broken
table, no shell meaning. Pages never interpolate template strings without one.
"""

from __future__ import annotations

import html
import re
import shlex
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~^=:<>$%])")
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


def text(value: Any) -> str:
    """Render ``value`` as a plain string (None -> empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def md(value: Any) -> str:
    """Inline Markdown text: HTML-escaped, Markdown punctuation backslash-escaped.

    Newlines collapse to spaces so that a value can never start a new block
    (heading, admonition, list, HTML block) or close the surrounding one.
    """
    s = _NEWLINES.sub(" ", text(value))
    s = html.escape(s, quote=True)
    # Entities produced by html.escape contain & and ; only; escape the rest.
    return _MD_SPECIAL.sub(r"\\\1", s).replace("&amp;", "&amp;")


def cell(value: Any) -> str:
    """A Markdown table cell: like :func:`md`, and a pipe never splits the cell."""
    out = md(value)
    return out if out else "&nbsp;"


def html_text(value: Any) -> str:
    """Text inside an HTML element (also safe inside Markdown, which leaves it alone)."""
    s = html.escape(text(value), quote=True)
    return s.replace("|", "&#124;").replace("{", "&#123;").replace("}", "&#125;").replace(
        "\n", "&#10;"
    ).replace("`", "&#96;").replace("*", "&#42;").replace("_", "&#95;")


def code(value: Any) -> str:
    """Inline code that is safe in running text and in table cells.

    Rendered as an HTML ``<code>`` element rather than a backtick span, because a
    backtick span cannot hold every string and a ``|`` inside it splits tables.
    """
    s = _NEWLINES.sub(" ", text(value))
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
