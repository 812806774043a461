"""The village crisis plan (village committee): the open plan of a period and its items,
each following one of the three approaches of the cabinet resolution (section 6.1).

One flow with a home screen showing the open plan. From it: create the plan for a period
(when there is none), add an item, edit an item, withdraw an item. Every save is audited,
told to the tambon's core team, and followed by the plan shown again, so the next item
can be added at once.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from handlers import area_names, corrections
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role
from handlers.steps import (
    FUTURE,
    Hook,
    amount_step,
    ask_committee_village,
    choice_step,
    chosen_committee_village,
    complete_first,
    confirm_step,
    date_step,
    multi_select_step,
    routed,
    text_step,
    variant_step,
)
from handlers.thai_input import format_baht
from handlers.turn import Answer, Bilingual, DateText, Invalid, Turn, render
from handlers.village_plan import (
    PARTNERED,
    VILLAGE,
    allowed_village,
    approach_text,
    baht,
    item_line,
    tell_core_team,
)
from locales import category_label, format_date
from storage import audit, plans, problems, reviews
from storage.plans import APPROACHES, Plan, PlanItem

ROUTE = "__route__"  # "ask whatever is still missing": see `routed`
TITLE_MAX = 200
TEXT_MAX = 200
REASON_MAX = 500
PROBLEM_CHOICES = 20
ITEM_CHOICE_TITLE = 40



def _date(iso: str) -> DateText:
    return DateText(date.fromisoformat(iso))


# --- begin and the village (only for people on more than one village committee) ------------

async def begin(turn: Turn) -> str | None:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    if not villages:
        turn.say("plan.not_allowed")
        return None
    if len(villages) == 1:
        turn.data[VILLAGE] = villages[0]
        return "home"
    return "village"


async def ask_village(turn: Turn) -> None:
    await ask_committee_village(turn, "plan.ask_village")


async def answer_village(turn: Turn, given: Answer) -> str:
    turn.data[VILLAGE] = await chosen_committee_village(turn, given, Action.MANAGE_PLAN)
    return "home"


# --- home: the open plan and what can be done with it ------------------------------------------

async def _open_plan(turn: Turn) -> tuple[str, Plan | None]:
    village = await allowed_village(turn, Action.MANAGE_PLAN)
    if village is None:
        raise PermissionDenied("plan")
    return village, await plans.open_plan(turn.conn, village)


async def _open_items(turn: Turn) -> list[PlanItem]:
    village = await allowed_village(turn, Action.MANAGE_PLAN)
    return await plans.open_items_of_village(turn.conn, village) if village else []


async def ask_home(turn: Turn) -> None:
    # Home is where every task starts and ends: nothing of an earlier one stays.
    village = turn.data.get(VILLAGE)
    turn.data.clear()
    turn.data[VILLAGE] = village
    turn.convo.history.clear()
    close = (turn.t("plan.close"), "close")
    try:
        village, plan = await _open_plan(turn)
    except PermissionDenied:
        turn.ask(turn.t("plan.not_allowed"), [close])
        return
    name = await area_names.bilingual_title(turn.conn, village, depth=2)
    if plan is None:
        turn.ask(turn.t("plan.no_plan", village=name),
                 [(turn.t("plan.create"), "create"), close])
        return
    items = await plans.items_of_plan(turn.conn, plan.id)
    lines = [item_line(turn, item) for item in items] or [turn.t("plan.no_items")]
    choices = [(turn.t("plan.add"), "add")]
    if any(item.is_open() for item in items):
        choices += [(turn.t("plan.edit_item"), "edit"), (turn.t("plan.withdraw_item"), "withdraw")]
    turn.ask(turn.t("plan.home", village=name, start=DateText(plan.period_start),
                    end=DateText(plan.period_end), items="\n".join(lines)), [*choices, close])


async def answer_home(turn: Turn, given: Answer) -> str:
    if given.choice == "close":
        return END
    try:
        _, plan = await _open_plan(turn)
    except PermissionDenied:
        raise Invalid("plan.not_allowed") from None
    task = given.choice
    if task == "create" and plan is None:
        turn.data["task"] = task
        return "period_start"
    if task == "add" and plan is not None:
        turn.data["task"] = task
        return "title"
    if task in ("edit", "withdraw") and plan is not None and await _open_items(turn):
        turn.data["task"] = task
        return f"pick_{task}"
    raise Invalid("input.use_buttons")


async def _home_again(turn: Turn) -> str:
    """After a save: the plan again (a kept draft of this flow is now done with)."""
    await turn.delete_draft(FLOW.name)
    return "home"


# --- creating the plan for a period ------------------------------------------------------------

def _dates_in_order(start: str, end: str) -> Hook:
    """A start moved past the end asks the end again."""

    def hook(turn: Turn, before: dict[str, Any]) -> None:
        if end in turn.data and str(turn.data[end]) < str(turn.data[start]):
            turn.data.pop(end)
            turn.say("plan.end_again")

    return hook


async def _route_period(turn: Turn) -> str:
    return next((s for s in ("period_start", "period_end") if s not in turn.data),
                "plan_confirm")


PERIOD_QUESTIONS: dict[str, Step] = {
    "period_start": routed(date_step("period_start", "plan.ask_period_start", ROUTE),
                           _route_period, _dates_in_order("period_start", "period_end")),
    "period_end": routed(date_step("period_end", "plan.ask_period_end", ROUTE,
                                   not_before="period_start", when=FUTURE), _route_period),
}


async def _plan_summary(turn: Turn) -> str:
    return turn.t("plan.create_summary", start=_date(turn.data["period_start"]),
                  end=_date(turn.data["period_end"]))


async def _save_plan(turn: Turn) -> str:
    assert turn.person is not None
    try:
        village, plan = await _open_plan(turn)
    except PermissionDenied:
        raise Invalid("plan.not_allowed") from None
    if plan is not None:
        turn.say("plan.plan_exists")
        return await _home_again(turn)
    start = date.fromisoformat(turn.data["period_start"])
    end = date.fromisoformat(turn.data["period_end"])
    if end < start:
        raise Invalid("plan.end_before_start")
    plan_id = await plans.create_plan(turn.conn, village_code=village, period_start=start,
                                      period_end=end, person_id=turn.person.id, now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id, action="plan.create",
                       entity="plan", entity_id=plan_id, to_state="open",
                       detail={"period_start": start.isoformat(), "period_end": end.isoformat()})
    delivery = await tell_core_team(turn, village, "plan.notify_created", kind="plan",
                                    entity_id=plan_id, start=DateText(start), end=DateText(end))
    turn.say_delivered(delivery, "plan.created")
    return await _home_again(turn)


# --- an item: the questions, shared by adding and editing --------------------------------------

ITEM_STEPS = ("title", "problem_ids", "approach", "partner", "budget_needed", "own_money",
              "own_labour", "start_on", "end_on", "responsible")
_STORED_FIELDS = ("title", "approach", "partner", "budget_needed", "own_money", "own_labour",
                  "start_on", "end_on", "responsible")


async def _problem_choices(turn: Turn) -> list[tuple[str, str]]:
    """The village's latest problem reports, and any the item already answers."""
    village = await allowed_village(turn, Action.MANAGE_PLAN)
    if village is None:
        return []
    found = {p.id: p for p in await problems.of_villages(turn.conn, [village], PROBLEM_CHOICES)}
    for raw in turn.data.get("problem_ids") or []:
        if str(raw).isdigit() and int(raw) not in found:
            problem = await problems.get(turn.conn, int(raw))
            if problem and problem.village_code == village:
                found[problem.id] = problem
    return [(turn.t("plan.problem_choice", id=p.id,
                    category=category_label(p.category, turn.language)), str(p.id))
            for p in sorted(found.values(), key=lambda p: p.id)]


