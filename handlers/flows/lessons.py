"""Lessons learned for the village's open plan (village committee): what worked, what did
not, what to do next; then, if the village says so, the period is closed and the next
plan opened the day after, carrying unfinished items over. The core team and the TAO are
told on save.

Lessons the core team returned are corrected from the comment's button
(handlers/corrections.py): the confirmation screen with the stored texts, each editable,
saved onto the same lessons as their next version (the period's closing is not redone)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from handlers import area_names, corrections
from handlers.flow import END, Flow, MenuEntry, Step, proceed
from handlers.opening import open_action
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role, check
from handlers.steps import (
    ask_committee_village,
    choice_step,
    chosen_committee_village,
    confirm_step,
    date_step,
    text_step,
)
from handlers.turn import Answer, DateText, Delivery, Invalid, Localized, Turn
from locales import format_date
from storage import areas, audit, lessons, plans
from storage.plans import Plan, PlanItem

TEXT_MAX = 1000
LONGEST_PERIOD = timedelta(days=5 * 366)  # a longer one is almost surely a typo
CARRY, CLOSE, KEEP = "carry", "close", "keep"
CLOSING = (CARRY, CLOSE)


async def begin(turn: Turn) -> str | None:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    if not villages:
        turn.say("lessons.not_allowed")
        return None
    if len(villages) == 1:
        return await _start_for(turn, villages[0])
    return "village"


async def _start_for(turn: Turn, village: str) -> str | None:
    """Fix the village and its open plan, and show where the plan stands."""
    try:
        await check(turn.conn, turn.grants, Action.RECORD_LESSONS, village)
    except PermissionDenied:
        turn.say("lessons.not_allowed")
        return None
    plan = await plans.open_plan(turn.conn, village)
    if plan is None:
        turn.say("lessons.no_open_plan")
        return None
    turn.data.update(village=village, plan_id=plan.id, plan_start=plan.period_start.isoformat(),
                     plan_end=plan.period_end.isoformat())
    items = await plans.items_of_plan(turn.conn, plan.id)
    turn.say("lessons.intro", start=_be(turn, plan.period_start), end=_be(turn, plan.period_end),
             total=len(items), done=sum(i.status == "done" for i in items),
             open=sum(i.is_open() for i in items))
    return "worked"


def _be(turn: Turn, day: date) -> str:
    return format_date(day, turn.language)


# --- village (only for people on more than one village committee) -------------------------

async def ask_village(turn: Turn) -> None:
    await ask_committee_village(turn, "lessons.ask_village")


async def answer_village(turn: Turn, answer: Answer) -> str:
    village = await chosen_committee_village(turn, answer, Action.RECORD_LESSONS)
    if village == turn.data.get("village"):
        return proceed(turn, "worked")
    turn.data.pop("_return_to", None)  # another village: another plan, from the start
    return await _start_for(turn, village) or END


# --- the plan and its items --------------------------------------------------------------------

async def _plan(turn: Turn) -> Plan | None:
    """The plan the lessons are for, while it is still the village's open one."""
    village = turn.data["village"]
    try:
        await check(turn.conn, turn.grants, Action.READ_CYCLE, village)
    except PermissionDenied:
        return None
    plan = await plans.open_plan(turn.conn, village)
    if plan is None or plan.id != turn.data.get("plan_id"):
        return None
    # The next period starts the day after this one ends, as the person was shown.
    return plan if plan.period_end.isoformat() == turn.data.get("plan_end") else None


async def _unfinished(turn: Turn) -> list[PlanItem]:
    plan = await _plan(turn)
    if plan is None:
        return []
    return [i for i in await plans.items_of_plan(turn.conn, plan.id) if i.is_open()]


def _next_start(turn: Turn) -> date:
    return date.fromisoformat(turn.data["plan_end"]) + timedelta(days=1)


# --- closing the period -----------------------------------------------------------------------

async def _close_choices(turn: Turn) -> list[tuple[str, str]]:
    choices = [(turn.t("lessons.close.carry"), CARRY)] if await _unfinished(turn) else []
    return [*choices, (turn.t("lessons.close.close"), CLOSE), (turn.t("lessons.close.keep"), KEEP)]


def _close_question(turn: Turn) -> str:
    return turn.t("lessons.ask_close", start=_be(turn, _next_start(turn)))


async def ask_close(turn: Turn) -> None:
    """The question, with one line explaining each button offered."""
    choices = await _close_choices(turn)
    unfinished = len(await _unfinished(turn))
    hints = [turn.t(f"lessons.close_hint.{value}", count=unfinished) for _, value in choices]
    turn.ask("\n".join([_close_question(turn), *hints]), choices)


def _after_close(turn: Turn) -> str:
    if turn.data.get("close") not in CLOSING:
        turn.data.pop("next_end", None)
        return "confirm"
    if not turn.data.get("next_end"):
        turn.data.pop("_return_to", None)  # from the confirmation screen: the date first
        return "next_end"
    return "confirm"


