"""The "no progress for …" line of a running pipeline follows CARBON_NO_PROGRESS_SECONDS (it
was a constant of 2 min that a deployment could not move), and a pipeline queued on the
broker that long says so too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carbon_domain.db.enums import JobState, JobType, PipelineStatus
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services.reads.pipeline_facts import quiet, silence
from carbon_domain.settings import Settings, get_settings

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def _silence_after(seconds: float) -> str | None:
    last = NOW - timedelta(seconds=seconds)
    s = quiet([last], [last], NOW)
    return None if s is None else s.text


def test_the_default_is_two_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "no_progress_seconds", 120.0)
    assert _silence_after(119) is None
    text = _silence_after(121)
    assert text is not None and text.startswith("no progress for 2 min (since 11:57:59 UTC)")


def test_the_threshold_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "no_progress_seconds", 600.0)
    assert _silence_after(121) is None  # 2 min is quiet enough no more
    assert _silence_after(599) is None
    text = _silence_after(601)
    assert text is not None and text.startswith("no progress for 10 min")


def test_the_variable_sets_it_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_NO_PROGRESS_SECONDS", "45")
    assert Settings().no_progress_seconds == 45.0
    monkeypatch.setenv("CARBON_NO_PROGRESS_SECONDS", "0")
    with pytest.raises(ValueError, match="CARBON_NO_PROGRESS_SECONDS"):
        Settings()


def _job(state: str, dispatched_s_ago: float | None, started: bool = False) -> Job:
    return Job(job_type=JobType.emission_recalc, state=state, target_type="x",
               ingestion_method="csv",
               dispatched_at=None if dispatched_s_ago is None
               else NOW - timedelta(seconds=dispatched_s_ago),
               started_at=NOW if started else None)


def test_a_pipeline_queued_on_the_broker_too_long_says_so(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """It said "Queued — waiting for a worker" for the 30 minutes before the reconciler sends
    the job again, even when a worker had taken the message and failed before running it."""
    monkeypatch.setattr(get_settings(), "no_progress_seconds", 120.0)
    monkeypatch.setattr(get_settings(), "stale_job_seconds", 1800)
    running = PipelineStatus.RUNNING
    assert silence(running, [_job(JobState.QUEUED, 119)], NOW) is None
    s = silence(running, [_job(JobState.QUEUED, 300), _job(JobState.QUEUED, 200)], NOW)
    assert s is not None and s.text == (
        "queued for 5 min (since 11:55:00 UTC) and no worker started it: it waits behind other"
        " work, or its message was lost; if nothing moves, the reconciler sends it again at"
        " 12:25 UTC, or abort it and recalculate what it left")
    late = silence(running, [_job(JobState.QUEUED, 1900)], NOW)
    assert late is not None and "was due to send it again at 11:58 UTC" in late.text
    # Not queued on the broker: still in the outbox (its own words), or started.
    assert silence(running, [_job(JobState.NOT_STARTED, None)], NOW) is None
    assert silence(running, [_job(JobState.QUEUED, 300, started=True)], NOW) is None
    assert silence(PipelineStatus.SUCCESS, [_job(JobState.QUEUED, 300)], NOW) is None
