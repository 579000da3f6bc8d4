"""Celery configuration, built from the one settings object; why the reliability settings
are what they are: docs/design.md §4 and docs/reliability.md."""

from __future__ import annotations

from typing import Any

from kombu import Queue

from carbon_domain import task_names as tn
from carbon_domain.settings import get_settings

_s = get_settings()

# kombu logs "No hostname was supplied. Reverting to default 'localhost'" each time it clones a
# connection whose URL has no host; the in-process memory:// broker ignores the host, so name one.
broker_url = "memory://localhost//" if _s.broker_url == "memory://" else _s.broker_url
result_backend = _s.result_backend
# A result backend connection can die on the server's side while a worker host is cut off
# (its forwarder or Redis drops it); the pool process finds out at its next write, "Broken
# pipe", and without a retry that task failed before it ran: after a 40 s cut both pool
# processes of the host failed their first task and pipelines stayed "Queued" or RUNNING
# (multi-host walk, 2026-12-08). Retried, the write reconnects: 5 tries, 10 ms → 10 s apart.
result_backend_always_retry = True
result_backend_max_retries = 5
broker_connection_retry_on_startup = True
broker_connection_max_retries = None

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# At-least-once delivery: every task is idempotent (chunks rewrite their rows in one
# transaction, job transitions are conditional), so a redelivery is harmless.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# Without this an acks_late task can run twice in parallel after a broker reconnect.
worker_cancel_long_running_tasks_on_connection_loss = True
worker_soft_shutdown_timeout = 30.0
# Celery's consumer, made to survive a Redis restart (Celery 5.7.0 ends the worker's main
# process otherwise): why and the upstream reference in carbon_tasks/consumer.py.
worker_consumer = "carbon_tasks.consumer:Consumer"
# Celery counts KiB; checked after each task, the child then exits and a fresh one starts.
worker_max_memory_per_child = _s.worker_max_memory_mb * 1024 or None
task_soft_time_limit = _s.task_soft_time_limit
task_time_limit = _s.task_time_limit
result_expires = 24 * 3600
# Chord bodies read their header results; keep them long enough for the largest fan-out.
result_chord_join_timeout = 60.0
result_chord_retry_interval = 0.2

# Task events so Flower shows tasks, progress and workers.
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True

_transport: dict[str, Any] = {}
if _s.amqp_broker:
    # RabbitMQ: the channel waits for the broker's confirm of every publish, so a message the
    # API reported as queued is on disk in a quorum queue (not lost in a socket buffer when the
    # broker goes away). RabbitMQ needs no visibility timeout: an unacked message returns to
    # its queue the moment the consumer's connection closes.
    _transport["confirm_publish"] = True
else:
    _transport["visibility_timeout"] = _s.visibility_timeout
if _s.embedded_broker:
    # The memory transport polls once a second by default: a 200-task chord then takes
    # ~26 s instead of ~1.1 s with 10 ms polling (measured with the in-process worker).
    _transport["polling_interval"] = 0.01
if _s.redis_key_prefix and _s.broker_url.startswith("redis"):
    _transport["global_keyprefix"] = _s.redis_key_prefix
if _s.unacked_restore_seconds and _s.broker_url.startswith("redis"):
    # kombu scans only every `throttle`-th restore tick (default 10 x 10 s); 1 makes the
    # interval the whole period.
    _transport["unacked_restore_interval"] = _s.unacked_restore_seconds
    _transport["unacked_restore_throttle"] = 1
broker_transport_options = _transport
if _s.result_backend.startswith("redis"):
    result_backend_transport_options: dict[str, Any] = {
        "visibility_timeout": _s.visibility_timeout}
    if _s.redis_key_prefix:
        result_backend_transport_options["global_keyprefix"] = _s.redis_key_prefix

task_default_queue = tn.DEFAULT
# On RabbitMQ the declared queues are durable quorum queues (replicated, fsynced, poison
# message handling). Quorum queues do not support global QoS; Celery (5.5+) sees the
# x-queue-type argument (worker_detect_quorum_queues) and applies the prefetch per consumer.
# Redis has no queue types: there the arguments would be meaningless, so none are given.
_queue_arguments = {"x-queue-type": "quorum"} if _s.amqp_broker else None
task_queues = tuple(Queue(name, durable=True, queue_arguments=_queue_arguments)
                    for name in tn.QUEUES)
worker_detect_quorum_queues = True
# Which queue runs which task, and why: carbon_domain/task_names.py.
task_routes = {name: {"queue": queue} for name, queue in tn.TASK_QUEUES.items()}

beat_schedule = {
    "reconcile": {"task": tn.RECONCILE, "schedule": _s.reconcile_interval},
    "purge-uploads": {"task": tn.PURGE_UPLOADS, "schedule": _s.upload_purge_interval},
}
