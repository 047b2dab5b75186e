"""The offline price table: load, validate, look up.

Cost estimates need unit prices, and docgen must build without network access, so
prices are shipped as dated YAML data (``docgen/knowledge/prices/*.yml``) and may be
replaced or extended by a project (``<paths.knowledge>/prices/*.yml``). Every price
keeps the file and line it came from, its date and its source, so a page can say
exactly what an estimate is based on. A price that is not in the table is *unknown*:
this module never scales or guesses one.

Public API: :func:`load_prices` (built-in + project overrides, cached),
:func:`parse_price_file` (one file, returns diagnostics), :class:`PriceTable`,
:class:`Price`.
"""

from __future__ import annotations

import functools
import glob
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from docgen.diagnostics import Diagnostic, KnowledgeError
from docgen.loader import load_data
from docgen.nodes import DictNode, ListNode, line_of

BUILTIN_DIR = os.path.join(os.path.dirname(__file__), "prices")
SCHEMA = "docgen-prices/1"
SPEC_SOURCE = "reference handbook (SPEC.md)"

_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")
_REGION = re.compile(r"^([a-z]{2}(-gov)?-[a-z]+-\d|global)$")
_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_URL = re.compile(r"^https://\S+$")

_TABLE_KEYS = {"title": True, "currency": True, "published": True, "method": True,
               "notes": False}
_ENTRY_KEYS = {"id": True, "service": True, "family": True, "usage": True, "unit": True,
               "description": False, "published": True, "source": True, "usd": True}


@dataclass(frozen=True, slots=True)
class Price:
    """One unit price in one region, with where it came from."""

    id: str
    region: str
    usd: float
    unit: str
    published: str
    source: str
    service: str = ""
    family: str = ""
    usage: str = ""
    description: str = ""
    origin: str = ""  # "file:line" of the entry


@dataclass(frozen=True, slots=True)
class TableInfo:
    """The header of one price file."""

    path: str
    title: str
    currency: str
    published: str
    method: str
    notes: str = ""


@dataclass(frozen=True)
class PriceTable:
    """All known prices: ``(id, region) -> Price``; later files override earlier ones."""

    prices: Mapping[tuple[str, str], Price] = field(default_factory=dict)
    tables: tuple[TableInfo, ...] = ()

    def get(self, price_id: str, region: str | None) -> Price | None:
        """The price of ``price_id`` in ``region`` (``global`` prices apply everywhere)."""
        if region is not None:
            hit = self.prices.get((price_id, region))
            if hit is not None:
                return hit
        return self.prices.get((price_id, "global"))

    def ids(self) -> set[str]:
        return {pid for pid, _ in self.prices}

    @property
    def published(self) -> str:
        """The date of the table: the newest header date (what pages print)."""
        return max((t.published for t in self.tables), default="unknown")