async def _item_route(turn: Turn) -> str:
    for step in ITEM_STEPS:
        if step in turn.data:
            continue
        if step == "problem_ids" and not await _problem_choices(turn):
            continue
        if step == "partner" and turn.data.get("approach") not in PARTNERED:
            continue
        return step
    return "item_confirm"


async def _approach_choices(turn: Turn) -> list[tuple[str, str]]:
    return [(turn.t(f"plan.approach_choice.{a}"), a) for a in APPROACHES]


def _after_approach(turn: Turn, before: dict[str, Any]) -> None:
    if turn.data["approach"] not in PARTNERED:
        turn.data["partner"] = ""
    elif before.get("approach") != turn.data["approach"]:
        turn.data.pop("partner", None)  # "with whom" and "from whom" are different questions


def _ask_partner(turn: Turn) -> str:
    approach = turn.data.get("approach")
    return turn.t("plan.ask_partner.external_support" if approach == "external_support"
                  else "plan.ask_partner.cooperation")


def _item_step(step: Step, after: Hook | None = None) -> Step:
    return routed(step, _item_route, after)


ITEM_QUESTIONS: dict[str, Step] = {
    "title": _item_step(text_step("title", "plan.ask_title", ROUTE, max_length=TITLE_MAX)),
    "problem_ids": _item_step(multi_select_step("problem_ids", "plan.ask_problems",
                                                _problem_choices, ROUTE)),
    "approach": _item_step(choice_step("approach", "plan.ask_approach", _approach_choices, ROUTE,
                                       help_key="plan.help.approach"), _after_approach),
    "partner": _item_step(text_step("partner", _ask_partner, ROUTE, max_length=TEXT_MAX)),
    "budget_needed": _item_step(amount_step("budget_needed", "plan.ask_budget", ROUTE,
                                            zero_label="plan.budget_none")),
    "own_money": _item_step(amount_step("own_money", "plan.ask_own_money", ROUTE,
                                        zero_label="plan.own_money_none")),
    "own_labour": _item_step(text_step("own_labour", "plan.ask_own_labour", ROUTE,
                                       max_length=TEXT_MAX, optional=True)),
    "start_on": _item_step(date_step("start_on", "plan.ask_start", ROUTE),
                           _dates_in_order("start_on", "end_on")),
    "end_on": _item_step(date_step("end_on", "plan.ask_end", ROUTE, not_before="start_on")),
    "responsible": _item_step(text_step("responsible", "plan.ask_responsible", ROUTE,
                                        max_length=TEXT_MAX)),
}


