"""The same cases against both implementations of every dialect operation (``db/dialect``):
a real PostgreSQL database and a SQLite file migrated as the demo's is. Each case seeds the
same rows, runs one operation and compares what it left (or returned) with one expected
value, so the two engines give identical rows or the test says which one differs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from carbon_domain.db import migrate
from carbon_domain.db.base import Base
from carbon_domain.db.dialect import SqlDialect, dialect_of
from carbon_domain.db.enums import IngestionMethod, JobState, JobType, PipelineStatus, TargetType
from carbon_domain.db.models import CarbonReport, CarbonReportModule, DataEntry, Pipeline, Unit
from carbon_domain.db.models import DataEntryEmission as Emission
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import engine_for
from carbon_domain.services.reads import metrics_reads
from carbon_domain.services.recalc import recalc_chunk
from carbon_domain.stats import with_computed_at

YEAR, IT, OTHER = 2025, 11, 12
OLD = datetime(2000, 1, 1, tzinfo=UTC)
ENTRIES = {  # id → (report module, type, data)
    101: (1, IT, {"kind": "laptop", "n": 1}),
    102: (1, IT, {"kind": "laptop", "n": 2, "primary_factor_id": 5}),
    103: (2, IT, {"kind": "screen", "n": 3}),
    104: (2, IT, {"kind": "laptop", "n": 4}),
    105: (2, IT, {"n": 5}),
    201: (1, OTHER, {"kind": "laptop", "n": 6}),
}


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('dialects')) / 'carbon.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def s(request: pytest.FixtureRequest) -> Iterator[Session]:
    """A session on an empty database of each engine, seeded with the same rows."""
    if request.param == "postgresql":
        url = request.getfixturevalue("db")
    else:
        url = request.getfixturevalue("sqlite_url")
        with engine_for(url).begin() as c:
            for table in reversed(Base.metadata.sorted_tables):
                c.execute(table.delete())
    with Session(engine_for(url)) as session:
        assert dialect_of(session).name == request.param
        _seed(session)
        yield session
        session.rollback()


def _seed(s: Session) -> None:
    s.add_all([Unit(id=1, institutional_code="U1", name="one"),
               Unit(id=2, institutional_code="U2", name="two")])
    s.flush()
    s.add_all([CarbonReport(id=1, unit_id=1, year=YEAR), CarbonReport(id=2, unit_id=2, year=YEAR)])
    s.flush()
    s.add_all([CarbonReportModule(id=1, carbon_report_id=1, module_type_id=4),
               CarbonReportModule(id=2, carbon_report_id=2, module_type_id=4)])
    s.flush()
    s.add_all(DataEntry(id=i, carbon_report_module_id=crm, data_entry_type_id=det, data=data,
                        year=YEAR, unit_id=crm, updated_at=OLD)
              for i, (crm, det, data) in ENTRIES.items())
    s.flush()


def _emissions(s: Session) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in s.execute(select(
        Emission.data_entry_id, Emission.emission_type_id, Emission.scope, Emission.kg_co2eq,
        Emission.additional_value, Emission.primary_factor_id)))


ROWS = [(101, 40101, 3, 1.5, 2.0, 7), (101, 40102, 3, 2.25, None, None),
        (102, 40101, 1, 0.1, None, 9), (103, 40103, 2, 1e-9, 3.5, None),
        (104, 40101, 3, 4.0, None, None)]


def _slice(s: Session) -> Any:
    """The dialect, with the (it, YEAR) slice ready for rows written in place."""
    d = dialect_of(s)
    assert d.prepare_slice(s, 1, 1, IT, YEAR, full=False) is None
    return d


def test_insert_emission_rows(s: Session) -> None:
    _slice(s).insert_emission_rows(s, IT, YEAR, ROWS)
    assert _emissions(s) == sorted(ROWS)
    stamped = s.scalars(select(Emission.computed_at)).all()
    assert len(stamped) == len(ROWS) and all(stamped)


def test_entry_spool_writes_every_row_as_given(s: Session) -> None:
    spool = dialect_of(s).entry_spool(YEAR, 77)
    awkward = ['{"name": "tab\\there", "note": "line\\nbreak"}', '{"path": "C:\\\\x", "q": "\\""}',
               '{"word": "Zürich – ünïcode", "nul": "\\\\N"}']
    for n, data in enumerate(awkward):
        spool.add(1 + n % 2, IT if n < 2 else OTHER, 1 + n % 2, data)
    assert (spool.count, spool.dets) == (3, {IT, OTHER})
    spool.write(s)
    got = s.execute(select(DataEntry.carbon_report_module_id, DataEntry.data_entry_type_id,
                           DataEntry.data, DataEntry.source, DataEntry.year, DataEntry.unit_id,
                           DataEntry.created_by_job_id, DataEntry.created_at)
                    .where(DataEntry.created_by_job_id == 77).order_by(DataEntry.id)).all()
    assert [tuple(r[:7]) for r in got] == [
        (1, IT, {"name": "tab\there", "note": "line\nbreak"}, "csv", YEAR, 1, 77),
        (2, IT, {"path": "C:\\x", "q": '"'}, "csv", YEAR, 2, 77),
        (1, OTHER, {"word": "Zürich – ünïcode", "nul": "\\N"}, "csv", YEAR, 1, 77)]
    assert all(r[7] is not None for r in got)


def test_read_entries_by_range_and_by_ids(s: Session) -> None:
    d = dialect_of(s)
    entries, crm_of = d.read_entries(s, IT, YEAR, 102, 104, None)
    assert entries == [(i, ENTRIES[i][2]) for i in (102, 103, 104)]
    assert crm_of == {102: 1, 103: 2, 104: 2}
    entries, crm_of = d.read_entries(s, IT, YEAR, 0, 0, [105, 101, 201, 999])
    assert entries == [(101, ENTRIES[101][2]), (105, ENTRIES[105][2])]  # 201: other type
    assert crm_of == {101: 1, 105: 2}


def test_delete_emissions_of_returns_what_it_deleted(s: Session) -> None:
    d = _slice(s)
    d.insert_emission_rows(s, IT, YEAR, ROWS)
    gone = d.delete_emissions_of(s, IT, YEAR, [103, 101, 555])
    assert sorted(gone) == [(101, 40101, 1.5), (101, 40102, 2.25), (103, 40103, 1e-9)]
    assert _emissions(s) == [ROWS[2], ROWS[4]]


def test_hold_entries_answers_the_entries_that_still_exist(s: Session) -> None:
    d = dialect_of(s)
    s.execute(text("DELETE FROM data_entries WHERE id = 103"))
    assert d.hold_entries(s, IT, YEAR, 0, 0, [101, 103, 104, 999]) == {101, 104}
    assert d.hold_entries(s, IT, YEAR, 102, 201, None) == {102, 104, 105}


@pytest.mark.parametrize("part, parts, expected", [
    (1, 5, [101, 102, 103, 104, 105]), (2, 3, [101, 103, 105]), (3, 2, [101, 104]),
    (5, 1, [101]), (4, 2, [101, 105])])
def test_slice_bounds_are_the_first_id_of_each_run(s: Session, part: int, parts: int,
                                                    expected: list[int],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk bounds of the IT slice (ids 101-105; 201 is another type), on PostgreSQL by
    OFFSET walks up to 6 parts and by numbering beyond (forced below), on SQLite by
    numbering: the same ids every way."""
    from carbon_domain.db.dialect import postgres

    assert dialect_of(s).slice_bounds(s, IT, YEAR, part, parts) == expected
    if dialect_of(s).name == "postgresql":
        monkeypatch.setattr(postgres, "OFFSET_BOUNDS_UP_TO", 0)
        assert dialect_of(s).slice_bounds(s, IT, YEAR, part, parts) == expected


