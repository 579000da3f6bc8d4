"""Run the services: ``api``, ``worker``, ``beat`` (exactly one), ``flower``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from carbon_api.cli.common import (
    console,
    error,
    exit_code,
    info,
    mask_url,
    new_typer,
    warn,
)
from carbon_api.cli.embedded import require_external_broker
from carbon_api.cli.failures import require_database
from carbon_domain import task_names

if TYPE_CHECKING:
    from carbon_domain.settings import Settings

cli = new_typer()

API_TARGET = "carbon_api.app:app"
# celeryconfig.task_queues, from the light names module so `--help` needs no settings.
DEFAULT_QUEUES = ",".join(task_names.QUEUES)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_SCHEDULE = Path(".carbon") / "celerybeat-schedule"
# One beat in the whole deployment: the leader holds a PostgreSQL advisory lock on its own
# connection and checks that connection this often.
BEAT_LOCK_CHECK = 10.0


class Pool(StrEnum):
    prefork = "prefork"
    threads = "threads"
    solo = "solo"


def _settings() -> Settings:
    from carbon_domain.settings import get_settings
    return get_settings()


def _loglevel(value: str | None) -> str:
    level = (value or _settings().log_level).strip().upper()
    if level == "WARN":
        level = "WARNING"
    if level not in LOG_LEVELS:
        error(f"unknown log level {value!r}; use one of {', '.join(LOG_LEVELS)}")
    return level


def require_reachable_broker(what: str) -> None:
    """One clear line, before a service starts, when its broker does not answer."""
    from carbon_tasks.workers import broker_problem

    problem = broker_problem()
    if problem:
        error(f"{what} cannot start: cannot reach broker at "
              f"{mask_url(_settings().broker_url)}: {problem}")


def known_queues() -> list[str]:
    import celeryconfig
    return [q.name for q in celeryconfig.task_queues]


def parse_queues(value: str) -> list[str]:
    names = [q.strip() for q in value.split(",") if q.strip()]
    if not names:
        error("--queues is empty; give a comma-separated list, e.g. ingest,default")
    known = known_queues()
    unknown = [q for q in names if q not in known]
    if unknown:
        error(f"unknown queue {unknown[0]!r}; known queues: {', '.join(known)}")
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------------ servers

@cli.command()
def api(
    host: Annotated[str | None, typer.Option(
        help="Bind address (default: CARBON_API_HOST, else 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port (default: CARBON_API_PORT, else 8000).")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (uvicorn, `carbon_api.app:app`)."""
    import uvicorn

    s = _settings()
    if reload and workers > 1:
        error("--reload cannot be combined with --workers > 1")
    require_database("`carbon api`")
    uvicorn.run(
        API_TARGET, host=host or s.api_host, port=port or s.api_port, reload=reload,
        workers=workers, log_level=_loglevel(None).lower(),
        # The app writes one JSON line per request (with its request id); uvicorn's own
        # access line would duplicate it.
        access_log=False,
    )


@cli.command()
def worker(
    queues: Annotated[str, typer.Option(
        "--queues", "-Q", help="Comma-separated queues to consume "
        f"({DEFAULT_QUEUES.replace(',', ', ')}).")] = DEFAULT_QUEUES,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", min=1, envvar="CARBON_WORKER_CONCURRENCY",
        help="Processes or threads (default: number of CPUs).")] = None,
    pool: Annotated[Pool, typer.Option("--pool", "-P", help="Execution pool.")] = Pool.prefork,
    loglevel: Annotated[str | None, typer.Option(
        "--loglevel", "-l", help="DEBUG, INFO, WARNING or ERROR (default: CARBON_LOG_LEVEL).")
    ] = None,
    hostname: Annotated[str | None, typer.Option(
        "--hostname", "-n", help="Node name shown in Flower, e.g. ingest@%h "
        "(default: celery@HOST).")] = None,
) -> None:
    """Run a Celery worker (task events on, so Flower sees its tasks)."""
    require_external_broker("`carbon worker`")
    names = parse_queues(queues)
    level = _loglevel(loglevel)
    require_database("`carbon worker`")
    from carbon_tasks import app as celery_app

    argv = ["worker", f"--queues={','.join(names)}", f"--pool={pool.value}",
            f"--loglevel={level}", "--task-events"]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    exit_code(celery_app.start(argv))