async def _problems_text(turn: Turn) -> str:
    chosen = set(turn.data.get("problem_ids") or [])
    labels = [label for label, value in await _problem_choices(turn) if value in chosen]
    return ", ".join(labels) or turn.t("plan.no_problems")


async def _item_summary(turn: Turn) -> str:
    d = turn.data
    heading = (turn.t("plan.summary_edit", id=d["item_id"]) if d.get("task") == "edit"
               else turn.t("plan.summary_new"))
    heading = await corrections.heading(turn) + heading
    return turn.t("plan.item_summary", heading=heading, title=d["title"],
                  problems=await _problems_text(turn),
                  approach=approach_text(d["approach"], d.get("partner", "")),
                  budget=baht(d["budget_needed"]), own_money=baht(d["own_money"]),
                  own_labour=d["own_labour"] or turn.t("common.no"),
                  start=_date(d["start_on"]), end=_date(d["end_on"]),
                  responsible=d["responsible"])


def _item_editable(partnered: bool, with_problems: bool) -> dict[str, str]:
    return {step: f"plan.edit.{step}" for step in ITEM_STEPS
            if (step != "partner" or partnered) and (step != "problem_ids" or with_problems)}


async def _item_values(turn: Turn) -> tuple[dict[str, Any], list[int]]:
    """What is stored: the item's fields, and the problems it answers (the village's own)."""
    d = turn.data
    values = {field: d.get(field, "") for field in _STORED_FIELDS}
    values["partner"] = values["partner"] if d["approach"] in PARTNERED else ""
    values["start_on"] = date.fromisoformat(d["start_on"])
    values["end_on"] = date.fromisoformat(d["end_on"])
    if values["end_on"] < values["start_on"]:
        raise Invalid("plan.end_before_start")
    allowed_ids = {value for _, value in await _problem_choices(turn)}
    problem_ids = sorted(int(p) for p in d.get("problem_ids") or [] if p in allowed_ids)
    return values, problem_ids


async def _save_item(turn: Turn) -> str:
    assert turn.person is not None
    try:
        village, plan = await _open_plan(turn)
    except PermissionDenied:
        raise Invalid("plan.not_allowed") from None
    if plan is None:
        turn.say("plan.plan_gone")
        return await _home_again(turn)
    values, problem_ids = await _item_values(turn)
    if turn.data.get("task") == "edit":
        return await _save_edit(turn, village, values, problem_ids)
    item_id = await plans.add_item(turn.conn, plan_id=plan.id, village_code=village,
                                   problem_ids=problem_ids, person_id=turn.person.id,
                                   now=turn.now, **values)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="plan_item.add", entity="plan_item", entity_id=item_id,
                       to_state="not_started",
                       detail={"plan_id": plan.id, "approach": values["approach"],
                               "budget_needed": values["budget_needed"],
                               "own_money": values["own_money"], "problem_ids": problem_ids})
    delivery = await tell_core_team(
        turn, village, "plan.notify_added", kind="plan_item", entity_id=item_id, review=True,
        id=item_id, title=values["title"],
        approach=approach_text(values["approach"], values["partner"]),
        budget=baht(values["budget_needed"]), own_money=baht(values["own_money"]),
        start=DateText(values["start_on"]), end=DateText(values["end_on"]),
        responsible=values["responsible"])
    turn.say_delivered(delivery, "plan.item_added", id=item_id)
    return await _home_again(turn)


