"""``GET /metrics``: Prometheus text, behind the same bearer tokens as the API (any viewer or
operator token; Prometheus sends it with ``authorization: {credentials: …}``).

Every figure is read when Prometheus scrapes: pipelines, job durations, chunks and
staleness from the database (``carbon_domain.services.reads.metrics_reads``), queue depths and
live workers from the broker. Nothing is accumulated in the API process, so several API
processes answer alike and a restart loses nothing. If the broker is unreachable the
database figures are still served and ``carbon_broker_up`` is 0; if the database is, the
broker's are, with ``carbon_database_up`` 0. Before, a database outage answered 503 and
Prometheus dropped every series of the scrape, the broker's too: the only alert left was
"cannot scrape the API".

The tokens are in the database too: while it is unreachable, a token this process verified
within :data:`OUTAGE_TOKEN_SECONDS` still opens ``/metrics`` (Prometheus scrapes every 30 s,
so its token always is); any other token gets the API's 503, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.security import HTTPAuthorizationCredentials
from kombu import Connection
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.exc import DBAPIError

from carbon_api.deps import authenticate, bearer
from carbon_api.errors import READ, is_unavailable
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import hash_token
from carbon_domain.services.reads import metrics_reads as reads
from carbon_tasks.app import app as celery_app
from carbon_tasks.workers import WorkerInfo, worker_overview

router = APIRouter(tags=["metrics"])
log = logging.getLogger("carbon.api.metrics")

INSPECT_TIMEOUT = 1.0


def queue_names() -> list[str]:
    return [q.name for q in celery_app.conf.task_queues or ()]


def queue_depths(names: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (a passive declare: works on Redis and RabbitMQ)."""
    conn = Connection(celery_app.conf.broker_url, connect_timeout=2,
                      transport_options=dict(celery_app.conf.broker_transport_options or {}))
    try:
        conn.ensure_connection(max_retries=1, timeout=3)
        channel = conn.channel()
        out = {}
        for q in names:
            try:
                out[q] = int(channel.queue_declare(queue=q, passive=True).message_count)
            except conn.channel_errors:
                # Not declared yet (Redis drops an empty list's key): nothing waits in it.
                # RabbitMQ closes the channel on a 404; take a fresh one.
                out[q] = 0
                channel = conn.channel()
        return out
    finally:
        conn.release()


class CarbonCollector(Collector):
    def __init__(self, database_up: bool = True) -> None:
        self.database_up = database_up  # False: the token check already found it unreachable

    def collect(self) -> Iterator[Metric]:
        figures = self._database_figures() if self.database_up else None
        yield GaugeMetricFamily("carbon_database_up", "1 when the database answered this "
                                "scrape (0: its figures are missing from it).",
                                value=0.0 if figures is None else 1.0)
        if figures is not None:
            pipelines, durations, chunks, stale = figures
            yield from _pipelines(pipelines)
            yield from _durations(durations)
            yield from _chunks(chunks)
            yield from _staleness(stale)
        yield from _broker()

    @staticmethod
    def _database_figures() -> tuple[reads.PipelineFigures, list[reads.DurationHistogram],
                                     reads.ChunkFigures, list[reads.Staleness]] | None:
        """Every figure read from the database; None when it does not answer (any other
        database error is a bug and propagates)."""
        try:
            with session_scope() as s:
                return (reads.pipeline_figures(s), reads.job_durations(s),
                        reads.chunk_figures(s), reads.staleness(s))
        except DBAPIError as exc:
            if not is_unavailable(exc):
                raise
            log.warning("metrics: database unreachable: %s", str(exc).splitlines()[0][:300])
            return None


def _pipelines(p: reads.PipelineFigures) -> Iterator[Metric]:
    g = GaugeMetricFamily("carbon_pipelines", "Pipelines by kind and display status (QUEUED: "
                          "no worker started it yet), as the console shows them.",
                          labels=["kind", "status"])
    for (kind, status), n in sorted(p.by_kind_status.items()):
        g.add_metric([kind, status], n)
    yield g
    yield GaugeMetricFamily("carbon_pipeline_oldest_running_seconds",
                            "Age of the oldest unfinished pipeline, RUNNING or QUEUED "
                            "(0 when none).",
                            value=p.oldest_running_seconds)


def _durations(rows: list[reads.DurationHistogram]) -> Iterator[Metric]:
    h = HistogramMetricFamily("carbon_job_duration_seconds",
                              "Run time of finished jobs (from their rows, at scrape time).",
                              labels=["job_type", "data_entry_type"])
    for r in rows:
        buckets = [(_bound(b), float(c)) for b, c in zip(reads.DURATION_BUCKETS, r.cumulative,
                                                         strict=True)]
        buckets.append(("+Inf", float(r.count)))
        h.add_metric([r.job_type, r.data_entry_type], buckets, r.sum_seconds)
    yield h


