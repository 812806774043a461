"""Summaries for every role, scoped to its area, with buttons to drill one level down.

The flow only decides what to show; the numbers are computed when the message is sent
(see bot/summary_renderer.py), outside the handling transaction, because a nationwide
summary reads millions of rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from handlers import area_names
from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.messages import Reply
from handlers.permissions import Action, PermissionDenied, Role, check
from handlers.steps import PAST, date_step
from handlers.summaries import plan_periods
from handlers.summary_model import SECTIONS, PlanPeriod, PlanPeriods
from handlers.turn import Answer, Invalid, Turn
from locales import format_date
from storage import areas

FORMATS = ("text", "chart", "xlsx", "csv")


def _grant_areas(turn: Turn) -> list[str]:
    return list(dict.fromkeys(g.area_code for g in turn.grants if g.role != Role.ADMIN))


async def _title(turn: Turn, code: str) -> str:
    return area_names.title(await areas.lineage(turn.conn, code), turn.language, depth=2)


async def _may_read(turn: Turn, code: str) -> bool:
    try:
        await check(turn.conn, turn.grants, Action.READ_CYCLE, code)
    except PermissionDenied:
        return False
    return True


def _show(turn: Turn, section: str, fmt: str = "text") -> None:
    turn.data["_show"] = {"section": section, "format": fmt}


async def begin(turn: Turn) -> str | None:
    codes = _grant_areas(turn)
    if not codes:
        turn.say("summary.not_allowed")
        return None
    if len(codes) == 1:
        turn.data["area"] = codes[0]
        return "period"
    return "area"


async def ask_area(turn: Turn) -> None:
    turn.ask(turn.t("summary.ask_area"),
             [(await _title(turn, code), code) for code in _grant_areas(turn)])


async def answer_area(turn: Turn, answer: Answer) -> str:
    if answer.choice not in _grant_areas(turn) or not await _may_read(turn, answer.choice):
        raise Invalid("input.use_buttons")
    turn.data["area"] = answer.choice
    return "period"


async def _plan_periods(turn: Turn, *kinds: str) -> PlanPeriods:
    """The area's plan periods as of today (only `kinds`, when given)."""
    return await plan_periods(turn.conn, turn.data["area"], local_date(turn.now),
                              kinds or ("plan", "ended", "past"))


async def _period_text(turn: Turn, found: PlanPeriod) -> str:
    """A plan period's dates; for an area larger than a village, with how many villages'
    plans it spans."""
    text = turn.t("summary.period.range", start=format_date(found.period.start, turn.language),
                  end=format_date(found.period.end, turn.language))
    area = await areas.get(turn.conn, turn.data["area"])
    if area is not None and area.level != "village":
        text = turn.t("summary.period.villages", range=text, villages=f"{found.villages:,}")
    return text


async def ask_period(turn: Turn) -> None:
    """This month, the last 3 months, the plan period in force today, the one just ended,
    an earlier one (when there is one), or dates typed; the question names the plan
    periods' dates."""
    found = await _plan_periods(turn)
    lines = [turn.t("summary.ask_period")]
    kinds = ["month", "3months", "plan"]
    if found.current is not None:
        lines.append(await _period_line(turn, "plan", found.current))
    if found.just_ended is not None:
        lines.append(await _period_line(turn, "ended", found.just_ended))
        kinds.append("ended")
    if any(_dates(p) != _dates(found.just_ended) for p in found.past):
        kinds.append("past")
    kinds.append("custom")
    turn.ask("\n".join(lines), [(turn.t(f"summary.period.{k}"), k) for k in kinds])


async def _period_line(turn: Turn, kind: str, found: PlanPeriod) -> str:
    return turn.t("summary.period.line", name=turn.t(f"summary.period.{kind}"),
                  range=await _period_text(turn, found))


def _dates(found: PlanPeriod | None) -> tuple[date, date] | None:
    return None if found is None else (found.period.start, found.period.end)


async def answer_period(turn: Turn, answer: Answer) -> str:
    today = end = local_date(turn.now)
    if answer.choice == "custom":
        turn.data["kind"] = "custom"
        return "start"
    if answer.choice == "past":
        if not (await _plan_periods(turn, "past")).past:
            raise Invalid("summary.no_past_period")
        return "past"
    if answer.choice == "month":
        start = today.replace(day=1)
    elif answer.choice == "3months":
        start = (today.replace(day=1) - timedelta(days=62)).replace(day=1)
    elif answer.choice in ("plan", "ended"):
        found = await _plan_periods(turn, answer.choice)
        period = found.current if answer.choice == "plan" else found.just_ended
        if period is None:
            raise Invalid("summary.no_plan_period" if answer.choice == "plan"
                          else "summary.no_past_period")
        start, end = period.period.start, period.period.end
    else:
        raise Invalid("input.use_buttons")
    return _chosen(turn, answer.choice, start, end)


