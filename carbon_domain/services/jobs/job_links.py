"""A module-level recalculation's per-type jobs (table job_links, migration 0009).

A module trigger starts one job per data entry type, or joins the active job of a type
another trigger is already recalculating; the module job closes when all of them are done
(``recalc_finish.close_module_job``). Until 0009 the two lists were ``meta.config.job_ids``
and ``meta.config.joined_job_ids``; the API still shows them there (:func:`api_meta`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.db.enums import JobLinkKind, JobType
from carbon_domain.db.link_models import JobLink
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.json_types import JsonObject, JsonValue


@dataclass(slots=True)
class ModuleJobs:
    started: list[int] = field(default_factory=list)
    joined: list[int] = field(default_factory=list)

    @property
    def all(self) -> list[int]:
        return self.started + self.joined


def link_module_job(session: Session, job_id: int, *, started: Iterable[int],
                    joined: Iterable[int]) -> None:
    session.add_all([JobLink(job_id=job_id, linked_job_id=i, kind=JobLinkKind.started)
                     for i in sorted(set(started))])
    session.add_all([JobLink(job_id=job_id, linked_job_id=i, kind=JobLinkKind.joined)
                     for i in sorted(set(joined))])
    session.flush()


def module_jobs(session: Session, job_ids: Iterable[int]) -> dict[int, ModuleJobs]:
    """{module job id: its per-type jobs}, ids ascending, in one query for many jobs."""
    ids = sorted(set(job_ids))
    out: dict[int, ModuleJobs] = {i: ModuleJobs() for i in ids}
    if not ids:
        return out
    for link in session.scalars(select(JobLink).where(JobLink.job_id.in_(ids))
                                .order_by(JobLink.job_id, JobLink.linked_job_id)):
        group = out[link.job_id]
        (group.started if link.kind == JobLinkKind.started else group.joined).append(
            link.linked_job_id)
    return out


def api_meta(job: Job, links: ModuleJobs | None = None) -> JsonObject:
    """The job's meta as the API always showed it: the moved control keys put back where
    they were before migration 0009 (same shape for clients)."""
    meta: JsonObject = dict(job.meta or {})
    if job.covers_input_job_id is not None:
        meta["covers_input_job_id"] = job.covers_input_job_id
    if job.rerun_job_id is not None:
        meta["rerun_job_id"] = job.rerun_job_id
    if job.job_type == JobType.module_emission_recalc and links is not None:
        config = meta.get("config")
        started: list[JsonValue] = list(links.started)
        joined: list[JsonValue] = list(links.joined)
        meta["config"] = {**(config if isinstance(config, dict) else {}), "job_ids": started,
                          "joined_job_ids": joined}
    return meta