def test_relink_primary_factors(s: Session) -> None:
    dialect_of(s).relink_primary_factors(s, {101: 9, 102: None, 104: 12})
    s.expire_all()
    got = {i: (data, at) for i, data, at in s.execute(
        select(DataEntry.id, DataEntry.data, DataEntry.updated_at))}
    assert {i: data for i, (data, _) in got.items()} == {
        **{i: e[2] for i, e in ENTRIES.items()},
        101: {"kind": "laptop", "n": 1, "primary_factor_id": 9},
        102: {"kind": "laptop", "n": 2, "primary_factor_id": None},
        104: {"kind": "laptop", "n": 4, "primary_factor_id": 12}}
    assert {i for i, (_, at) in got.items() if at > OLD} == {101, 102, 104}


def test_write_stats_and_stamp_computed_at(s: Session) -> None:
    d = dialect_of(s)
    now = datetime(2026, 12, 6, 8, 30, 15, 123456, tzinfo=UTC)
    stats = {"total": 12.5, "by_emission_type": {"40101": 12.5}}  # as stored: no time
    d.write_stats(s, "carbon_report_modules", [(1, stats)], now, set_status=True)
    d.write_stats(s, "carbon_reports", [(1, stats), (2, {"total": 0})], now, set_status=False)
    later = datetime(2026, 12, 6, 9, 0, 0, 654321, tzinfo=UTC)
    d.stamp_computed_at(s, "carbon_report_modules", [1, 2], later)
    s.expire_all()
    modules = s.execute(select(CarbonReportModule.id, CarbonReportModule.stats,
                               CarbonReportModule.stats_computed_at,
                               CarbonReportModule.status, CarbonReportModule.last_updated)
                        .order_by(CarbonReportModule.id)).all()
    # The time lives in its column, not in the stored JSON (migration 0017).
    stored = stats
    assert [tuple(m) for m in modules] == [
        (1, stored, later, 1, now),
        (2, None, None, 0, None)]  # never computed: nothing to call fresh
    reports = s.execute(select(CarbonReport.id, CarbonReport.stats,
                               CarbonReport.stats_computed_at, CarbonReport.last_updated)
                        .order_by(CarbonReport.id)).all()
    assert [tuple(r) for r in reports] == [(1, stored, now, now), (2, {"total": 0}, now, now)]
    # What the readers show: the column's time as the stats' computed_at.
    assert with_computed_at(modules[0].stats, modules[0].stats_computed_at) == {
        **stored, "computed_at": "2026-12-06T09:00:00.654321Z"}