def _chosen(turn: Turn, kind: str, start: date, end: date) -> str:
    turn.data.update(kind=kind, start=start.isoformat(), end=end.isoformat())
    _show(turn, turn.data.get("section", "overview"))
    return "view"


async def ask_past(turn: Turn) -> None:
    found = await _plan_periods(turn, "past")
    turn.ask(turn.t("summary.ask_past"),
             [(await _period_text(turn, p), f"{p.period.start}:{p.period.end}")
              for p in found.past])


async def answer_past(turn: Turn, answer: Answer) -> str:
    found = await _plan_periods(turn, "past")
    chosen = next((p.period for p in found.past
                   if answer.choice == f"{p.period.start}:{p.period.end}"), None)
    if chosen is None:
        raise Invalid("input.use_buttons")
    return _chosen(turn, "past", chosen.start, chosen.end)


def _render_spec(turn: Turn, shown: dict[str, Any]) -> dict[str, Any]:
    return {"area": turn.data["area"], "start": turn.data["start"], "end": turn.data["end"],
            "kind": turn.data.get("kind", "custom"), "section": shown["section"],
            "format": shown["format"], "language": turn.language}


async def _children(turn: Turn) -> list[areas.Area]:
    return [a for a in await areas.children(turn.conn, turn.data["area"])
            if a.level in ("network", "province", "district", "tambon", "village")]


async def _parent(turn: Turn) -> str | None:
    area = await areas.get(turn.conn, turn.data["area"])
    if area is None or area.parent_code is None:
        return None
    return area.parent_code if await _may_read(turn, area.parent_code) else None


async def ask_view(turn: Turn) -> None:
    shown = turn.data.pop("_show", None)
    if shown:
        turn.say_reply(Reply(turn.t("summary.rendering"),
                             extra={"render": _render_spec(turn, shown)}))
    section = turn.data.get("section", "overview")
    chart_section = section if section in SECTIONS else "impact"
    choices = [(turn.t(f"summary.section.{s}"), f"section:{s}") for s in SECTIONS]
    choices.append((turn.t("summary.chart", section=turn.t(f"summary.section.{chart_section}")),
                    "chart"))
    choices += [(turn.t("summary.xlsx"), "xlsx"), (turn.t("summary.csv"), "csv")]
    if await _children(turn):
        choices.append((turn.t("summary.children"), "children"))
    if await _parent(turn):
        choices.append((turn.t("summary.parent"), "parent"))
    choices += [(turn.t("summary.change_period"), "period"), (turn.t("common.done"), "done")]
    turn.ask(turn.t("summary.ask_view"), choices)


async def answer_view(turn: Turn, answer: Answer) -> str:
    choice = answer.choice or ""
    section = turn.data.get("section", "overview")
    if choice.startswith("section:") and choice.removeprefix("section:") in SECTIONS:
        turn.data["section"] = choice.removeprefix("section:")
        _show(turn, turn.data["section"])
    elif choice == "chart":
        _show(turn, section if section in SECTIONS else "impact", "chart")
    elif choice in ("xlsx", "csv"):
        _show(turn, section, choice)
    elif choice == "children" and await _children(turn):
        return "child"
    elif choice == "parent" and (parent := await _parent(turn)):
        turn.data["area"] = parent
        _show(turn, "overview")
    elif choice == "period":
        return "period"
    elif choice == "done":
        return END
    else:
        raise Invalid("input.use_buttons")
    return "view"


async def ask_child(turn: Turn) -> None:
    turn.ask(turn.t("summary.ask_child"),
             [(area_names.title([a], turn.language, depth=1), a.code)
              for a in await _children(turn)])


async def answer_child(turn: Turn, answer: Answer) -> str:
    codes = {a.code for a in await _children(turn)}
    if answer.choice not in codes or not await _may_read(turn, answer.choice):
        raise Invalid("input.use_buttons")
    turn.data["area"] = answer.choice
    _show(turn, "overview")
    return "view"


async def _after_custom_period(turn: Turn) -> None:
    _show(turn, turn.data.get("section", "overview"))


def _end_step() -> Step:
    step = date_step("end", "summary.ask_end", "view", not_before="start")

    async def answer(turn: Turn, given: Answer) -> str:
        target = await step.answer(turn, given)
        await _after_custom_period(turn)
        return target

    return Step(step.ask, answer, step.help_key)


FLOW = Flow(
    name="summary",
    title_key="summary.title",
    menu=MenuEntry(frozenset(Role) - {Role.ADMIN}, "summary.menu", 80,
                   first={Role.CORE_TEAM: 2, Role.TAO: 2, Role.DISTRICT: 2, Role.VIEWER: 1},
                   then=("summary",)),
    begin=begin,
    steps={
        "area": Step(ask_area, answer_area),
        "period": Step(ask_period, answer_period),
        "past": Step(ask_past, answer_past),
        "start": date_step("start", "summary.ask_start", "end", when=PAST),
        "end": _end_step(),
        "view": Step(ask_view, answer_view),
        "child": Step(ask_child, answer_child),
    },
)
