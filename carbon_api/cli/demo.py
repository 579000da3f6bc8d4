"""`carbon demo`: the whole operator story on this machine, in under a minute.

Seed a synthetic university → upload its factors and data (pipelines run) → totals →
upload a revised factor file → the stale status → recalculate only the stale types →
the new totals and a rollup tree.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from carbon_api.cli.common import console, error, info, new_table, new_typer
from carbon_domain.upload_kinds import UploadKind

cli = new_typer()

DEMO_DB = Path(".carbon") / "demo.db"
# The generated files stay here after the demo, to open, edit and upload again.
SAMPLES = Path(".carbon") / "samples"
REVISED_TYPE = 11  # IT equipment: electricity factor revised upwards
FACTOR_COLUMN = "ef_kg_co2eq_per_kwh"
FACTOR_SCALE = 1.5


def _embedded_defaults() -> str | None:
    """Without configuration the demo uses its own fresh SQLite file; returns its URL (None
    when CARBON_DATABASE_URL was given)."""
    from carbon_domain.settings import get_settings

    if "CARBON_DATABASE_URL" in os.environ:
        return None
    DEMO_DB.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    os.environ["CARBON_DATABASE_URL"] = f"sqlite:///{DEMO_DB}"
    get_settings.cache_clear()
    return f"sqlite:///{DEMO_DB.resolve()}"


def _fresh_samples_dir() -> Path:
    """``.carbon/samples``, emptied of a previous demo's files (the demo owns this folder)."""
    if SAMPLES.exists():
        shutil.rmtree(SAMPLES)
    SAMPLES.mkdir(parents=True)
    return SAMPLES


def _totals_table(year: int, title: str) -> tuple[Table, float]:
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.totals import module_totals

    with session_scope() as s:
        rows = module_totals(s, year)
    # Fits 80 columns without cutting module names (tonnes CO2-eq; "missing" = entries
    # without a factor).
    t = new_table(f"{title}, t CO2-eq", ("module", "entries:num", "scope 1:num", "scope 2:num",
                                          "scope 3:num", "total:num", "missing:num"))
    grand = 0.0
    for r in rows:
        grand += r.total
        t.add_row(r.module_name, f"{r.entry_count:,}", f"{r.scope1 / 1000:,.2f}",
                  f"{r.scope2 / 1000:,.2f}", f"{r.scope3 / 1000:,.2f}",
                  f"{r.total / 1000:,.2f}", str(r.missing_factors))
    t.add_row("[bold]university[/]", "", "", "", "", f"[bold]{grand / 1000:,.2f}[/]", "")
    return t, grand


def _status_lines(year: int) -> list[str]:
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.status import year_status

    with session_scope() as s:
        rows = year_status(s, year)
    out = []
    for m in rows:
        for d in m.data_entry_types:
            if d.needs_recalculation:
                out.append(f"{m.module_name}/{d.data_entry_type_name}: stale")
    return out


def _revise(factor_file: Path) -> bytes:
    text = factor_file.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        if r.get(FACTOR_COLUMN):
            r[FACTOR_COLUMN] = repr(round(float(r[FACTOR_COLUMN]) * FACTOR_SCALE, 6))
        w.writerow(r)
    return buf.getvalue().encode()


def _tree(year: int, module: int) -> Tree:
    from carbon_domain.catalog import ModuleType
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.totals import module_tree
    from carbon_domain.stats import RollupNode

    with session_scope() as s:
        nodes = module_tree(s, year, module)
    root = Tree(f"[bold]{ModuleType(module).name}[/] rollup ({year})")

    def add(parent: Tree, node: RollupNode) -> None:
        scope = f" scope {node['scope']}" if node.get("scope") else ""
        branch = parent.add(f"{node['path']}: {node['kg'] / 1000:,.3f} t{scope}")
        for child in node.get("children", []):
            add(branch, child)

    for n in nodes:
        add(root, n)
    return root


