"""The arithmetic of an impact preview, apart from any database: entries compared before →
after into a :class:`Partial`, partials folded into the figures.

A preview's entries are measured in id ranges — in the preview job itself, or as chunks on
several workers (services/preview/preview_chunks.py) — and each range's partial is folded
into one. The sums must not depend on that split: each partial keeps, per key, not a
rounded sum but :func:`exact_parts` — a few floats whose exact sum is the exact sum of the
range's values — so ``math.fsum`` over every partial's parts is the correctly rounded sum of
all the values, the very number ``math.fsum`` over the stored rows gives after the apply.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from carbon_domain.catalog import DataEntryType
from carbon_domain.upload_kinds import UploadKind

TOP = 20                # the largest absolute changes listed
LISTED_CHANGES = 500    # factor changes listed (all are counted)
LISTED_LOSING = 100     # entries losing their factor listed (all are counted)

Key = tuple[int, int, int]  # unit id, module, emission type
Row = tuple[int, float, int | None]  # emission type, kg, primary factor
# Entries on one side of the comparison: entry → unit, and entry → rows (none: no rows).
Side = tuple[Mapping[int, int], Mapping[int, list[Row]]]
COUNTS = ("entries", "entries_before", "affected", "added", "removed", "losing_factor",
          "without_factor", "losing_rows")


class Figures(TypedDict):
    factors: dict[str, Any]
    entries: list[dict[str, Any]]
    total: dict[str, float]
    by_module: list[dict[str, Any]]
    by_unit: list[dict[str, Any]]
    by_emission_type: list[dict[str, Any]]
    by_unit_module_type: list[dict[str, Any]]
    top_changes: list[dict[str, Any]]
    losing_factor: list[dict[str, Any]]
    losing_factor_count: int


def exact_parts(values: list[float]) -> list[float]:
    """Floats whose exact sum equals the exact sum of ``values``: the rounded sum, then the
    rounded remainder, until nothing remains (two or three floats in practice)."""
    parts: list[float] = []
    rest = math.fsum(values)
    while rest != 0.0 and math.isfinite(rest) and len(parts) < 64:
        parts.append(rest)
        rest = math.fsum([*values, *(-p for p in parts)])
    return parts if rest == 0.0 else [*parts, rest]


def _same(b: list[Row], a: list[Row]) -> bool:
    if len(b) != len(a):
        return False
    if len(b) == 1:
        return b == a

    def key(r: Row) -> tuple[int, float, int]:
        return r[0], r[1], -1 if r[2] is None else r[2]
    return sorted(b, key=key) == sorted(a, key=key)


def _factor_of(rows: list[Row]) -> int | None:
    return next((f for _et, _kg, f in rows if f is not None), None)


def _rank(c: Mapping[str, Any]) -> tuple[float, int]:
    return -abs(c["delta"]), c["data_entry_id"] or 0


@dataclass
class Partial:
    """What some entries add to a preview's figures. ``before`` / ``after``: kg per key
    (values while measuring, exact parts once :meth:`compact`); ``groups``: per (unit, type)
    the kg before and after and the entries on each side; ``types``: counts per type."""

    before: dict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))
    after: dict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))
    groups: dict[tuple[int, int], list[Any]] = field(default_factory=dict)
    types: dict[int, dict[str, int]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    losing: list[dict[str, Any]] = field(default_factory=list)

    def _type(self, det: int) -> dict[str, int]:
        return self.types.setdefault(det, dict.fromkeys(COUNTS, 0))

    def _group(self, unit: int, det: int) -> list[Any]:
        return self.groups.setdefault((unit, det), [[], [], 0, 0])

    def compare(self, det: int, module: int, before: Side, after: Side,
                missing: set[int]) -> None:
        """Entries of one type: ``before`` their stored rows, ``after`` the rows the engine
        gives them now; ``missing``: entries the engine found no factor for."""
        t = self._type(det)
        (units_b, rows_b), (units_a, rows_a) = before, after
        none: list[Row] = []
        for eid in sorted(units_b.keys() | units_a.keys()):
            ub, b = units_b.get(eid, 0), rows_b.get(eid, none)
            ua, a = units_a.get(eid, 0), rows_a.get(eid, none)
            in_b, in_a = eid in units_b, eid in units_a
            if in_b:
                t["entries_before"] += 1
                g = self._group(ub, det)
                g[2] += 1
                for et, kg, _f in b:
                    self.before[(ub, module, et)].append(kg)
                    g[0].append(kg)
            if in_a:
                t["entries"] += 1
                g = self._group(ua, det)
                g[3] += 1
                for et, kg, _f in a:
                    self.after[(ua, module, et)].append(kg)
                    g[1].append(kg)
                if eid in missing:
                    t["without_factor"] += 1
            if in_b and in_a and _same(b, a):
                continue
            t["affected"] += 1
            t["added"] += not in_b
            t["removed"] += not in_a
            kb, ka = math.fsum(kg for _e, kg, _f in b), math.fsum(kg for _e, kg, _f in a)
            change = {"data_entry_id": eid, "data_entry_type_id": det,
                      "unit_id": ua if in_a else ub, "before": kb, "after": ka,
                      "delta": ka - kb, "factor_before": _factor_of(b),
                      "factor_after": _factor_of(a)}
            self.changes.append(change)
            if b and in_a and eid in missing:
                t["losing_factor"] += 1
                self.losing.append(change)
            elif b and in_a and not a:
                # Rows before, none after, with a factor: the engine refuses the entry now
                # (a room without a surface, an unknown station). A rooms file that dropped
                # 378 rooms previewed "losing factor 0" and hid that those entries would
                # lose every row.
                t["losing_rows"] += 1

    def add_unchanged(self, det: int, key: Key, kgs: list[float]) -> None:
        """Stored kg of entries that keep their rows: on both sides."""
        parts = exact_parts(kgs)
        self.before.setdefault(key, []).extend(parts)
        self.after.setdefault(key, []).extend(parts)
        g = self._group(key[0], det)
        g[0].extend(parts)
        g[1].extend(parts)

    def count_unchanged(self, det: int, unit: int, n: int) -> None:
        t = self._type(det)
        t["entries_before"] += n
        t["entries"] += n
        g = self._group(unit, det)
        g[2] += n
        g[3] += n

    def compact(self) -> Partial:
        """Values → exact parts; only the changes the figures can still list."""
        self.before = {k: exact_parts(v) for k, v in self.before.items()}
        self.after = {k: exact_parts(v) for k, v in self.after.items()}
        self.groups = {k: [exact_parts(g[0]), exact_parts(g[1]), g[2], g[3]]
                       for k, g in self.groups.items()}
        self.changes = heapq.nsmallest(TOP, self.changes, key=_rank)
        self.losing = sorted(self.losing, key=lambda c: c["data_entry_id"])[:LISTED_LOSING]
        return self

    def merge(self, other: Partial) -> Partial:
        for mine, theirs in ((self.before, other.before), (self.after, other.after)):
            for k, parts in theirs.items():
                mine.setdefault(k, []).extend(parts)
        for (unit, det), g in other.groups.items():
            own = self._group(unit, det)
            own[0].extend(g[0])
            own[1].extend(g[1])
            own[2] += g[2]
            own[3] += g[3]
        for det, counts in other.types.items():
            t = self._type(det)
            for name, n in counts.items():
                t[name] = t.get(name, 0) + n
        self.changes.extend(other.changes)
        self.losing.extend(other.losing)
        return self.compact()

    def to_json(self) -> dict[str, Any]:
        """A compacted partial as JSON (a chunk's result travels through the result
        backend); floats are written in full (``repr``), so they come back the same."""
        return {"before": [[*k, v] for k, v in self.before.items()],
                "after": [[*k, v] for k, v in self.after.items()],
                "groups": [[*k, *g] for k, g in self.groups.items()],
                "types": [[d, c] for d, c in self.types.items()],
                "changes": self.changes, "losing": self.losing}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Partial:
        return cls({(u, m, e): list(v) for u, m, e, v in d["before"]},
                   {(u, m, e): list(v) for u, m, e, v in d["after"]},
                   {(u, det): [list(b), list(a), nb, na] for u, det, b, a, nb, na in
                    d["groups"]},
                   {int(det): dict(c) for det, c in d["types"]},
                   list(d["changes"]), list(d["losing"]))


def fold(partials: Iterable[Partial]) -> Partial:
    out = Partial()
    for p in partials:
        out.merge(p)
    return out.compact()


def _delta(before: Iterable[float], after: Iterable[float]) -> dict[str, float]:
    b, a = math.fsum(before), math.fsum(after)
    return {"before": b, "after": a, "delta": a - b}


def _rollup(p: Partial, pick: Any) -> dict[Any, dict[str, float]]:
    b: dict[Any, list[float]] = defaultdict(list)
    a: dict[Any, list[float]] = defaultdict(list)
    for key, parts in p.before.items():
        b[pick(key)].extend(parts)
    for key, parts in p.after.items():
        a[pick(key)].extend(parts)
    return {k: _delta(b.get(k, []), a.get(k, [])) for k in sorted(set(b) | set(a))}


def unit_ids(p: Partial) -> set[int]:
    """Every unit the figures of ``p`` name (their codes are looked up by the caller)."""
    return ({k[0] for k in (*p.before, *p.after)} | {k[0] for k in p.groups}
            | {c["unit_id"] for c in p.changes + p.losing})


def figures(p: Partial, dets: list[int], names: Mapping[int, str | None], *,
            by_group: bool = False) -> Figures:
    """The preview's figures from the folded partial. ``by_group``: the largest changes
    per (unit, type) rather than per entry — a data entry upload replaces the entries (new
    ids), so its entries have no "before" of their own."""
    if by_group:
        top = [{"data_entry_id": None, "data_entry_type_id": det, "unit_id": u, **_delta(
                g[0], g[1]), "factor_before": None, "factor_after": None,
                "entries_before": g[2], "entries_after": g[3]}
               for (u, det), g in p.groups.items()]
        top = [c for c in top if c["delta"] or c["entries_before"] != c["entries_after"]]
        top = sorted(top, key=lambda c: (-abs(c["delta"]), c["unit_id"],
                                         c["data_entry_type_id"]))[:TOP]
    else:
        top = sorted(p.changes, key=_rank)[:TOP]
    losing = sorted(p.losing, key=lambda c: c["data_entry_id"])[:LISTED_LOSING]
    for c in top + losing:
        c["unit"] = names.get(c["unit_id"])
    return Figures(
        factors={},
        entries=[{"data_entry_type_id": det, "name": DataEntryType(det).name,
                  **p.types.get(det, dict.fromkeys(COUNTS, 0))} for det in dets],
        total=_rollup(p, lambda _k: 0).get(0, {"before": 0.0, "after": 0.0, "delta": 0.0}),
        by_module=[{"module_type_id": m, **d} for m, d in _rollup(p, lambda k: k[1]).items()],
        by_unit=[{"unit_id": u, "unit": names.get(u), **d}
                 for u, d in _rollup(p, lambda k: k[0]).items()],
        by_emission_type=[{"emission_type_id": e, **d}
                          for e, d in _rollup(p, lambda k: k[2]).items()],
        by_unit_module_type=[{"unit_id": u, "unit": names.get(u), "module_type_id": m,
                              "emission_type_id": e, **d}
                             for (u, m, e), d in _rollup(p, lambda k: k).items()],
        top_changes=top, losing_factor=losing,
        losing_factor_count=sum(t.get("losing_factor", 0) for t in p.types.values()))


def new_without_factor(figures: Mapping[str, Any]) -> int | None:
    """The entries a data entry file would load that no factor matches (the engine gives
    them no emission row): its ``without_factor`` summed over the types. A data entry
    upload replaces the entries (new ids), so none can "lose" its factor and the losing
    count is always 0: this is the number that says it. None for the other kinds, whose
    ``without_factor`` counts only the entries computed (a factor file's plan)."""
    if figures.get("kind") != UploadKind.data_entries:
        return None
    return sum(int(t.get("without_factor", 0)) for t in figures.get("entries", []))


def without_factor_phrase(n: int) -> str:
    """The sentence every surface shows for :func:`new_without_factor` (CLI, console, the
    preview job's message)."""
    if not n:
        return "every entry has a matching factor"
    return (f"{n:,} {'entry' if n == 1 else 'entries'} without a matching factor"
            f" ({'it' if n == 1 else 'they'} will have no emission rows)")
