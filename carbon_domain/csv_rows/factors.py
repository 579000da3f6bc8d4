"""Factor CSV rows → (data entry type, emission type, canonical classification, values).

Values are held to the limit of a factor value (or their column's: a facility's total use)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.csv_rows.fields import (
    RowError,
    header_set,
    lower_keys,
    missing_columns,
    missing_with_hints,
    parse_cols,
)
from carbon_domain.csv_rows.routing import ROUTING_COLUMNS, needs_routing, route
from carbon_domain.csv_rows.schemas import FACTOR_SCHEMAS, FactorSchema
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.numbers import FACTOR_VALUE
from carbon_domain.resolvers import resolve_factor_emission_type


@dataclass(frozen=True, slots=True)
class ParsedFactor:
    det: int
    emission_type_id: int
    classification: dict[str, Any]
    values: dict[str, Any]


def canonical_classification(d: Mapping[str, Any]) -> dict[str, Any]:
    """Keys sorted, strings stripped, blank → None: the form the factor identity is built on."""
    out: dict[str, Any] = {}
    for k in sorted(d):
        v = d[k]
        if isinstance(v, str):
            v = v.strip() or None
        out[k] = v
    return out


def classification_key(d: Mapping[str, Any]) -> str:
    """Deterministic text of a classification (the DB identity column)."""
    return json.dumps(canonical_classification(d), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def factor_columns(det: int) -> list[str]:
    s = FACTOR_SCHEMAS[int(det)]
    return [c.name for c in (*s.classification, *s.values)]


def _schema_missing(s: FactorSchema, header: set[str]) -> list[str]:
    return missing_columns((*s.classification, *s.values), header)


def header_problem(module: ModuleType, det: DataEntryType | None, header: list[str],
                    schemas: Mapping[int, Any], missing_of: Any, extra: list[str]) -> str | None:
    cols = header_set(header)
    if not cols:
        return "the file has no header row"
    module = ModuleType(module)
    dets = MODULE_DATA_ENTRY_TYPES[module]
    if det is not None and DataEntryType(det) not in dets:
        return (f"data entry type {DataEntryType(det).name} does not belong to module "
                f"{module.name}")
    if needs_routing(module, det) and not any(c in cols for c in ROUTING_COLUMNS):
        return (f"module {module.name} has several data entry types: add a data_entry_type "
                f"column (or {', '.join(ROUTING_COLUMNS[1:])}) or name the upload's type"
                " (the API's data_entry_type_id, `carbon ingest … --det`)")
    candidates = [DataEntryType(det)] if det is not None else list(dets)
    problems = {d: [*[c for c in extra if c not in cols], *missing_of(schemas[d], cols)]
                for d in candidates}
    if any(not p for p in problems.values()):
        return None
    best = min(candidates, key=lambda d: len(problems[d]))
    same = all(p == problems[best] for p in problems.values())
    suffix = "" if same else f" (for {best.name})"
    known = {*ROUTING_COLUMNS, *extra, *(n for d in dets for n in _names(schemas[d]))}
    strangers = [c for c in header_set(header) if c and c not in known]
    return (f"missing required column(s){suffix}:"
            f" {missing_with_hints(problems[best], sorted(strangers))}")


def _names(schema: Any) -> list[str]:
    """Every column of an entry schema (``cols``) or a factor schema."""
    cols = getattr(schema, "cols", None)
    if cols is None:
        cols = (*schema.classification, *schema.values)
    return [c.name for c in cols]


def factor_header_problem(module: ModuleType, det: DataEntryType | None,
                          header: list[str]) -> str | None:
    """Why this header cannot be used for a factor upload, or None. Extra columns are fine."""
    return header_problem(module, det, header, FACTOR_SCHEMAS, _schema_missing, [])


def parse_factor_row(module: ModuleType, det: DataEntryType | None,
                     row: Mapping[str, Any]) -> ParsedFactor:
    """One factor row; RowError names the single reason it cannot be used."""
    r = lower_keys(row)
    dtype = route(module, det, r)
    schema = FACTOR_SCHEMAS[int(dtype)]
    classification = parse_cols(schema.classification, r, {}, blank=None)
    values = parse_cols(schema.values, r, {}, limit=FACTOR_VALUE)
    if schema.check is not None:
        schema.check(values)
    et = resolve_factor_emission_type(dtype, classification)
    if et is None:
        shown = ", ".join(f"{k}={v!r}" for k, v in classification.items() if v is not None)
        raise RowError(f"cannot tell the emission type of this {dtype.name} factor ({shown})")
    if et not in SCOPE_OF:
        raise RowError(f"emission type {et} does not exist")
    return ParsedFactor(int(dtype), et, canonical_classification(classification), values)


def factor_identity(module: ModuleType, det: DataEntryType | None, row: Mapping[str, Any]
                    ) -> tuple[int, int, str] | None:
    """(type, emission type, classification key) of a row ``parse_factor_row`` rejected, when
    its identity can still be read (e.g. only a value is bad); None otherwise. A rejected row
    must not retire the factor it was meant to revise."""
    try:
        r = lower_keys(row)
        dtype = route(module, det, r)
        schema = FACTOR_SCHEMAS[int(dtype)]
        classification = parse_cols(schema.classification, r, {}, blank=None)
        et = resolve_factor_emission_type(dtype, classification)
    except (RowError, KeyError, ValueError):
        return None
    if et is None:
        return None
    return int(dtype), int(et), classification_key(classification)
