"""`carbon ingest factors|data-entries|reference … --preview` and `carbon revert JOB_ID
--preview`: compute what the upload would do and print it (a Rich table, or `--json` in the
API's shape of GET /v1/sync/previews/{id}). Nothing is written but the preview; apply it
with POST /v1/sync/previews/{id}/apply (or upload the file without --preview)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict
from typing import Any

from carbon_api.cli.common import console, error, json_out, new_table
from carbon_domain.upload_kinds import UploadKind


def _kg(v: float) -> str:
    return f"{v:,.3f}"


def _delta(v: float) -> str:
    style = "red" if v > 0 else "green" if v < 0 else ""
    text = f"{v:+,.3f}"
    return f"[{style}]{text}[/]" if style else text


def run_preview(content: bytes, *, filename: str, module: int | None, det: int | None,
                year: int | None, mode: str, as_json: bool, timeout: float, embedded: bool,
                kind: str = "factors", allow_unknown_columns: bool = False,
                reverts_job_id: int | None = None, clears: tuple[int, ...] = ()) -> None:
    from carbon_api.cli.follow import follow
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.preview.previews import read_preview
    from carbon_tasks.embedded import ensure_schema, worker_if_embedded
    from carbon_tasks.operations import DispatchFailed
    from carbon_tasks.previews import start_preview

    ensure_schema()
    with worker_if_embedded() if embedded else nullcontext():
        try:
            accepted, preview_id = start_preview(
                kind, content, filename=filename, module=module, det=det, year=year,
                created_by="cli", content_type="text/csv", mode=mode,
                allow_unknown_columns=allow_unknown_columns, reverts_job_id=reverts_job_id,
                clears=clears)
        except DispatchFailed as exc:
            error(f"job {exc.accepted.job_id} is saved but the broker is unreachable ({exc})")
        except ValueError as exc:  # the upload's own refusals (CsvProblem, unknown year …)
            error(str(exc))
        try:
            follow(accepted.pipeline_id, timeout=timeout, quiet=True)
        except TimeoutError as exc:
            error(f"{exc}; read it later at GET /v1/sync/previews/{preview_id}")
    with session_scope() as s:
        view = asdict(read_preview(s, preview_id))
    if as_json:
        json_out(view)
    else:
        render(view)
    if view["figures"] is None:
        error(f"preview {preview_id} has no figures: {view['message']}")


def render(view: dict[str, Any]) -> None:
    """The preview as tables: factors, totals per module / unit / emission type, the top
    changes and the entries that would lose their factor (a data entry file: the entries
    it loads without a matching factor)."""
    from carbon_domain.services.preview.preview_meter import (
        new_without_factor,
        without_factor_phrase,
    )

    f = view["figures"]
    console.print(f"preview {view['preview_id']} (job {view['job_id']}): {view['message']}")
    if f is None:
        return
    fc = f["factors"]
    if f.get("kind", UploadKind.factors) == UploadKind.factors:
        console.print(f"factors: {fc['inserted']} inserted, {fc['updated']} updated, "
                      f"{fc['retired']} retired, {fc['revived']} revived, "
                      f"{fc['unchanged']} unchanged")
    ref = f.get("reference")
    if ref:
        console.print(f"{ref['kind']}: {ref['inserted']} inserted, {ref['updated']} updated,"
                      f" {ref['retired']} retired, {ref['revived']} revived, "
                      f"{ref['unchanged']} unchanged; years changed: "
                      f"{'all' if ref['affected_years'] is None else ref['affected_years']}")
    unmatched = new_without_factor(f)
    if unmatched is not None:
        # A data entry file replaces the entries (new ids): none loses a factor, but those
        # it loads that no factor matches get no emission row.
        t = new_table("entries", ["type", "entries now:num", "entries after:num",
                                  "without factor:num"])
        for e in f["entries"]:
            wf = e.get("without_factor", 0)
            t.add_row(e["name"], str(e["entries_before"]), str(e["entries"]),
                      f"[red]{wf}[/]" if wf else "0")
        console.print(t)
        console.print(f"[red]{without_factor_phrase(unmatched)}[/]" if unmatched
                      else without_factor_phrase(unmatched))
    else:
        t = new_table("entries", ["type", "entries:num", "affected:num", "losing factor:num",
                                  "losing rows:num"])
        for e in f["entries"]:
            rows = e.get("losing_rows", 0)  # previews stored before the count have none
            t.add_row(e["name"], str(e["entries"]), str(e["affected"]),
                      f"[red]{e['losing_factor']}[/]" if e["losing_factor"] else "0",
                      f"[red]{rows}[/]" if rows else "0")
        console.print(t)
    lost = sum(e.get("losing_rows", 0) for e in f["entries"])
    if lost:
        console.print(f"[red]{lost} entr{'y' if lost == 1 else 'ies'} would have no emission"
                      " row after the change[/] (each a row error: a room without its"
                      " surface, an unknown station, …; `carbon entries … --missing` lists"
                      " them once applied)")
    t = new_table("kg CO2-eq", ["", "before:num", "after:num", "delta:num"])
    t.add_row("university", _kg(f["total"]["before"]), _kg(f["total"]["after"]),
              _delta(f["total"]["delta"]))
    for m in f["by_module"]:
        t.add_row(f"module {m['module_type_id']}", _kg(m["before"]), _kg(m["after"]),
                  _delta(m["delta"]))
    for u in f["by_unit"]:
        t.add_row(f"unit {u['unit'] or u['unit_id']}", _kg(u["before"]), _kg(u["after"]),
                  _delta(u["delta"]))
    for e in f["by_emission_type"]:
        t.add_row(f"emission type {e['emission_type_id']}", _kg(e["before"]),
                  _kg(e["after"]), _delta(e["delta"]))
    console.print(t)
    t = new_table("largest changes", ["entry:num", "unit", "before:num", "after:num",
                                      "delta:num", "factor"])
    for c in f["top_changes"]:
        what = (f"{c['factor_before']} → {c['factor_after']}" if c["data_entry_id"]
                else f"{c['entries_before']} → {c['entries_after']} entries")
        t.add_row(str(c["data_entry_id"] or "-"), str(c["unit"]), _kg(c["before"]),
                  _kg(c["after"]), _delta(c["delta"]), what)
    console.print(t)
    if unmatched is not None:
        return  # said above, with the entries
    if f["losing_factor_count"]:
        t = new_table(f"[red]{f['losing_factor_count']} entries losing their factor[/]",
                      ["entry:num", "unit", "before:num", "factor before"])
        for c in f["losing_factor"]:
            t.add_row(f"[red]{c['data_entry_id']}[/]", str(c["unit"]), _kg(c["before"]),
                      str(c["factor_before"]))
        console.print(t)
    else:
        console.print("no entry loses its factor")
