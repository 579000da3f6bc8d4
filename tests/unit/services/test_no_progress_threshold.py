"""The "no progress for …" line of a running pipeline follows CARBON_NO_PROGRESS_SECONDS (it
was a constant of 2 min that a deployment could not move)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carbon_domain.services.reads.pipeline_facts import quiet
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
