"""A result-backend connection that died on the server's side while the worker did not look
is reconnected, not a failed task.

A worker host cut off the network for 40 s came back with every pool process holding a
Redis result-backend connection whose other end was gone (the forwarder, or Redis, had
dropped it); each process's next write to the backend — storing its next task's state —
got a reset ("Broken pipe", ``ConnectionError``) and that task failed before it ran: two
pipelines stayed "Queued — waiting for a worker" and five RUNNING until aborted
(docs/multihost.md). Celery retries such writes only when ``result_backend_always_retry``
is on (celeryconfig.py). Here the half-open connection is made on purpose: a forwarder
between the backend and Redis that, once told, resets the next connection that sends it
anything — what the returning host's packets met — and the backend of the real Celery
configuration stores a result through it."""

from __future__ import annotations

import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.conftest import BACKEND_URL

pytestmark = pytest.mark.integration


class _Forwarder:
    """127.0.0.1:port → the Redis of ``BACKEND_URL``; ``break_all()`` makes every open
    connection half-open: the next bytes a client sends are answered by a reset."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.broken = threading.Event()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.pairs.append((client, upstream))
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        generation = self.broken.is_set()
        try:
            while data := client.recv(65536):
                if self.broken.is_set() and not generation:
                    # The peer forgot this connection: its answer to new bytes is a reset.
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
                    client.close()
                    upstream.close()
                    return
                upstream.sendall(data)
        except OSError:
            pass

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        generation = self.broken.is_set()
        try:
            while data := upstream.recv(65536):
                if self.broken.is_set() and not generation:
                    return
                client.sendall(data)
        except OSError:
            pass

    def break_all(self) -> None:
        """Connections open now stay open on the client's side, silent, until it writes."""
        self.broken.set()

    def close(self) -> None:
        self.listener.close()
        for a, b in self.pairs:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass


@pytest.fixture
def forwarder(services: None) -> Iterator[_Forwarder]:
    host, _, rest = BACKEND_URL.removeprefix("redis://").partition(":")
    f = _Forwarder((host, int(rest.split("/")[0])))
    try:
        yield f
    finally:
        f.close()


def _app(monkeypatch: pytest.MonkeyPatch, backend_url: str, **overrides: Any) -> Celery:
    # Celery takes CELERY_RESULT_BACKEND from the environment before its configuration.
    monkeypatch.setenv("CELERY_RESULT_BACKEND", backend_url)
    app = Celery("backend-retry")
    app.config_from_object("celeryconfig", force=True)  # now: a lazy load would undo the update
    app.conf.update(**overrides)
    assert app.conf.result_backend == backend_url
    return app


def _store_across_a_half_open_connection(app: Celery, forwarder: _Forwarder) -> Any:
    backend = app.backend
    first = str(uuid.uuid4())
    backend.store_result(first, {"n": 1}, "SUCCESS")  # the pool process's connection, open
    assert backend.get_task_meta(first)["result"] == {"n": 1}
    assert forwarder.pairs, "the backend did not connect through the forwarder"
    forwarder.break_all()  # the host is away; its connection dies on the far side
    second = str(uuid.uuid4())
    backend.store_result(second, {"n": 2}, "SUCCESS")  # the next task's write
    return backend.get_task_meta(second)


def test_the_configured_backend_reconnects_after_a_reset(forwarder: _Forwarder,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    db = BACKEND_URL.rsplit("/", 1)[1]
    app = _app(monkeypatch, f"redis://127.0.0.1:{forwarder.port}/{db}")
    assert app.conf.result_backend_always_retry is True
    meta = _store_across_a_half_open_connection(app, forwarder)
    assert (meta["status"], meta["result"]) == ("SUCCESS", {"n": 2})


def test_without_the_retry_the_write_fails(forwarder: _Forwarder,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The same without ``result_backend_always_retry``: what a pool process met before (so
    the forwarder does reproduce it)."""
    db = BACKEND_URL.rsplit("/", 1)[1]
    app = _app(monkeypatch, f"redis://127.0.0.1:{forwarder.port}/{db}",
               result_backend_always_retry=False)
    with pytest.raises((RedisConnectionError, OSError)):
        _store_across_a_half_open_connection(app, forwarder)
