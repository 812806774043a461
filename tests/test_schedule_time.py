"""Schedules in Bangkok time, and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time

from handlers.clock import BANGKOK
from handlers.schedule_time import QuietHours, When, next_occurrence


def bkk(*args: int) -> datetime:
    return datetime(*args, tzinfo=BANGKOK)  # type: ignore[misc]


def test_daily_weekly_monthly() -> None:
    assert next_occurrence(When(7, 30), bkk(2025, 1, 10, 6, 0)) == bkk(2025, 1, 10, 7, 30)
    assert next_occurrence(When(7, 30), bkk(2025, 1, 10, 7, 30)) == bkk(2025, 1, 11, 7, 30)
    # 10 Jan 2025 is a Friday: the next Monday 09:00 is the 13th.
    assert next_occurrence(When(9, weekday=0), bkk(2025, 1, 10, 12, 0)) == bkk(2025, 1, 13, 9, 0)
    assert next_occurrence(When(9, day_of_month=1), bkk(2025, 1, 10)) == bkk(2025, 2, 1, 9, 0)
    assert next_occurrence(When(9), bkk(2025, 1, 10)).tzinfo == UTC


def test_quiet_hours_overnight() -> None:
    quiet = QuietHours(time(20, 0), time(7, 0))
    assert not quiet.is_quiet(bkk(2025, 1, 10, 19, 59))
    assert quiet.is_quiet(bkk(2025, 1, 10, 22, 0))
    assert quiet.is_quiet(bkk(2025, 1, 11, 6, 59))
    assert not quiet.is_quiet(bkk(2025, 1, 11, 7, 0))
    assert quiet.next_allowed(bkk(2025, 1, 10, 22, 0)) == bkk(2025, 1, 11, 7, 0)
    assert quiet.next_allowed(bkk(2025, 1, 11, 3, 0)) == bkk(2025, 1, 11, 7, 0)
    assert quiet.next_allowed(bkk(2025, 1, 11, 9, 0)) == bkk(2025, 1, 11, 9, 0)


def test_quiet_hours_from_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CERCAP_QUIET_HOURS", "21:30-06:00")
    quiet = QuietHours.from_env()
    assert quiet.is_quiet(bkk(2025, 1, 10, 21, 45)) and not quiet.is_quiet(bkk(2025, 1, 10, 6, 0))
    monkeypatch.setenv("CERCAP_QUIET_HOURS", "off")
    assert not QuietHours.from_env().is_quiet(bkk(2025, 1, 10, 23, 0))