def test_every_stats_reader_shows_the_column_time_as_computed_at(s: Session) -> None:
    """The stored JSON has no time (migration 0017); the report list, a module's stats, the
    results export and the year status all show the row's stats_computed_at."""
    from carbon_domain.services.exports.exports import results_rows
    from carbon_domain.services.reads import status
    from carbon_domain.services.reads.queries import get_module_stats, list_reports

    d = dialect_of(s)
    written = datetime(2026, 12, 7, 9, 30, 0, 250000, tzinfo=UTC)
    stamped = datetime(2026, 12, 7, 9, 45, 0, 500000, tzinfo=UTC)
    stats = {"scope1": 0.0, "scope2": 12.5, "scope3": 0.0, "total": 12.5,
             "by_emission_type": {"80200": 12.5}, "entry_count": 2, "missing_factors": 0}
    d.write_stats(s, "carbon_report_modules", [(1, stats)], written, set_status=True)
    d.write_stats(s, "carbon_reports", [(1, stats)], written, set_status=False)
    d.stamp_computed_at(s, "carbon_reports", [1, 2], stamped)  # 2: NULL stats, not stamped
    s.expire_all()
    iso_w, iso_s = "2026-12-07T09:30:00.250000Z", "2026-12-07T09:45:00.500000Z"
    listed = list_reports(s, year=YEAR)
    assert listed is not None
    by_id = {r.id: r for r in listed[0]}
    assert by_id[1].stats == {**stats, "computed_at": iso_s}
    assert by_id[2].stats is None
    assert [m.stats for m in by_id[1].modules] == [{**stats, "computed_at": iso_w}]
    view = get_module_stats(s, 1, 4)
    assert view is not None and view.stats == {**stats, "computed_at": iso_w}
    assert [r[-1] for r in results_rows(s, YEAR)] == [iso_w]
    # The year status's module totals (year_status lists modules with uploads only).
    assert status._module_totals(s, YEAR)[4][1] == written


def test_module_kg_rows(s: Session) -> None:
    d = _slice(s)
    d.insert_emission_rows(s, IT, YEAR, ROWS)
    got = sorted(d.module_kg_rows(s, YEAR, [IT]), key=lambda r: (r[0], r[1] or 0))
    # Entry 105 has no row: one (module, NULL) group, its missing factor.
    assert [tuple(r) for r in got] == [
        (1, 40101, 1.6, 2), (1, 40102, 2.25, 1), (2, None, None, 1), (2, 40101, 4.0, 1),
        (2, 40103, 1e-9, 1)]


def test_entries_grouped_by_json_keys(s: Session) -> None:
    found: dict[tuple[Any, ...], list[int]] = {}
    for ids, values in dialect_of(s).entries_grouped(s, IT, YEAR, ("kind",)):
        found.setdefault(values, []).extend(ids)
    assert {k: sorted(v) for k, v in found.items()} == {
        ("laptop",): [101, 102, 104], ("screen",): [103], (None,): [105]}


def test_seconds_between_and_the_duration_metrics(s: Session) -> None:
    start = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
    for n, took in enumerate((0.4, 90.25, 4000.0)):
        s.add(Job(job_type=JobType.emission_recalc, target_type=TargetType.DATA_ENTRIES,
                  ingestion_method=IngestionMethod.computed, data_entry_type_id=IT, year=YEAR,
                  state=JobState.FINISHED, started_at=start + timedelta(hours=n),
                  finished_at=start + timedelta(hours=n, seconds=took)))
    s.flush()
    expr = dialect_of(s).seconds_between("finished_at", "started_at")
    took = sorted(float(x) for x in s.scalars(text(f"SELECT {expr} FROM data_ingestion_jobs")))
    assert took == pytest.approx([0.4, 90.25, 4000.0], abs=1e-3)
    (hist,) = metrics_reads.job_durations(s)
    assert (hist.job_type, hist.data_entry_type, hist.count) == ("emission_recalc", "it", 3)
    assert hist.sum_seconds == pytest.approx(4090.65, abs=1e-3)
    bounds = metrics_reads.DURATION_BUCKETS
    assert hist.cumulative == tuple(sum(t <= b for t in (0.4, 90.25, 4000.0)) for b in bounds)