@cli.command("demo")
def demo(units: Annotated[int, typer.Option(help="Labs in the synthetic university.")] = 12,
         entries: Annotated[int, typer.Option(help="Data entries to seed.")] = 3000,
         year: Annotated[int, typer.Option(min=2000, max=2100)] = 2025,
         seed: int = 42,
         serve: Annotated[bool, typer.Option(
             "--serve", help="After the story, keep the API, the console and the worker "
                             "running and print the console's URL and sign-in tokens.")] = False,
         port: Annotated[int, typer.Option(min=1, max=65535, help="Port for --serve.")] = 8000,
         host: Annotated[str, typer.Option(help="Bind address for --serve.")] = "127.0.0.1",
         ) -> None:
    """Run the whole story: seed, pipeline, totals, revised factors, stale, recalc, totals.

    With --serve the API and the operator console stay up afterwards (Ctrl-C stops them)."""
    if units < 1 or entries < 100:
        error("--units must be ≥ 1 and --entries ≥ 100")
    own_db = _embedded_defaults()
    from carbon_api.cli.embedded import ensure_schema, worker_if_embedded
    from carbon_domain.catalog import MODULE_OF, DataEntryType
    from carbon_domain.seed.generator import generate
    from carbon_domain.settings import get_settings
    from carbon_tasks.operations import start_upload, trigger_module_recalculation
    from carbon_tasks.seeding import load_seed
    from carbon_tasks.waiting import wait_for_pipeline

    started = time.monotonic()
    s = get_settings()
    mode = ("embedded: SQLite file + in-process worker" if s.embedded_broker
            else "services: external workers")
    console.rule(f"carbon demo — {mode}")
    ensure_schema()
    with worker_if_embedded():
        tmp = _fresh_samples_dir()
        info(f"1/6 generating a synthetic university: {units} labs, {entries:,} entries, {year}"
             f" (sample files in {tmp}/)")
        manifest = generate(tmp, units=units, entries=entries, year=year, seed=seed)
        info(f"2/6 uploading {len(manifest.files)} files through the ingest pipeline")
        result = load_seed(manifest, year=year, created_by="demo")
        if not result.ok:
            error("seeding failed: " + "; ".join(
                f"{f.file.path}: {f.status}" for f in result.files if f.status != "SUCCESS"))
        table, before = _totals_table(year, f"Totals {year} (after the first pipeline run)")
        console.print(table)

        det = DataEntryType(REVISED_TYPE)
        module = MODULE_OF[det].value
        factor_file = next(tmp / f.path for f in manifest.files
                           if f.kind == UploadKind.factors and f.det == det.value)
        info(f"3/6 uploading a revised {det.name} factor file ({FACTOR_COLUMN} × {FACTOR_SCALE})")
        revised = factor_file.with_name(factor_file.stem + "_revised.csv")
        revised.write_bytes(_revise(factor_file))
        acc = start_upload(UploadKind.factors, revised.read_bytes(), filename=revised.name,
                           module=module, det=det.value, year=year, recalculate=False,
                           created_by="demo")
        wait_for_pipeline(acc.pipeline_id, timeout=120)
        stale = _status_lines(year)
        console.print("[bold]4/6 status after the factor revision:[/] "
                      + (", ".join(stale) if stale else "nothing stale"))
        info("5/6 recalculating only the stale types")
        acc = trigger_module_recalculation(module=module, year=year, only_stale=True,
                                           created_by="demo")
        final = wait_for_pipeline(acc.pipeline_id, timeout=120)
        stale_after = _status_lines(year)
        console.print(f"[bold]status after recalculation:[/] "
                      f"{'all types fresh' if not stale_after else ', '.join(stale_after)}"
                      f" (pipeline {final.status})")
        table, after = _totals_table(year, f"Totals {year} (after the revision)")
        console.print(table)
        console.print(f"6/6 university total: {before / 1000:,.2f} t → {after / 1000:,.2f} t")
        console.print(_tree(year, module))
        console.print(f"Sample files (units, factors, data entries of {year}, and the revised "
                      f"factor file) are in {tmp.resolve()}/ — open, edit and upload them "
                      "again in the console or with `carbon ingest`.", soft_wrap=True)
        if own_db:
            # Without it the CLI opens its default database (.carbon/carbon.db), not the
            # demo's: an upload would land where neither the demo nor its console looks.
            console.print("The CLI reads and writes the demo's database when given it, e.g.:\n"
                          f"  CARBON_DATABASE_URL={own_db} carbon status -y {year}",
                          soft_wrap=True, markup=False, highlight=False)
        console.rule(f"done in {time.monotonic() - started:.1f} s")
        if serve:
            _serve(host, port, year)


def _serve(host: str, port: int, year: int) -> None:
    """API + console on uvicorn in this process, next to the embedded worker thread pool.

    The event loop only awaits: sync routes (uploads parse and validate CSV) run in
    Starlette's threadpool, the SSE polls use ``anyio.to_thread``, and every ingest,
    recalculation and aggregation runs on the embedded worker's own threads.
    """
    import uvicorn

    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import create_token

    stamp = int(time.time())
    with session_scope() as s:
        operator = create_token(s, f"demo-operator-{stamp}", "operator")
        viewer = create_token(s, f"demo-viewer-{stamp}", "viewer")
    url = f"http://{host}:{port}/"
    console.rule("console running")
    console.print(f"Open [bold]{url}[/] and sign in with the operator token:\n  {operator}")
    console.print(f"or the viewer token (sees everything, cannot act):\n  {viewer}")
    console.print(f"Data management of {year}: {url}console/data/{year}  ·  Ctrl-C stops.")
    import logging

    from carbon_api.app import app
    # The story's output and the sign-in lines stay readable: no per-request access lines.
    logging.getLogger("carbon.api.access").setLevel(logging.WARNING)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
