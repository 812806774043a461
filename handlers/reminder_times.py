"""Per-tambon reminder times (issue 16): when a kind of reminder goes for a tambon that chose
its own days and time, how a typed time is read, and what the quiet hours allow.

A kind's row in `schedules` is its default (e.g. the weekly roll-call on Mondays at 09:00);
a tambon's own time replaces it for that tambon only (`storage.reminders.TambonTime`). Days
are weekdays (0 = Monday): several for a daily kind (e.g. Monday to Friday), one for a weekly
kind; a monthly kind keeps its day of the month and takes only a time."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from handlers.clock import BANGKOK
from handlers.schedule_time import QuietHours, When, next_occurrence
from handlers.thai_input import to_arabic_digits
from locales import t
from storage.reminders import Schedule, TambonTime

# What a core team may time for its tambon: the reminders its villages and team receive.
TAMBON_KINDS = ("weekly_progress", "overdue_items", "core_digest", "decider_digest",
                "forum_monthly", "lessons_due")
WEEKDAYS = tuple(range(7))
# HH:MM or HH.MM, optionally followed by the Thai abbreviation for o'clock (NO NU + full
# stop) or the word (NALIKA), written as escapes: no Thai literal in code.
_TIME = re.compile("(\\d{1,2})(?:\\s*[:.]\\s*(\\d{2}))?\\s*"
                   "(?:\u0e19\\.?|\u0e19\u0e32\u0e2c\u0e34\u0e01\u0e32|o'?clock)?")


def is_weekly(schedule: Schedule) -> bool:
    return schedule.weekday is not None


def is_monthly(schedule: Schedule) -> bool:
    return schedule.day_of_month is not None


def next_run(schedule: Schedule, own: TambonTime, after: datetime) -> datetime:
    """The first moment after `after` when the tambon's own time for the kind comes."""
    if own.weekdays and not is_monthly(schedule):
        return min(next_occurrence(When(own.hour, own.minute, weekday=day), after)
                   for day in own.weekdays)
    return next_occurrence(When(own.hour, own.minute, schedule.weekday,
                                schedule.day_of_month), after)


def parse_time(text: str) -> tuple[int, int] | None:
    """"17:30", "17.30", Thai digits, "8", with or without the Thai o'clock → (hour, minute);
    None when it is no time of day."""
    found = _TIME.fullmatch(to_arabic_digits(text).strip().lower())
    if found is None:
        return None
    hour, minute = int(found.group(1)), int(found.group(2) or 0)
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def clock_text(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def is_quiet(quiet: QuietHours, hour: int, minute: int) -> bool:
    return quiet.is_quiet(datetime.combine(date(2025, 1, 6), time(hour, minute), BANGKOK))


def allowed_window(quiet: QuietHours) -> tuple[str, str] | None:
    """(first, last) minute a reminder may be timed at, as "07:00", "19:59"; None: any."""
    if quiet.start == quiet.end:
        return None
    last = (datetime.combine(date(2025, 1, 6), quiet.start) - timedelta(minutes=1)).time()
    return clock_text(quiet.end.hour, quiet.end.minute), clock_text(last.hour, last.minute)


def describe(language: str, schedule: Schedule, hour: int, minute: int,
             weekdays: tuple[int, ...] | None) -> str:
    """When it goes, as people read it: on which days (or every day, or the day of the
    month) and at what time."""
    at = clock_text(hour, minute)
    if is_monthly(schedule):
        return t(language, "onboarding.times.when_monthly", day=schedule.day_of_month, time=at)
    days = weekdays or ((schedule.weekday,) if schedule.weekday is not None else None)
    if not days or len(set(days)) == 7:
        return t(language, "onboarding.times.when_daily", time=at)
    names = t(language, "onboarding.times.separator").join(
        t(language, f"onboarding.weekday.{d}") for d in sorted(set(days)))
    return t(language, "onboarding.times.when_days", days=names, time=at)
