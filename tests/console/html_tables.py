"""Reading the console's server-rendered tables in tests (no HTML library in the venv): a
table by its aria-label, each body row's attributes, cell texts and cells' data-value."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    attrs: str
    cells: list[str]
    values: list[str | None]  # each cell's data-value, when it has one
    raw: str


def table(page: str, label: str) -> str:
    found = re.search(rf'<table[^>]*aria-label="{re.escape(label)}"[^>]*>(.*?)</table>', page,
                      re.S)
    assert found, f"no table {label!r} in the page"
    return found.group(1)


def rows(page: str, label: str) -> list[Row]:
    body = re.search(r"<tbody>(.*?)</tbody>", table(page, label), re.S)
    assert body, f"table {label!r} has no body"
    out = []
    for attrs, inner in re.findall(r"<tr([^>]*)>(.*?)</tr>", body.group(1), re.S):
        cells = re.findall(r"<td([^>]*)>(.*?)</td>", inner, re.S)
        out.append(Row(attrs, [text(c) for _a, c in cells],
                       [_attr(a, "data-value") for a, _c in cells], inner))
    return out


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _attr(attrs: str, name: str) -> str | None:
    found = re.search(rf'{name}="([^"]*)"', attrs)
    return html.unescape(found.group(1)) if found else None