class _Checker:
    """Collects schema problems as diagnostics with the file and line of the node."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.diags: list[Diagnostic] = []

    def err(self, node: Any, key: str | int | None, message: str) -> None:
        self.diags.append(Diagnostic(self.path, line_of(node, key), 1, message))

    def keys(self, node: DictNode, spec: Mapping[str, bool], where: str) -> bool:
        ok = True
        for key in node:
            if key not in spec:
                self.err(node, key, f"{where}: unknown key {key!r} (expected one of: "
                         f"{', '.join(sorted(spec))})")
                ok = False
        for key, required in spec.items():
            if required and key not in node:
                self.err(node, None, f"{where}: missing required key {key!r}")
                ok = False
        return ok

    def text(self, node: DictNode, key: str, where: str, pattern: re.Pattern[str] | None = None,
             what: str = "") -> str | None:
        if key not in node:
            return None
        value = node[key]
        if not isinstance(value, str) or not value.strip():
            self.err(node, key, f"{where}.{key}: expected a non-empty string")
            return None
        if pattern is not None and not pattern.match(value):
            self.err(node, key, f"{where}.{key}: {value!r} is not {what}")
            return None
        return value


def parse_price_file(path: str) -> tuple[TableInfo | None, list[Price], list[Diagnostic]]:
    """Read and validate one price file. Nothing raises: problems come back as diagnostics."""
    data, _fmt, diags = load_data(path)
    if diags:
        return None, [], [Diagnostic(d.file, d.line, d.col,
                                     d.message.replace("not a CloudFormation template",
                                                       "not a price table"), d.severity)
                          for d in diags]
    ck = _Checker(path)
    if not isinstance(data, DictNode):
        ck.err(data, None, "a price file must be a mapping with 'schema', 'table' and 'prices'")
        return None, [], ck.diags
    ck.keys(data, {"schema": True, "table": True, "prices": True}, "price file")
    if "schema" in data and data["schema"] != SCHEMA:
        ck.err(data, "schema", f"schema: expected {SCHEMA!r}, found {data['schema']!r}")
    info = None
    table = data.get("table")
    if "table" in data and not isinstance(table, DictNode):
        ck.err(data, "table", "table: expected a mapping")
    elif isinstance(table, DictNode):
        ck.keys(table, _TABLE_KEYS, "table")
        published = ck.text(table, "published", "table", _DATE, "a date (YYYY-MM or YYYY-MM-DD)")
        currency = ck.text(table, "currency", "table")
        if currency is not None and currency != "USD":
            ck.err(table, "currency", f"table.currency: only USD is supported, found {currency!r}")
        title = ck.text(table, "title", "table")
        method = ck.text(table, "method", "table")
        notes = table.get("notes", "")
        if not isinstance(notes, str):
            ck.err(table, "notes", "table.notes: expected a string")
            notes = ""
        if published and title and method and currency == "USD":
            info = TableInfo(path, title, currency, published, method, notes)
    prices: list[Price] = []
    entries = data.get("prices")
    if "prices" in data and not isinstance(entries, ListNode):
        ck.err(data, "prices", "prices: expected a list of entries")
        entries = None
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries or []):
        where = f"prices[{i}]"
        if not isinstance(entry, DictNode):
            ck.err(entries, i, f"{where}: expected a mapping")
            continue
        before = len(ck.diags)
        ck.keys(entry, _ENTRY_KEYS, where)
        pid = ck.text(entry, "id", where, _ID, "an id (lower-case letters, digits, '.', '-')")
        strings = {k: ck.text(entry, k, where) for k in ("service", "family", "usage", "unit")}
        published = ck.text(entry, "published", where, _DATE, "a date (YYYY-MM or YYYY-MM-DD)")
        source = ck.text(entry, "source", where)
        if source is not None and not _URL.match(source) and source != SPEC_SOURCE:
            ck.err(entry, "source", f"{where}.source: expected an https:// URL")
        description = entry.get("description", "")
        if not isinstance(description, str):
            ck.err(entry, "description", f"{where}.description: expected a string")
        if pid is not None:
            if pid in seen:
                ck.err(entry, "id", f"{where}.id: {pid!r} is already defined on line {seen[pid]}")
            else:
                seen[pid] = line_of(entry, "id")
        usd = entry.get("usd")
        if "usd" in entry and not isinstance(usd, DictNode):
            ck.err(entry, "usd", f"{where}.usd: expected a mapping of region -> USD price")
            continue
        if isinstance(usd, DictNode) and not usd:
            ck.err(entry, "usd", f"{where}.usd: no prices (leave the entry out instead)")
        for region, value in (usd or {}).items():
            if not _REGION.match(region):
                ck.err(usd, region, f"{where}.usd: {region!r} is not a region code")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                ck.err(usd, region, f"{where}.usd.{region}: expected a number >= 0 "
                       f"(an unknown price is left out, never written as a guess), "
                       f"found {value!r}")
        if len(ck.diags) != before:
            continue
        for region, value in usd.items():
            prices.append(Price(
                id=pid or "", region=region, usd=float(value), unit=strings["unit"] or "",
                published=published or "", source=source or "",
                service=strings["service"] or "", family=strings["family"] or "",
                usage=strings["usage"] or "", description=description or "",
                origin=f"{path}:{line_of(usd, region)}",
            ))
    if ck.diags:
        return None, [], ck.diags
    return info, prices, []


def _price_files(folder: str) -> list[str]:
    files = glob.glob(os.path.join(folder, "*.yml")) + glob.glob(os.path.join(folder, "*.yaml"))
    return sorted(files)


def build_table(files: Iterable[str]) -> PriceTable:
    """Load ``files`` in order (later ones override by id and region); raise on any error."""
    prices: dict[tuple[str, str], Price] = {}
    tables: list[TableInfo] = []
    diags: list[Diagnostic] = []
    for path in files:
        info, entries, problems = parse_price_file(path)
        diags.extend(problems)
        if info is not None:
            tables.append(info)
        for price in entries:
            prices[(price.id, price.region)] = price
    if diags:
        raise KnowledgeError(f"invalid price table ({len(diags)} problem"
                             f"{'s' if len(diags) != 1 else ''})", tuple(diags))
    return PriceTable(prices, tuple(tables))


def load_prices(knowledge_dir: str | None = None) -> PriceTable:
    """The built-in table, overridden/extended by ``<knowledge_dir>/prices/*.yml``.

    Cached on the files' names and modification times, so a long-running ``mkdocs serve``
    picks up an edited price file on the next build without re-reading unchanged ones.
    """
    files = _price_files(BUILTIN_DIR)
    if knowledge_dir:
        files += _price_files(os.path.join(knowledge_dir, "prices"))
    stamp = tuple((f, os.stat(f).st_mtime_ns) for f in files)
    return _cached_table(stamp)


@functools.lru_cache(maxsize=8)
def _cached_table(stamp: tuple[tuple[str, int], ...]) -> PriceTable:
    return build_table(f for f, _ in stamp)
