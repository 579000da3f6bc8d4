"""job and pipeline control keys leave the meta JSON: two columns and three link tables

The keys of ``meta`` that steer the pipeline become typed storage; what stays in ``meta`` is
reports that people read (row errors, recalculation counts, abort notes):

- job ``covers_input_job_id``, ``rerun_job_id`` -> columns of data_ingestion_jobs;
- job ``config.job_ids`` / ``config.joined_job_ids`` (a module-level recalculation's
  per-type jobs) -> job_links (kind 'started' / 'joined');
- pipeline ``linked_job_ids`` (jobs of other pipelines it joined) -> pipeline_job_links;
- pipeline ``awaits_aggregation`` ("module:year" keys) -> pipeline_awaited_aggregations.

Works on a database with data: upgrade moves the keys out of meta (a link to a job that no
longer exists is dropped: it could not hold a foreign key and nothing would read it);
downgrade puts them back where 0008 read them. Jobs and pipelines number in the thousands,
and only rows whose meta text names a key are read, so the move is done in Python, the
same on PostgreSQL and SQLite.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 21:00:00
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_JOBS = sa.table("data_ingestion_jobs", sa.column("id", sa.Integer), sa.column("meta", _JSON),
                 sa.column("covers_input_job_id", sa.Integer),
                 sa.column("rerun_job_id", sa.Integer))
_PIPELINES = sa.table("pipelines", sa.column("id", sa.Uuid), sa.column("meta", _JSON))
_JOB_LINKS = sa.table("job_links", sa.column("job_id", sa.Integer),
                      sa.column("linked_job_id", sa.Integer), sa.column("kind", sa.String))
_PIPELINE_LINKS = sa.table("pipeline_job_links", sa.column("pipeline_id", sa.Uuid),
                           sa.column("job_id", sa.Integer))
_AWAITED = sa.table("pipeline_awaited_aggregations", sa.column("pipeline_id", sa.Uuid),
                    sa.column("module_type_id", sa.Integer), sa.column("year", sa.Integer))
_JOB_KEYS = ("covers_input_job_id", "rerun_job_id", "job_ids", "joined_job_ids")
_PIPELINE_KEYS = ("linked_job_ids", "awaits_aggregation")
_KINDS = {"job_ids": "started", "joined_job_ids": "joined"}


def upgrade() -> None:
    with op.batch_alter_table("data_ingestion_jobs") as batch:
        batch.add_column(sa.Column("covers_input_job_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rerun_job_id", sa.Integer(), nullable=True))
    job_fk = ("data_ingestion_jobs.id",)
    op.create_table(
        "job_links",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("linked_job_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], job_fk, ondelete="CASCADE",
                                name=op.f("fk_job_links_job_id_data_ingestion_jobs")),
        sa.ForeignKeyConstraint(["linked_job_id"], job_fk, ondelete="CASCADE",
                                name=op.f("fk_job_links_linked_job_id_data_ingestion_jobs")),
        sa.PrimaryKeyConstraint("job_id", "linked_job_id", "kind", name=op.f("pk_job_links")),
    )
    op.create_table(
        "pipeline_job_links",
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"], ondelete="CASCADE",
                                name=op.f("fk_pipeline_job_links_pipeline_id_pipelines")),
        sa.ForeignKeyConstraint(["job_id"], job_fk, ondelete="CASCADE",
                                name=op.f("fk_pipeline_job_links_job_id_data_ingestion_jobs")),
        sa.PrimaryKeyConstraint("pipeline_id", "job_id", name=op.f("pk_pipeline_job_links")),
    )
    op.create_index(op.f("ix_pipeline_job_links_job_id"), "pipeline_job_links", ["job_id"])
    op.create_table(
        "pipeline_awaited_aggregations",
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("module_type_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"], ondelete="CASCADE",
                                name=op.f("fk_pipeline_awaited_aggregations_pipeline_id_pipelines")),
        sa.PrimaryKeyConstraint("pipeline_id", "module_type_id", "year",
                                name=op.f("pk_pipeline_awaited_aggregations")),
    )
    _move_out()


def downgrade() -> None:
    _move_back()
    op.drop_table("pipeline_awaited_aggregations")
    op.drop_index(op.f("ix_pipeline_job_links_job_id"), table_name="pipeline_job_links")
    op.drop_table("pipeline_job_links")
    op.drop_table("job_links")
    with op.batch_alter_table("data_ingestion_jobs") as batch:
        batch.drop_column("rerun_job_id")
        batch.drop_column("covers_input_job_id")


def _naming(table: Any, keys: tuple[str, ...]) -> list[Any]:
    """Rows whose meta text mentions one of the keys (the rest cannot carry one)."""
    text = sa.cast(table.c.meta, sa.Text)
    q = sa.select(table.c.id, table.c.meta).where(sa.or_(*[text.like(f'%"{k}"%') for k in keys]))
    return list(op.get_bind().execute(q))


def _ints(values: Any) -> list[int]:
    return [int(v) for v in (values or []) if v is not None]


def _move_out() -> None:
    bind = op.get_bind()
    job_ids = set(bind.scalars(sa.select(_JOBS.c.id)))
    links: set[tuple[int, int, str]] = set()
    for job_id, meta in _naming(_JOBS, _JOB_KEYS):
        meta = dict(meta or {})
        config = dict(meta.get("config") or {})
        for key, kind in _KINDS.items():
            links |= {(job_id, i, kind) for i in _ints(config.pop(key, None)) if i in job_ids}
        covers, rerun = meta.pop("covers_input_job_id", None), meta.pop("rerun_job_id", None)
        if "config" in meta:
            meta["config"] = config
        bind.execute(_JOBS.update().where(_JOBS.c.id == job_id).values(
            meta=meta, covers_input_job_id=None if covers is None else int(covers),
            rerun_job_id=None if rerun is None else int(rerun)))
    if links:
        bind.execute(_JOB_LINKS.insert(), [
            {"job_id": j, "linked_job_id": i, "kind": k} for j, i, k in sorted(links)])
    joined: set[tuple[Any, int]] = set()
    awaited: set[tuple[Any, int, int]] = set()
    for pid, meta in _naming(_PIPELINES, _PIPELINE_KEYS):
        meta = dict(meta or {})
        joined |= {(pid, i) for i in _ints(meta.pop("linked_job_ids", None)) if i in job_ids}
        for key in meta.pop("awaits_aggregation", None) or []:
            module, year = str(key).split(":")
            awaited.add((pid, int(module), int(year)))
        bind.execute(_PIPELINES.update().where(_PIPELINES.c.id == pid).values(meta=meta))
    if joined:
        bind.execute(_PIPELINE_LINKS.insert(), [
            {"pipeline_id": p, "job_id": j} for p, j in sorted(joined, key=str)])
    if awaited:
        bind.execute(_AWAITED.insert(), [{"pipeline_id": p, "module_type_id": m, "year": y}
                                         for p, m, y in sorted(awaited, key=str)])


def _move_back() -> None:
    bind = op.get_bind()
    per_job: dict[int, dict[str, Any]] = {}
    for job_id, covers, rerun in bind.execute(sa.select(
            _JOBS.c.id, _JOBS.c.covers_input_job_id, _JOBS.c.rerun_job_id).where(sa.or_(
            _JOBS.c.covers_input_job_id.is_not(None), _JOBS.c.rerun_job_id.is_not(None)))):
        keys = per_job.setdefault(job_id, {})
        if covers is not None:
            keys["covers_input_job_id"] = covers
        if rerun is not None:
            keys["rerun_job_id"] = rerun
    config_keys: dict[int, dict[str, list[int]]] = {}
    for job_id, linked, kind in bind.execute(sa.select(_JOB_LINKS).order_by(
            _JOB_LINKS.c.job_id, _JOB_LINKS.c.linked_job_id)):
        lists = config_keys.setdefault(job_id, {"job_ids": [], "joined_job_ids": []})
        lists["job_ids" if kind == "started" else "joined_job_ids"].append(linked)
    for job_id in sorted(set(per_job) | set(config_keys)):
        meta = dict(bind.scalar(sa.select(_JOBS.c.meta).where(_JOBS.c.id == job_id)) or {})
        meta.update(per_job.get(job_id, {}))
        if job_id in config_keys:
            meta["config"] = {**(meta.get("config") or {}), **config_keys[job_id]}
        bind.execute(_JOBS.update().where(_JOBS.c.id == job_id).values(meta=meta))
    per_pipeline: dict[Any, dict[str, list[Any]]] = {}
    for pid, job_id in bind.execute(sa.select(_PIPELINE_LINKS).order_by(_PIPELINE_LINKS.c.job_id)):
        per_pipeline.setdefault(pid, {}).setdefault("linked_job_ids", []).append(job_id)
    for pid, module, year in bind.execute(sa.select(_AWAITED).order_by(
            _AWAITED.c.module_type_id, _AWAITED.c.year)):
        per_pipeline.setdefault(pid, {}).setdefault("awaits_aggregation", []).append(
            f"{module}:{year}")
    for pid, keys in per_pipeline.items():
        meta = dict(bind.scalar(sa.select(_PIPELINES.c.meta).where(_PIPELINES.c.id == pid)) or {})
        bind.execute(_PIPELINES.update().where(_PIPELINES.c.id == pid).values(
            meta={**meta, **keys}))
