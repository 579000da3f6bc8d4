"""Squarified treemap layout (Bruls, Huizing & van Wijk 2000) for the report page's SVG.

Pure geometry: values in, rectangles out. Each rectangle keeps the aspect ratios of its row as
close to 1 as possible, so small emission types stay readable boxes instead of slivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    item: Any


def _worst(row: list[float], side: float) -> float:
    s = sum(row)
    if s <= 0 or side <= 0:
        return float("inf")
    return max(max(side * side * r / (s * s), (s * s) / (side * side * r)) for r in row)


def squarify(items: list[tuple[float, Any]], x: float, y: float, w: float, h: float
             ) -> list[Rect]:
    """Lay out (value, item) pairs with positive values in the rectangle (x, y, w, h)."""
    items = sorted([(v, it) for v, it in items if v > 0], key=lambda p: -p[0])
    total = sum(v for v, _ in items)
    if not items or w <= 0 or h <= 0 or total <= 0:
        return []
    scale = w * h / total
    areas = [(v * scale, it) for v, it in items]
    out: list[Rect] = []
    while areas:
        side = min(w, h)
        row = [areas[0]]
        i = 1
        while i < len(areas) and _worst([a for a, _ in row] + [areas[i][0]], side) <= _worst(
                [a for a, _ in row], side):
            row.append(areas[i])
            i += 1
        areas = areas[i:]
        s = sum(a for a, _ in row)
        last_row = not areas
        # The last box of a row (and the last row) takes exactly what is left, so float
        # error never pushes a box outside the rectangle.
        if w >= h:  # lay the row out as a column on the left
            cw = w if last_row else s / h
            cy = y
            for k, (a, it) in enumerate(row):
                bh = (y + h - cy) if k == len(row) - 1 else a / cw
                out.append(Rect(x, cy, cw, bh, it))
                cy += bh
            x, w = x + cw, w - cw
        else:  # a row along the top
            rh = h if last_row else s / w
            cx = x
            for k, (a, it) in enumerate(row):
                bw = (x + w - cx) if k == len(row) - 1 else a / rh
                out.append(Rect(cx, y, bw, rh, it))
                cx += bw
            y, h = y + rh, h - rh
    return out


def layout_tree(nodes: list[dict[str, Any]], width: float, height: float, depth: int = 2,
                pad: float = 3.0) -> list[tuple[Rect, int]]:
    """Rectangles for the rollup tree's nodes down to ``depth`` levels: (rect, level)."""
    out: list[tuple[Rect, int]] = []

    def walk(children: list[dict[str, Any]], x: float, y: float, w: float, h: float,
             level: int) -> None:
        for r in squarify([(float(n["kg"]), n) for n in children], x, y, w, h):
            out.append((r, level))
            kids = r.item.get("children") or []
            if level + 1 < depth and kids and r.w > 4 * pad and r.h > 6 * pad:
                walk(kids, r.x + pad, r.y + 4 * pad, r.w - 2 * pad, r.h - 5 * pad, level + 1)

    walk(nodes, 0.0, 0.0, width, height, 0)
    return out
