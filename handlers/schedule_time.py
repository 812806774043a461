"""When schedules fire and when bulk messages may leave: Asia/Bangkok wall-clock rules."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from handlers.clock import BANGKOK


@dataclass(frozen=True)
class When:
    """A wall-clock time in Bangkok: daily, weekly (weekday 0 = Monday) or monthly."""

    hour: int
    minute: int = 0
    weekday: int | None = None
    day_of_month: int | None = None


def next_occurrence(when: When, after: datetime) -> datetime:
    """The first moment strictly after `after` that matches `when` (in UTC)."""
    local = after.astimezone(BANGKOK)
    day = local.date()
    for _ in range(400):
        candidate = datetime.combine(day, time(when.hour, when.minute), BANGKOK)
        if candidate > local and _matches(when, day):
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError(f"no occurrence of {when} within a year")


def _matches(when: When, day: date) -> bool:
    if when.weekday is not None and day.weekday() != when.weekday:
        return False
    return when.day_of_month is None or day.day == when.day_of_month


@dataclass(frozen=True)
class QuietHours:
    """Bulk messages (reminders, digests, announcements) wait out the night."""

    start: time = time(20, 0)
    end: time = time(7, 0)

    @classmethod
    def from_env(cls) -> QuietHours:
        """`CERCAP_QUIET_HOURS` as "20:00-07:00"; "off" for none."""
        spec = os.environ.get("CERCAP_QUIET_HOURS", "20:00-07:00").strip()
        if spec.lower() in ("off", "none", ""):
            return cls(time(0, 0), time(0, 0))
        start, _, end = spec.partition("-")
        return cls(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))

    def is_quiet(self, moment: datetime) -> bool:
        now = moment.astimezone(BANGKOK).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def next_allowed(self, moment: datetime) -> datetime:
        """`moment` itself outside quiet hours, else the end of this night's quiet hours."""
        if not self.is_quiet(moment):
            return moment
        local = moment.astimezone(BANGKOK)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, BANGKOK).astimezone(UTC)