_ITEM_CONFIRMS = {(partnered, with_problems): confirm_step(
    _item_summary, _item_editable(partnered, with_problems), _save_item)
    for partnered in (False, True) for with_problems in (False, True)}


async def _item_confirm(turn: Turn) -> Step:
    partnered = turn.data.get("approach") in PARTNERED
    return _ITEM_CONFIRMS[(partnered, bool(await _problem_choices(turn)))]


# --- editing an item ---------------------------------------------------------------------------

async def _item_choices(turn: Turn) -> list[tuple[str, str]]:
    return [(turn.t("plan.item_choice", id=item.id, title=item.title[:ITEM_CHOICE_TITLE]),
             str(item.id)) for item in await _open_items(turn)]


async def _chosen_item(turn: Turn, raw: object) -> PlanItem | None:
    """An open item of the village's open plan, by the id on its button."""
    return next((item for item in await _open_items(turn) if str(item.id) == str(raw)), None)


def _item_fields(item: PlanItem) -> dict[str, Any]:
    return {"item_id": item.id, "title": item.title,
            "problem_ids": [str(p) for p in item.problem_ids], "approach": item.approach,
            "partner": item.partner, "budget_needed": item.budget_needed,
            "own_money": item.own_money, "own_labour": item.own_labour,
            "start_on": item.start_on.isoformat(), "end_on": item.end_on.isoformat(),
            "responsible": item.responsible}


async def ask_pick_edit(turn: Turn) -> None:
    turn.ask(turn.t("plan.ask_pick_edit"), await _item_choices(turn))


async def answer_pick_edit(turn: Turn, given: Answer) -> str:
    item = await _chosen_item(turn, given.choice) if given.choice else None
    if item is None:
        raise Invalid("input.use_buttons")
    turn.data.update(_item_fields(item))
    return "item_confirm"


def _shown(language: str, field: str, value: Any) -> str:
    """A field's value as a person reads it, for the list of what an edit changed."""
    if field in ("budget_needed", "own_money"):
        return render(language, "plan.baht", {"amount": format_baht(value)})
    if field in ("start_on", "end_on"):
        return format_date(date.fromisoformat(value), language)
    if field == "approach":
        return render(language, f"plan.approach.{value}", {})
    if field == "problem_ids":
        return ", ".join(f"#{p}" for p in value) or render(language, "plan.no_problems", {})
    return str(value) if value != "" else render(language, "common.no", {})


def _changes_text(language: str, changes: dict[str, dict[str, Any]]) -> str:
    return "\n".join(render(language, "plan.change_line", {
        "field": render(language, f"plan.field.{field}", {}),
        "old": _shown(language, field, change["from"]),
        "new": _shown(language, field, change["to"])}) for field, change in changes.items())


def _changes(item: PlanItem, values: dict[str, Any], problem_ids: list[int]
             ) -> dict[str, dict[str, Any]]:
    old = _item_fields(item)
    new = {**values, "start_on": values["start_on"].isoformat(),
           "end_on": values["end_on"].isoformat()}
    changes = {f: {"from": old[f], "to": new[f]} for f in _STORED_FIELDS if old[f] != new[f]}
    if sorted(item.problem_ids) != problem_ids:
        changes["problem_ids"] = {"from": sorted(item.problem_ids), "to": problem_ids}
    return changes