@contextmanager
def beat_leadership(database_url: str, wait: float) -> Iterator[None]:
    """Hold the deployment-wide beat lock for as long as this beat runs: a PostgreSQL
    advisory lock (``carbon_domain.db.leader``), so it works with either broker.

    A second beat waits up to ``wait`` seconds (a crashed leader's session, and with it the
    lock, ends when its connection closes) and then gives up with a clear error. If the lock is
    lost (PostgreSQL restarted and another beat took it), this beat stops itself with SIGTERM.
    """
    if database_url.startswith("sqlite"):
        warn("cannot enforce a single beat on an SQLite database; run exactly one `carbon beat`")
        yield
        return
    import logging
    import signal
    import socket
    import threading

    from carbon_domain.db.leader import LeaderLock

    log = logging.getLogger(__name__)
    me = f"carbon-beat {socket.gethostname()}:{os.getpid()}"
    lock = LeaderLock(database_url, me)
    deadline = time.monotonic() + wait
    announced = False
    while not lock.try_acquire():
        holder = lock.holder() or "unknown"
        if time.monotonic() >= deadline:
            lock.release()
            error(f"another `carbon beat` is running ({holder}); run exactly one beat per "
                  "deployment (a beat that died releases the lock when its database "
                  "connection ends)")
        if not announced:
            info(f"beat lock held by {holder}; waiting up to {wait:g}s for it to be released")
            announced = True
        time.sleep(0.5)
    stop = threading.Event()

    def keep_leadership() -> None:
        while not stop.wait(BEAT_LOCK_CHECK):
            if lock.still_held():
                continue
            try:
                if lock.try_acquire():
                    log.warning("beat lock was lost (database restart?) and re-acquired")
                    continue
            except Exception as exc:  # noqa: BLE001 - database down: no one else can take it
                log.warning("cannot re-take the beat lock (%s); retrying", exc)
                continue
            log.critical("beat lock taken by another beat (%s); stopping this one",
                         lock.holder())
            os.kill(os.getpid(), signal.SIGTERM)
            return

    refresher = threading.Thread(target=keep_leadership, name="beat-leader-lock", daemon=True)
    refresher.start()
    try:
        yield
    finally:
        stop.set()
        lock.release()


@cli.command()
def beat(
    loglevel: Annotated[str | None, typer.Option(
        "--loglevel", "-l", help="DEBUG, INFO, WARNING or ERROR (default: CARBON_LOG_LEVEL).")
    ] = None,
    schedule: Annotated[Path, typer.Option(
        "--schedule", "-s", dir_okay=False, help="Beat schedule state file.")
    ] = DEFAULT_SCHEDULE,
    lock_wait: Annotated[float, typer.Option(
        min=0, help="Seconds to wait for another beat's lock before giving up.")
    ] = 40.0,
) -> None:
    """Run Celery beat (the periodic reconciler); exactly one per deployment.

    A PostgreSQL advisory lock makes a second beat wait for --lock-wait seconds, then fail.
    """
    s = _settings()
    require_external_broker("`carbon beat`")
    level = _loglevel(loglevel)
    require_reachable_broker("`carbon beat`")
    # The lock lives in the database; every task beat schedules needs it too.
    require_database("`carbon beat`")
    with beat_leadership(s.database_url, lock_wait):
        schedule.parent.mkdir(parents=True, exist_ok=True)
        from carbon_tasks import app as celery_app
        exit_code(celery_app.start(["beat", f"--loglevel={level}", f"--schedule={schedule}"]))


@cli.command()
def flower(
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port (default: CARBON_FLOWER_PORT, else 5555).")] = None,
    address: Annotated[str | None, typer.Option(
        help="Bind address (default: CARBON_FLOWER_ADDRESS, else 127.0.0.1).")] = None,
    max_tasks: Annotated[int, typer.Option(
        min=100, help="Tasks Flower keeps in memory.")] = 10_000,
) -> None:
    """Run Flower (monitoring UI) on the configured broker, behind basic auth.

    User CARBON_FLOWER_USER, password CARBON_FLOWER_PASSWORD (required in production; in
    development a random one is generated and printed once). /healthcheck and /metrics
    stay unauthenticated, as in Flower itself: keep Flower on loopback or behind a proxy.
    """
    s = _settings()
    require_external_broker("Flower")
    user = s.flower_user
    password = s.flower_password.get_secret_value() if s.flower_password is not None else ""
    if not user or ":" in user or "," in user:
        error("CARBON_FLOWER_USER must be non-empty and contain no ':' or ','")
    if not password:
        if s.environment == "production":
            error("CARBON_FLOWER_PASSWORD must be set in production")
        import secrets

        password = secrets.token_urlsafe(18)
        console.print(f"Flower login: user [bold]{escape(user)}[/] password "
                      f"[bold]{password}[/] (generated for this run; set "
                      "CARBON_FLOWER_PASSWORD to choose one)", soft_wrap=True)
        console.file.flush()
    if "," in password:
        error("CARBON_FLOWER_PASSWORD must not contain ',' (Flower splits credentials on it)")
    # Through Flower's environment options rather than argv: argv is visible to every local
    # user in `ps`.
    os.environ["FLOWER_BASIC_AUTH"] = f"{user}:{password}"
    argv = ["flower", f"--port={port or s.flower_port}",
            f"--address={address or s.flower_address}", "--enable_events=True",
            f"--max_tasks={max_tasks}"]
    from carbon_tasks import app as celery_app
    exit_code(celery_app.start(argv))
