"""The worker's broker consumer: Celery's, with its unacked messages restored before the
connection is torn down after a connection loss (``worker_consumer`` in celeryconfig).

Why
---
Celery 5.7.0 (the pinned version) handles a lost broker connection in
``Consumer.on_connection_error_after_connected`` with ``connection.collect()`` and then, new in
5.7.0 (celery #9705, "release the broken socket before the reconnect"), ``connection.close()``.
On Redis, collect() tries to close the task channel (the one holding the delivered, unacked
messages), but that close stops at its first network call when Redis is down: draining the
pending BRPOP (``Channel.close`` -> ``_brpop_read``), before the channel is marked closed.
collect() then detaches the transport from the connection (``transport.client = None``) and
keeps the half-closed channel as the connection's default channel. close() closes that channel
again; this time it gets past the BRPOP, drops its Redis connection pool and restores the
unacked messages, which needs a new pool, built from ``transport.client.hostname``:
``AttributeError: 'NoneType' object has no attribute 'hostname'`` (kombu/transport/redis.py
``_connparams``). That is neither a connection nor a channel error, so nothing catches it and
the worker's main process exits ("Unrecoverable error"). Celery 5.6.3 had no close() after
collect(): with the same kombu 5.7.0 and redis-py 8.1.0 its worker survived 4 of 4 staged
restarts that end a 5.7.0 worker 6 of 6 times (tests/fault/redis_restart_repro.py).

It needs the loss to be noticed on another socket (the pidbox's pub/sub) while the BRPOP is
still pending, and Redis still down when the consumer cleans up: under load, by chance (the
main process died in 3 of 3 runs of tests/fault/test_redis_restarted.py with three CPU hogs
beside it on this 2-core machine; a quiet machine passed 5 of 5); the repro stages it.

Upstream: the close() came with the fix for celery/celery#9705 (a worker hanging on a dead
socket when it reconnects). The same AttributeError from a channel whose transport lost its
client was reported long ago for another path (celery/kombu#582); no report of this
regression was found.

The fix
-------
Close the task channel first, while the transport still has its client: a first attempt may
stop at the BRPOP drain (which clears the pending BRPOP whatever happens), the second gets past
it, marks the channel closed and restores the unacked messages (to Redis if it is back; if not,
the ConnectionError is ignored and the messages come back after the visibility timeout, or are
gone with a Redis that restarted empty: the reconciler re-plans that work). The collect() and
close() that follow find the channel closed and do nothing more with it.

Only kombu's virtual transports (Redis) keep unacked messages on the client side. On RabbitMQ
the broker requeues them itself when the connection goes, and closing a channel is a network
round trip on a dead socket, so there the stock path runs unchanged.
"""

from __future__ import annotations

from typing import Any

from celery.utils.threads import bound_open_broker_sockets
from celery.worker.consumer import consumer as celery_consumer
from kombu.transport import virtual

# One attempt may stop at the BRPOP drain; the next one reaches the restore.
_CLOSE_ATTEMPTS = 2


class Consumer(celery_consumer.Consumer):
    """Celery's consumer; on a lost Redis connection the task channel is closed (and its
    unacked messages restored) before Celery tears the connection down."""

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        self._close_task_channel()
        super().on_connection_error_after_connected(exc)

    def _close_task_channel(self) -> None:
        consumer = self.task_consumer
        channel: Any = getattr(consumer, "channel", None)
        if self.connection is None or not isinstance(channel, virtual.Channel):
            return
        # As Celery does before its own cleanup: a read from a socket that went silent
        # (no RST) must not block the event loop for ever (celery #9705).
        bound_open_broker_sockets(self.connection, celery_consumer.COLLECT_SOCKET_TIMEOUT)
        errors = self.connection.connection_errors + self.connection.channel_errors
        for _ in range(_CLOSE_ATTEMPTS):
            if channel.closed:
                return
            try:
                channel.close()
            except errors:
                continue
