"""A tambon core team gives its tambon's reminders their own days and time (issue 16): which
reminder, which days (one for the weekly roll-call, several for the daily ones, none to pick
for the monthly forum reminder), then the time, typed (Thai digits welcome) and outside the
quiet hours (CERCAP_QUIET_HOURS), or back to the default. The scheduler then plans that kind
for the tambon at its own time (bot/scheduler.py); every other tambon keeps the default."""

from __future__ import annotations

from handlers import area_names, reminder_times
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Role, areas_with_role
from handlers.reminder_times import TAMBON_KINDS, clock_text, describe
from handlers.schedule_time import QuietHours
from handlers.steps import multi_select_step
from handlers.turn import Answer, Invalid, Turn
from storage import areas, audit
from storage import reminders as reminders_repo
from storage.reminders import Schedule, TambonTime


def _quiet(turn: Turn) -> QuietHours:
    return turn.quiet_hours or QuietHours.from_env()


async def _schedules(turn: Turn) -> dict[str, Schedule]:
    return {s.kind: s for s in await reminders_repo.schedules(turn.conn)}


async def _own(turn: Turn) -> dict[str, TambonTime]:
    return {o.kind: o for o in await reminders_repo.tambon_times(turn.conn,
                                                                 turn.data["tambons"][0])}


def _kind_name(turn: Turn, kind: str) -> str:
    return turn.t(f"reminders.kind.{kind}")


async def _tambon_name(turn: Turn) -> str:
    lineage = await areas.lineage(turn.conn, turn.data["tambons"][0])
    return area_names.title(lineage, turn.language, depth=1)


async def begin(turn: Turn) -> str | None:
    tambons = areas_with_role(turn.grants, Role.CORE_TEAM)
    if not tambons or turn.person is None:
        turn.say("onboarding.times.not_allowed")
        return None
    turn.data["tambons"] = tambons
    return "kind"


async def ask_kind(turn: Turn) -> None:
    schedules, own = await _schedules(turn), await _own(turn)
    lines = []
    for kind in TAMBON_KINDS:
        schedule, mine = schedules[kind], own.get(kind)
        when = (describe(turn.language, schedule, mine.hour, mine.minute, mine.weekdays)
                if mine else describe(turn.language, schedule, schedule.hour,
                                      schedule.minute, None))
        lines.append(turn.t("onboarding.times.line_own" if mine else "onboarding.times.line",
                            kind=_kind_name(turn, kind), when=when))
    turn.ask(turn.t("onboarding.times.ask_kind", tambon=await _tambon_name(turn),
                    current="\n".join(lines)),
             [(_kind_name(turn, kind), kind) for kind in TAMBON_KINDS])


async def answer_kind(turn: Turn, answer: Answer) -> str:
    if answer.choice not in TAMBON_KINDS:
        raise Invalid("input.use_buttons")
    kind = answer.choice
    turn.data["kind"] = kind
    schedule, mine = (await _schedules(turn))[kind], (await _own(turn)).get(kind)
    if reminder_times.is_monthly(schedule):
        turn.data["weekdays"] = []
        return "time"
    if reminder_times.is_weekly(schedule):
        return "weekday"
    current = mine.weekdays if mine and mine.weekdays else reminder_times.WEEKDAYS
    turn.data["weekdays"] = [str(d) for d in current]
    return "days"


def _weekday_buttons(turn: Turn) -> list[tuple[str, str]]:
    return [(turn.t(f"onboarding.weekday.{d}"), str(d)) for d in reminder_times.WEEKDAYS]


async def ask_weekday(turn: Turn) -> None:
    turn.ask(turn.t("onboarding.times.ask_weekday", kind=_kind_name(turn, turn.data["kind"])),
             _weekday_buttons(turn))


async def answer_weekday(turn: Turn, answer: Answer) -> str:
    if answer.choice not in {value for _, value in _weekday_buttons(turn)}:
        raise Invalid("input.use_buttons")
    turn.data["weekdays"] = [answer.choice]
    return "time"


async def _day_options(turn: Turn) -> list[tuple[str, str]]:
    return _weekday_buttons(turn)


_days = multi_select_step(
    "weekdays", lambda turn: turn.t("onboarding.times.ask_days",
                                    kind=_kind_name(turn, turn.data["kind"])),
    _day_options, "time", allow_none=False)


async def ask_time(turn: Turn) -> None:
    kind = turn.data["kind"]
    schedule = (await _schedules(turn))[kind]
    window = reminder_times.allowed_window(_quiet(turn))
    text = (turn.t("onboarding.times.ask_time", kind=_kind_name(turn, kind),
                   allowed_start=window[0], allowed_end=window[1]) if window
            else turn.t("onboarding.times.ask_time_any", kind=_kind_name(turn, kind)))
    default = describe(turn.language, schedule, schedule.hour, schedule.minute, None)
    turn.ask(text, [(turn.t("onboarding.times.default", when=default), "default")], nav=True)


async def answer_time(turn: Turn, answer: Answer) -> str:
    assert turn.person is not None
    kind = turn.data["kind"]
    schedule = (await _schedules(turn))[kind]
    tambon_name = await _tambon_name(turn)
    if answer.choice == "default":
        for tambon in turn.data["tambons"]:
            await reminders_repo.clear_tambon_time(turn.conn, tambon, kind)
            await _audit(turn, tambon, kind, None)
        turn.say("onboarding.times.reset", kind=_kind_name(turn, kind), tambon=tambon_name,
                 when=describe(turn.language, schedule, schedule.hour, schedule.minute, None))
        return END
    parsed = reminder_times.parse_time(answer.text or "")
    if parsed is None:
        raise Invalid("onboarding.times.bad_time")
    hour, minute = parsed
    quiet = _quiet(turn)
    window = reminder_times.allowed_window(quiet)
    if window and reminder_times.is_quiet(quiet, hour, minute):
        raise Invalid("onboarding.times.quiet", time=clock_text(hour, minute),
                      start=clock_text(quiet.start.hour, quiet.start.minute),
                      end=clock_text(quiet.end.hour, quiet.end.minute),
                      allowed_start=window[0], allowed_end=window[1])
    days = tuple(sorted({int(d) for d in turn.data.get("weekdays", [])})) or None
    if days is not None and len(days) == 7:
        days = None  # every day: the kind's own days
    for tambon in turn.data["tambons"]:
        own = TambonTime(tambon, kind, hour, minute, days, None)
        await reminders_repo.set_tambon_time(
            turn.conn, tambon, kind, hour=hour, minute=minute, weekdays=days,
            next_run_at=reminder_times.next_run(schedule, own, turn.now),
            person_id=turn.person.id, now=turn.now)
        await _audit(turn, tambon, kind, {"time": clock_text(hour, minute),
                                          "weekdays": list(days or ())})
    turn.say("onboarding.times.saved", kind=_kind_name(turn, kind), tambon=tambon_name,
             when=describe(turn.language, schedule, hour, minute, days))
    return END


async def _audit(turn: Turn, tambon: str, kind: str, detail: dict[str, object] | None) -> None:
    assert turn.person is not None
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="reminders.tambon_time", entity="area", entity_id=tambon,
                       to_state=kind, detail=detail or {"default": True})


FLOW = Flow(
    name="tambon_reminder_times",
    title_key="onboarding.times.title",
    menu=MenuEntry(frozenset({Role.CORE_TEAM}), "onboarding.times.menu", 94),
    begin=begin,
    steps={"kind": Step(ask_kind, answer_kind), "weekday": Step(ask_weekday, answer_weekday),
           "days": _days, "time": Step(ask_time, answer_time)},
)
