"""``carbon seed``: generate a synthetic university and load it through the ingest path.

The files land in ``--out`` (default ``.carbon/seed/<year>-<entries>``) with a
``manifest.json``; unless ``--generate-only``, each is then uploaded exactly as an operator
would (``operations.start_upload``) and its pipeline followed to the end.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from carbon_api.cli.common import (
    JsonFlag,
    console,
    err_console,
    error,
    json_out,
    new_table,
    new_typer,
    print_table,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from rich.progress import Progress, TaskID

    from carbon_domain.seed import SeedFile, SeedManifest
    from carbon_tasks.seeding import LoadedFile, LoadStep, SeedLoadResult

cli = new_typer()


@contextmanager
def _bar(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        yield bar


def _generate(out: Path, units: int, entries: int, year: int, seed: int, missing_rate: float,
              show: bool) -> SeedManifest:
    from carbon_domain.seed import entry_counts, generate

    counts = entry_counts(entries)
    n_files = 2 + len(counts) + sum(1 for n in counts.values() if n)  # units, rooms, factors
    with _bar(show) as bar:
        task = bar.add_task("Generating files", total=n_files) if bar else None

        def written(f: SeedFile) -> None:
            if bar is not None and task is not None:
                bar.update(task, advance=1, description=f"Generating {f.path}")
        return generate(out, units=units, entries=entries, year=year, seed=seed,
                        missing_rate=missing_rate, on_file=written)


def _load(manifest: SeedManifest, year: int, show: bool) -> SeedLoadResult:
    from carbon_api.cli.embedded import ensure_schema, worker_if_embedded
    from carbon_tasks.operations import DispatchFailed
    from carbon_tasks.seeding import SeedLoadError, load_seed
    from carbon_tasks.waiting import PipelineTimeout

    ensure_schema()
    with worker_if_embedded(), _bar(show) as bar:
        tasks: dict[str, TaskID] = {}
        if bar is not None:
            tasks["files"] = bar.add_task("Loading", total=len(manifest.files))
            tasks["job"] = bar.add_task("", total=1)

        def step(s: LoadStep) -> None:
            if bar is None:
                return
            bar.update(tasks["files"], completed=s.index - 1,
                       description=f"Loading {s.index}/{s.count} {s.file.path}")
            p = s.pipeline
            if p is None:
                bar.reset(tasks["job"], total=1, description="  uploading")
            else:
                total = max(p.total, 1)
                bar.update(tasks["job"], total=total, completed=min(p.done, total),
                           description=f"  {(p.message or p.status)[:70]}")
            if p is not None and p.finished:
                bar.update(tasks["files"], completed=s.index)
        try:
            return load_seed(manifest, year=year, progress=step)
        except SeedLoadError as exc:
            _print_load(exc.result)
            error(str(exc))
        except DispatchFailed as exc:
            error(f"cannot reach the broker ({exc}); job {exc.accepted.job_id} is kept and"
                  " will be dispatched once the broker is back")
        except PipelineTimeout as exc:
            error(str(exc))


def _named(table: Table, rows: Iterable[tuple[str, list[str]]]) -> None:
    """One row per file (its path and its other cells), named by its file name under a row
    naming its folder (``factors/``, ``data_entries/``): the full path (up to 55 characters:
    ``data_entries/72_biological_chemical_gaseous_product.csv``) beside the other values
    needed more than 80 columns, and Rich folded it (``…_embodied_ene`` / ``rgy.csv``)."""
    from rich.markup import escape

    folder = ""
    for path, cells in rows:
        parent, _, name = path.rpartition("/")
        if parent != folder:
            folder = parent
            table.add_row(f"[bold]{escape(parent)}/[/]", *([""] * len(cells)))
        table.add_row(escape(name), *cells)


def _print_files(manifest: SeedManifest) -> None:
    from rich.text import Text

    console.print(Text(f"Seed files in {manifest.out_dir}"), soft_wrap=True)
    # Values never wrap (docs/operating.md): a path cut across two lines names no file.
    t = new_table(None, ("file", "rows:num", "unmatched:num", "KiB:num"))
    _named(t, ((f.path, [f"{f.rows:,}", f"{f.unmatched:,}", f"{f.bytes / 1024:,.0f}"])
               for f in manifest.files))
    print_table(t)


def _shown(f: LoadedFile) -> str:
    """The file's pipeline status as every surface shows it (SUCCESS_WITH_WARNINGS when a
    job of it ended WARNING)."""
    from carbon_domain.services.reads.pipeline_console import display_status

    return display_status(f.status, len(f.warnings))


def _print_load(result: SeedLoadResult) -> None:
    from carbon_api.cli.follow import status_word

    t = new_table("Loaded through the ingest path",
                  ("file", "rows:num", "pipeline", "status", "seconds:num"))
    _named(t, ((f.file.path, [f"{f.file.rows:,}", f.pipeline_id[:8], status_word(_shown(f)),
                              f"{f.seconds:.1f}"]) for f in result.files))
    print_table(t)
    for f in result.files:
        for message in f.warnings:
            console.print(f"[yellow]⚠[/] {f.file.path}: {message}", highlight=False)


def _as_json(manifest: SeedManifest, result: SeedLoadResult | None) -> dict[str, Any]:
    out: dict[str, Any] = {"manifest": manifest.as_dict()}
    if result is not None:
        out["load"] = {"ok": result.ok, "seconds": round(result.seconds, 3), "files": [
            {"path": f.file.path, "kind": f.file.kind, "data_entry_type_id": f.file.det,
             "rows": f.file.rows, "pipeline_id": f.pipeline_id, "status": f.status,
             "display_status": _shown(f), "warnings": list(f.warnings),
             "seconds": round(f.seconds, 3), "message": f.message} for f in result.files]}
    return out


@cli.command()
def seed(
    year: Annotated[int, typer.Option("--year", "-y", help="Report year of the data.")],
    units: Annotated[int, typer.Option(help="Labs that report data (faculties, institutes and "
                                            "research facility units are added).")] = 20,
    entries: Annotated[int, typer.Option(help="Data entries over all 23 types.")] = 2000,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same "
                                                          "files.")] = 42,
    out: Annotated[Path | None, typer.Option(help="Directory for the CSV files (default "
                                                  "`.carbon/seed/YEAR-ENTRIES`).")] = None,
    missing_rate: Annotated[float, typer.Option(help="Share of entries deliberately left "
                                                     "without a factor (0 = clean).")] = 0.0,
    generate_only: Annotated[bool, typer.Option("--generate-only", help="Write the files, "
                                                "load nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Generate a deterministic synthetic university and load it (units, building rooms,
    factors and data entries of every type) through the same ingest path as an upload."""
    from carbon_domain.seed import check_params

    # Checked here, not with typer's min=, so a bad size is one line, not a usage box.
    check_params(units=units, entries=entries, year=year, missing_rate=missing_rate)
    target = out if out is not None else Path(".carbon") / "seed" / f"{year}-{entries}"
    manifest = _generate(target, units, entries, year, seed_value, missing_rate, not as_json)
    result = None if generate_only else _load(manifest, year, not as_json)
    if as_json:
        json_out(_as_json(manifest, result))
    else:
        _print_files(manifest) if result is None else _print_load(result)
        rate = manifest.totals["entry_rows"] / max(manifest.seconds, 1e-9)
        console.print(f"Generated {manifest.totals['files']} files, "
                      f"{manifest.totals['entry_rows']:,} entries and "
                      f"{manifest.totals['factor_rows']:,} factors in {manifest.seconds:.2f} s "
                      f"({rate:,.0f} entries/s) into {manifest.out_dir}")
        if result is not None:
            warned = sum(1 for f in result.files if f.warnings)
            console.print(f"Loaded {len(result.files)} files in {result.seconds:.1f} s"
                          + (f"; [yellow]{warned} with warnings[/] (rows skipped or not"
                             " computed: see ⚠ above)" if warned else ""))
    if result is not None and not result.ok:
        bad = [f.file.path for f in result.files if f.status != "SUCCESS"]
        error(f"{len(bad)} of {len(result.files)} pipelines did not succeed: {', '.join(bad)}")