async def _save_edit(turn: Turn, village: str, values: dict[str, Any],
                     problem_ids: list[int]) -> str:
    assert turn.person is not None
    item = await _chosen_item(turn, turn.data.get("item_id"))
    if item is None:
        turn.say("plan.item_gone")
        return await _home_again(turn)
    changes = _changes(item, values, problem_ids)
    if not changes:
        turn.say("plan.no_changes")
        return await _home_again(turn)
    # An item the core team returned (or asked to look at) comes back as its next version.
    returned = (await reviews.details(turn.conn, "plan_item", item.id)
                if item.review_status in reviews.OPEN_VERDICTS else None)
    stored = {f: values[f] for f in changes if f != "problem_ids"}
    if stored:
        await plans.update_item(turn.conn, item.id, stored, turn.now)
    if "problem_ids" in changes:
        await plans.set_item_problems(turn.conn, item.id, problem_ids)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="plan_item.edit", entity="plan_item", entity_id=item.id,
                       from_state=item.status, to_state=item.status, detail=changes)
    if returned is not None:
        await corrections.resubmit(turn, "plan_item", returned)
        return await _home_again(turn)
    delivery = await tell_core_team(
        turn, village, "plan.notify_edited", kind="plan_item", entity_id=item.id, id=item.id,
        title=values["title"], changes=Bilingual(_changes_text("th", changes),
                                                 _changes_text("en", changes)))
    turn.say_delivered(delivery, "plan.item_edited", id=item.id)
    return await _home_again(turn)


async def load_for_correction(turn: Turn, row: dict[str, Any]) -> str | None:
    """The stored item in the conversation, for its confirmation screen (handlers/
    corrections.py); only an open item of the village's open plan can still be edited."""
    turn.data[VILLAGE] = row["village_code"]
    item = await _chosen_item(turn, row["id"])
    if item is None:
        turn.say("plan.item_gone")
        return None
    turn.data.update(_item_fields(item))
    turn.data["task"] = "edit"
    return "item_confirm"


# --- withdrawing an item -----------------------------------------------------------------------

async def ask_pick_withdraw(turn: Turn) -> None:
    turn.ask(turn.t("plan.ask_pick_withdraw"), await _item_choices(turn))


async def answer_pick_withdraw(turn: Turn, given: Answer) -> str:
    item = await _chosen_item(turn, given.choice) if given.choice else None
    if item is None:
        raise Invalid("input.use_buttons")
    turn.data.update(item_id=item.id, title=item.title)
    return "withdraw_reason"


def _ask_withdraw_reason(turn: Turn) -> str:
    return turn.t("plan.ask_withdraw_reason", title=turn.data.get("title", ""))


async def _withdraw_summary(turn: Turn) -> str:
    return turn.t("plan.withdraw_summary", id=turn.data["item_id"], title=turn.data["title"],
                  reason=turn.data["withdraw_reason"])


async def _save_withdraw(turn: Turn) -> str:
    assert turn.person is not None
    village = await allowed_village(turn, Action.MANAGE_PLAN)
    if village is None:
        raise Invalid("plan.not_allowed")
    item = await _chosen_item(turn, turn.data.get("item_id"))
    if item is None:
        turn.say("plan.item_gone")
        return await _home_again(turn)
    reason = turn.data["withdraw_reason"]
    await plans.withdraw_item(turn.conn, item.id, reason, turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="plan_item.withdraw", entity="plan_item", entity_id=item.id,
                       from_state=item.status, to_state="withdrawn", reason=reason)
    delivery = await tell_core_team(turn, village, "plan.notify_withdrawn", kind="plan_item",
                                    entity_id=item.id, id=item.id, title=item.title,
                                    reason=reason)
    turn.say_delivered(delivery, "plan.item_withdrawn", id=item.id)
    return await _home_again(turn)


FLOW = Flow(
    name="plan",
    title_key="plan.title",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "plan.menu", 25,
                   first={Role.VILLAGE_COMMITTEE: 3}, then=("support_request", "progress")),
    begin=begin,
    steps={
        "village": Step(ask_village, answer_village),
        "home": Step(ask_home, answer_home),
        **PERIOD_QUESTIONS,
        "plan_confirm": complete_first(_route_period, PERIOD_QUESTIONS, confirm_step(
            _plan_summary, {"period_start": "plan.edit.period_start",
                            "period_end": "plan.edit.period_end"},
            _save_plan, save_label="plan.create_save")),
        **ITEM_QUESTIONS,
        "item_confirm": complete_first(_item_route, ITEM_QUESTIONS, variant_step(_item_confirm)),
        "pick_edit": Step(ask_pick_edit, answer_pick_edit),
        "pick_withdraw": Step(ask_pick_withdraw, answer_pick_withdraw),
        "withdraw_reason": text_step("withdraw_reason", _ask_withdraw_reason,
                                     "withdraw_confirm", max_length=REASON_MAX),
        "withdraw_confirm": confirm_step(
            _withdraw_summary, {"withdraw_reason": "plan.edit.withdraw_reason"},
            _save_withdraw, save_label="plan.withdraw_save"),
    },
)