def _bound(b: float) -> str:
    return str(int(b)) if float(b).is_integer() else str(b)


def _chunks(c: reads.ChunkFigures) -> Iterator[Metric]:
    yield CounterMetricFamily("carbon_chunks_done", "Recalculation chunks done.",
                              value=c.chunks_done)
    yield CounterMetricFamily("carbon_chunk_entries", "Entries recalculated by done chunks.",
                              value=c.entries)
    yield CounterMetricFamily("carbon_emission_rows_written",
                              "Emission rows written by done chunks.", value=c.rows_written)


def _staleness(rows: list[reads.Staleness]) -> Iterator[Metric]:
    n = GaugeMetricFamily("carbon_types_needing_recalculation",
                          "Data entry types whose results are stale, per year.", labels=["year"])
    age = GaugeMetricFamily("carbon_oldest_stale_seconds",
                            "How long the oldest stale type has waited, per year.",
                            labels=["year"])
    for r in rows:
        n.add_metric([str(r.year)], r.types_needing_recalculation)
        age.add_metric([str(r.year)], r.oldest_stale_seconds)
    yield n
    yield age


def _broker() -> Iterator[Metric]:
    names = queue_names()
    try:
        depths = queue_depths(names)
        workers = worker_overview(timeout=INSPECT_TIMEOUT).workers
        up = 1.0
    except Exception as exc:  # noqa: BLE001 - any broker failure: serve what we have
        log.warning("metrics: broker unreachable: %s", exc)
        depths, workers, up = {}, [], 0.0
    yield GaugeMetricFamily("carbon_broker_up", "1 when the broker answered this scrape.",
                            value=up)
    if not up:
        return
    q = GaugeMetricFamily("carbon_queue_messages", "Messages waiting in each queue.",
                          labels=["queue"])
    for name in names:
        q.add_metric([name], depths.get(name, 0))
    yield q
    yield from _workers(workers, names)


def _workers(workers: list[WorkerInfo], names: list[str]) -> Iterator[Metric]:
    yield GaugeMetricFamily("carbon_workers", "Live workers (answering remote control).",
                            value=len(workers))
    v = GaugeMetricFamily("carbon_worker_versions", "Live workers per product version.",
                          labels=["version"])
    for version, n in sorted(Counter(w.version or "unknown" for w in workers).items()):
        v.add_metric([version], n)
    yield v
    c = GaugeMetricFamily("carbon_queue_consumers", "Live workers consuming each queue.",
                          labels=["queue"])
    consumers = Counter(q for w in workers for q in w.queues)
    for name in names:
        c.add_metric([name], consumers.get(name, 0))
    yield c


#: While the database is unreachable, a token this process verified this recently still opens
#: /metrics. A token revoked since was refused at its next scrape, which forgot it.
OUTAGE_TOKEN_SECONDS = 3600.0
_MAX_REMEMBERED = 64
_verified: dict[str, float] = {}  # SHA-256 of a token → monotonic time it was last verified
_verified_lock = threading.Lock()


def _remember(digest: str) -> None:
    with _verified_lock:
        _verified.pop(digest, None)
        _verified[digest] = time.monotonic()
        while len(_verified) > _MAX_REMEMBERED:  # the oldest goes first
            del _verified[next(iter(_verified))]


def _forget(digest: str) -> None:
    with _verified_lock:
        _verified.pop(digest, None)


def _verified_lately(digest: str) -> bool:
    with _verified_lock:
        at = _verified.get(digest)
    return at is not None and time.monotonic() - at <= OUTAGE_TOKEN_SECONDS


def scraper(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
            ) -> bool:
    """Whether the database answered the token check: the API's bearer check, except that
    while the database is unreachable a token verified lately passes (False) instead of
    answering 503. 401 as ever for a missing, malformed, unknown or revoked token."""
    digest = hash_token(credentials.credentials) if credentials is not None else None
    try:
        authenticate(credentials)
    except HTTPException:
        if digest is not None:
            _forget(digest)
        raise
    except DBAPIError as exc:
        if digest is None or not is_unavailable(exc) or not _verified_lately(digest):
            raise
        log.warning("metrics: database unreachable, serving what the broker answers: %s",
                    str(exc).splitlines()[0][:300])
        return False
    if digest is not None:
        _remember(digest)
    return True


@router.get("/metrics", response_class=Response,
            responses={**READ, 200: {"content": {CONTENT_TYPE_LATEST: {}},
                                     "description": "Prometheus text exposition."}})
def metrics(database_up: Annotated[bool, Depends(scraper)]) -> Response:
    """Prometheus metrics (any API token). See docs/metrics.md for the names. While the
    database is unreachable: 200 with `carbon_database_up` 0 and the broker's figures, for a
    token this process verified within the last hour (503 for any other)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CarbonCollector(database_up))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