def _next_end_question(turn: Turn) -> str:
    return turn.t("lessons.ask_next_end", start=_be(turn, _next_start(turn)))


def _check_next_end(turn: Turn, day: date) -> None:
    start = _next_start(turn)
    if day < start:
        raise Invalid("lessons.next_end_too_early", start=_be(turn, start))
    if day > start + LONGEST_PERIOD:
        raise Invalid("lessons.next_end_too_late")


# --- confirmation and save ---------------------------------------------------------------------

EDITABLE = {"worked": "lessons.edit.worked", "did_not_work": "lessons.edit.did_not_work",
            "next_steps": "lessons.edit.next_steps", "close": "lessons.edit.close"}
EDITABLE_CLOSING = {**EDITABLE, "next_end": "lessons.edit.next_end"}
EDITABLE_CORRECTING = {key: EDITABLE[key] for key in ("worked", "did_not_work", "next_steps")}


async def _outcome_text(turn: Turn) -> str:
    d = turn.data
    if corrections.correcting(turn, "lesson") is not None:
        return turn.t("lessons.plan.unchanged")
    if d.get("close") not in CLOSING:
        return turn.t("lessons.plan.keep")
    start, end = _be(turn, _next_start(turn)), _be(turn, date.fromisoformat(d["next_end"]))
    if d["close"] == CARRY:
        return turn.t("lessons.plan.carry", start=start, end=end,
                      carried=len(await _unfinished(turn)))
    return turn.t("lessons.plan.close", start=start, end=end)


async def _summary(turn: Turn) -> str:
    d = turn.data
    lineage = await areas.lineage(turn.conn, d["village"])
    return await corrections.heading(turn) + turn.t(
        "lessons.summary",
        village=area_names.title(lineage, turn.language, depth=2),
        start=_be(turn, date.fromisoformat(d["plan_start"])),
        end=_be(turn, date.fromisoformat(d["plan_end"])),
        worked=d["worked"], did_not_work=d["did_not_work"], next_steps=d["next_steps"],
        outcome=await _outcome_text(turn),
    )


async def _carry_over(turn: Turn, items: list[PlanItem], old: Plan, new_plan_id: int) -> int:
    assert turn.person is not None
    for item in items:
        new_id = await plans.add_item(
            turn.conn, plan_id=new_plan_id, village_code=item.village_code, title=item.title,
            approach=item.approach, partner=item.partner, budget_needed=item.budget_needed,
            own_money=item.own_money, own_labour=item.own_labour, start_on=item.start_on,
            end_on=item.end_on, responsible=item.responsible,
            problem_ids=list(item.problem_ids), person_id=turn.person.id, now=turn.now,
            carried_from=item.id, status=item.status, percent=item.percent,
            stalled_reason=item.stalled_reason)
        await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                           action="plan_item.carry_over", entity="plan_item", entity_id=new_id,
                           to_state=item.status,
                           detail={"from_item": item.id, "from_plan": old.id,
                                   "to_plan": new_plan_id})
    return len(items)


async def _close_and_open(turn: Turn, old: Plan, lesson_id: int) -> tuple[int, int]:
    """Close the old period, open the next one the day after; returns (new plan id,
    items carried over)."""
    d = turn.data
    assert turn.person is not None
    unfinished = await _unfinished(turn) if d["close"] == CARRY else []
    await plans.close_plan(turn.conn, old.id, turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id, action="plan.close",
                       entity="plan", entity_id=old.id, from_state="open", to_state="closed",
                       reason="lessons", detail={"lesson_id": lesson_id})
    start, end = old.period_end + timedelta(days=1), date.fromisoformat(d["next_end"])
    new_id = await plans.create_plan(turn.conn, village_code=d["village"], period_start=start,
                                     period_end=end, person_id=turn.person.id, now=turn.now,
                                     previous_id=old.id)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id, action="plan.open",
                       entity="plan", entity_id=new_id, to_state="open",
                       detail={"previous_id": old.id, "period_start": start.isoformat(),
                               "period_end": end.isoformat()})
    return new_id, await _carry_over(turn, unfinished, old, new_id)