def test_mirror_on_module_job_sums_the_type_jobs(s: Session) -> None:
    pipe = Pipeline(kind="recalc", status=PipelineStatus.RUNNING)
    s.add(pipe)
    s.flush()
    common = {"pipeline_id": pipe.id, "target_type": TargetType.DATA_ENTRIES,
              "ingestion_method": IngestionMethod.computed, "year": YEAR,
              "state": JobState.RUNNING}
    root = Job(job_type=JobType.module_emission_recalc, module_type_id=4, **common)
    a = Job(job_type=JobType.emission_recalc, module_type_id=4, progress_done=3,
            progress_total=10, **common)
    b = Job(job_type=JobType.emission_recalc, module_type_id=4, progress_done=4,
            progress_total=5, **common)
    # A facility type the same pipeline recalculates after the module's own: not the
    # module job's (it closes without it).
    follower = Job(job_type=JobType.emission_recalc, module_type_id=6, progress_done=0,
                   progress_total=46, **common)
    s.add_all([root, a, b, follower])
    s.flush()
    recalc_chunk._mirror_on_module_job(s, a.id, "Recalculating it (1/2): 3/10")
    s.expire_all()
    assert (root.status_message, root.progress_done, root.progress_total) == (
        "Recalculating it (1/2): 3/10", 7, 15)
    assert root.heartbeat_at is not None


def test_locks_and_snapshot(s: Session, request: pytest.FixtureRequest) -> None:
    d: SqlDialect = dialect_of(s)
    s.commit()
    d.xact_lock(s, 4242, 1)
    d.xact_lock(s, 4242, 2, shared=True)
    assert d.try_xact_lock(s, 4242, 1) is True  # the holder's own transaction
    # Another transaction: PostgreSQL refuses while we hold it; SQLite has no such locks
    # (its single writer serialises whole transactions).
    answer: list[bool] = []

    def other() -> None:
        with Session(s.get_bind()) as o:
            answer.append(dialect_of(o).try_xact_lock(o, 4242, 1))
            o.rollback()

    t = threading.Thread(target=other)
    t.start()
    t.join(30)
    assert answer == [{"postgresql": False, "sqlite": True}[d.name]]
    s.rollback()
    d.snapshot(s)
    level = (s.scalar(text("SHOW transaction_isolation")) if d.name == "postgresql"
             else "repeatable read")
    assert level == "repeatable read"
    assert s.scalar(select(Unit.name).where(Unit.id == 1)) == "one"


def test_skip_locked_clause_skips_a_held_row_on_postgresql(s: Session) -> None:
    d = dialect_of(s)
    assert d.skip_locked() == {"postgresql": "FOR UPDATE SKIP LOCKED", "sqlite": ""}[d.name]
    if not d.skip_locked():
        return  # SQLite: nothing else can hold a row while we write
    s.commit()  # the seed, visible to the other transaction
    s.execute(update(Unit).where(Unit.id == 1).values(name="held"))
    seen: list[Any] = []

    def other() -> None:
        with Session(s.get_bind()) as o:
            seen.extend(o.scalars(text(f"SELECT id FROM units ORDER BY id {d.skip_locked()}")))
            o.rollback()

    t = threading.Thread(target=other)
    t.start()
    t.join(30)
    assert seen == [2]


def test_oldest_running_pipeline_age(s: Session) -> None:
    """The age counts every unfinished pipeline; the counts are display statuses: a RUNNING
    pipeline no job of which has started is QUEUED, on both engines."""
    started = datetime.now(UTC) - timedelta(seconds=600)
    running = Pipeline(kind="upload", status=PipelineStatus.RUNNING, started_at=started)
    s.add_all([running,
               Pipeline(kind="upload", status=PipelineStatus.RUNNING,
                        started_at=started + timedelta(seconds=60)),
               Pipeline(kind="upload", status=PipelineStatus.SUCCESS,
                        started_at=started - timedelta(days=1))])
    s.flush()
    s.add(Job(job_type=JobType.csv_ingest, target_type=TargetType.DATA_ENTRIES,
              ingestion_method=IngestionMethod.csv, pipeline_id=running.id,
              state=JobState.RUNNING, started_at=started))
    s.flush()
    figures = metrics_reads.pipeline_figures(s)
    assert figures.oldest_running_seconds == pytest.approx(600, abs=30)
    assert figures.by_kind_status[("upload", "RUNNING")] == 1
    assert figures.by_kind_status[("upload", "QUEUED")] == 1
    assert figures.by_kind_status[("upload", "SUCCESS")] == 1
