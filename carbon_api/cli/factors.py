"""Factors from the terminal: ``carbon factors history FACTOR_ID`` (every change to one
factor, oldest first)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from carbon_api.cli.common import (
    JsonFlag,
    console,
    error,
    json_out,
    new_table,
    new_typer,
    print_table,
)

cli = new_typer()
factors_app = new_typer(help="Factors: the history of one factor.")
cli.add_typer(factors_app, name="factors")


def _values(before: dict[str, Any] | None, after: dict[str, Any] | None,
            keys: list[str]) -> str:
    """The changed values as ``key: old → new`` (every value of an inserted factor)."""
    if before is None:
        return ", ".join(f"{k}: {json.dumps((after or {}).get(k))}" for k in keys)
    return ", ".join(f"{k}: {json.dumps(before.get(k))} → {json.dumps((after or {}).get(k))}"
                     for k in keys)


@factors_app.command("history")
def history(factor_id: Annotated[int, typer.Argument(min=1, help="Factor id.")],
            as_json: JsonFlag = False) -> None:
    """Every change to a factor: inserted, values updated, retired, revived (and computed
    facility values), with the job, who, when and the values before → after."""
    from carbon_api.cli.embedded import ensure_schema
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.inputs.factor_history import factor_timeline

    ensure_schema()
    with session_scope() as s:
        found = factor_timeline(s, factor_id)
    if found is None:
        error(f"factor {factor_id} not found")
    if as_json:
        json_out(found)
        return
    f = found.factor
    console.print(f"Factor {f.id} ({escape(f.data_entry_type_name)}, "
                  f"{escape(f.emission_type_path or str(f.emission_type_id))}, {f.year}) "
                  f"{escape(json.dumps(f.classification, ensure_ascii=False))}: "
                  f"[{'red' if f.status == 'retired' else 'green'}]{f.status}[/]")
    t = new_table(None, ("v:num", "change", "job:num", "by", "when", "values:text"))
    for c in found.changes:
        t.add_row(str(c.version), c.change, str(c.job_id or ""), escape(c.changed_by or ""),
                  c.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
                  escape(_values(c.values_before, c.values_after, c.changed_keys)))
    print_table(t)