async def _save(turn: Turn) -> str:
    d = turn.data
    assert turn.person is not None
    if corrections.correcting(turn, "lesson") is not None:
        return await _save_correction(turn)
    try:
        await check(turn.conn, turn.grants, Action.RECORD_LESSONS, d["village"])
        closing = d.get("close") in CLOSING
        if closing:
            await check(turn.conn, turn.grants, Action.MANAGE_PLAN, d["village"])
    except PermissionDenied:
        raise Invalid("lessons.not_allowed") from None
    old = await _plan(turn)
    if old is None:  # closed by someone else meanwhile
        turn.say("lessons.plan_changed")
        return END
    lesson_id = await lessons.insert(
        turn.conn, plan_id=old.id, village_code=d["village"], what_worked=d["worked"],
        what_did_not=d["did_not_work"], next_steps=d["next_steps"], person_id=turn.person.id,
        now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="lessons.record", entity="lesson", entity_id=lesson_id,
                       to_state="new", detail={"plan_id": old.id})
    outcome = Localized("lessons.outcome.kept")
    if closing:
        new_id, carried = await _close_and_open(turn, old, lesson_id)
        new_plan = await plans.get_plan(turn.conn, new_id)
        assert new_plan is not None
        outcome = Localized("lessons.outcome.carried" if d["close"] == CARRY
                            else "lessons.outcome.closed",
                            {"start": DateText(new_plan.period_start),
                             "end": DateText(new_plan.period_end), "carried": carried})
    delivery = await _tell_tambon(turn, old, lesson_id, outcome)
    turn.say_delivered(delivery, "lessons.saved", id=lesson_id, outcome=outcome)
    return END


async def _tell_tambon(turn: Turn, old: Plan, lesson_id: int, outcome: Localized) -> Delivery:
    """The tambon core team and the TAO (someone holding both is told once)."""
    assert turn.person is not None
    tambon = turn.data["village"][:6]
    notification: dict[str, Any] = dict(
        id=lesson_id,
        village=await area_names.bilingual_title(turn.conn, turn.data["village"], depth=2),
        start=DateText(old.period_start), end=DateText(old.period_end),
        worked=turn.data["worked"][:300], did_not_work=turn.data["did_not_work"][:300],
        next_steps=turn.data["next_steps"][:300], outcome=outcome,
        reporter=turn.person.display_name,
    )
    review = [("open.button.review", open_action("review", "lesson", lesson_id))]
    reaches = [await turn.notify_holders(role, tambon, "lessons.notify",
                                         actions=review if role == Role.CORE_TEAM else (),
                                         **notification)
               for role in (Role.CORE_TEAM, Role.TAO)]
    return await turn.delivery(reaches, village_code=turn.data["village"], kind="lesson",
                               entity_id=lesson_id)


# --- correcting lessons the core team returned (handlers/corrections.py) -------------------

async def load_for_correction(turn: Turn, row: dict[str, Any]) -> str:
    """The stored lessons in the conversation, for their confirmation screen."""
    plan = row.get("plan") or {}
    turn.data.update(village=row["village_code"], plan_id=row["plan_id"],
                     plan_start=plan.get("period_start"), plan_end=plan.get("period_end"),
                     worked=row["what_worked"], did_not_work=row["what_did_not"],
                     next_steps=row["next_steps"])
    return "confirm"


async def _save_correction(turn: Turn) -> str:
    old = await corrections.still_correctable(turn, "lesson")
    if old is None:
        return END
    d = turn.data
    await lessons.correct(turn.conn, old["id"], what_worked=d["worked"],
                          what_did_not=d["did_not_work"], next_steps=d["next_steps"])
    await corrections.resubmit(turn, "lesson", old)
    return END


def _confirm() -> Step:
    """The confirmation screen; "edit end date" only when the period is being closed; in a
    correction, only the three texts (the period was closed, or not, when first saved)."""
    keeping = confirm_step(_summary, EDITABLE, _save, save_label="lessons.save")
    closing = confirm_step(_summary, EDITABLE_CLOSING, _save, save_label="lessons.save")
    correcting = confirm_step(_summary, EDITABLE_CORRECTING, _save, save_label="lessons.save")

    def variant(turn: Turn) -> Step:
        if corrections.correcting(turn, "lesson") is not None:
            return correcting
        return closing if turn.data.get("close") in CLOSING else keeping

    async def ask(turn: Turn) -> None:
        await variant(turn).ask(turn)

    async def answer(turn: Turn, given: Answer) -> str:
        return await variant(turn).answer(turn, given)

    return Step(ask, answer)


FLOW = Flow(
    name="lessons",
    title_key="lessons.title",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "lessons.menu", 40,
                   then=("summary", "plan")),
    begin=begin,
    steps={
        "village": Step(ask_village, answer_village),
        "worked": text_step("worked", "lessons.ask_worked", "did_not_work",
                            max_length=TEXT_MAX),
        "did_not_work": text_step("did_not_work", "lessons.ask_did_not_work", "next_steps",
                                  max_length=TEXT_MAX),
        "next_steps": text_step("next_steps", "lessons.ask_next_steps", "close",
                                max_length=TEXT_MAX),
        "close": Step(ask_close, choice_step("close", _close_question, _close_choices,
                                             _after_close).answer),
        "next_end": date_step("next_end", _next_end_question, "confirm",
                              check=_check_next_end, help_key="help.date"),
        "confirm": _confirm(),
    },
)
