"""``GET /metrics``: Prometheus text, behind the same bearer tokens as the API (any viewer or
operator token; Prometheus sends it with ``authorization: {credentials: …}``).

Every figure is read when Prometheus scrapes: pipelines, job durations, chunks and
staleness from the database (``carbon_domain.services.reads.metrics_reads``), queue depths and
live workers from the broker. Nothing is accumulated in the API process, so several API
processes answer alike and a restart loses nothing. If the broker is unreachable the
database figures are still served and ``carbon_broker_up`` is 0.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

from fastapi import APIRouter, Response
from kombu import Connection
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from carbon_api.deps import Viewer
from carbon_api.errors import READ
from carbon_domain.db.session import session_scope
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
    def collect(self) -> Iterator[Metric]:
        with session_scope() as s:
            pipelines = reads.pipeline_figures(s)
            durations = reads.job_durations(s)
            chunks = reads.chunk_figures(s)
            stale = reads.staleness(s)
        yield from _pipelines(pipelines)
        yield from _durations(durations)
        yield from _chunks(chunks)
        yield from _staleness(stale)
        yield from _broker()


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


@router.get("/metrics", response_class=Response,
            responses={**READ, 200: {"content": {CONTENT_TYPE_LATEST: {}},
                                     "description": "Prometheus text exposition."}})
def metrics(_: Viewer) -> Response:
    """Prometheus metrics (any API token). See docs/metrics.md for the names."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CarbonCollector())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
