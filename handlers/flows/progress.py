"""Progress on an item of the village's open plan (village committee): status, the reason
when stalled, percent done, a note and a photo; when done, the village confirms the
outcome (did it solve the problem, how many households were helped), which is what
counts as a result. Audited and told to the tambon's core team."""

from __future__ import annotations

import dataclasses
import re
from functools import cache
from typing import Any

from handlers import corrections
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Action, Role, areas_with_role
from handlers.steps import (
    ask_committee_village,
    choice_step,
    chosen_committee_village,
    complete_first,
    confirm_step,
    number_step,
    photo_step,
    routed,
    text_step,
    variant_step,
)
from handlers.turn import Answer, Delivery, Invalid, Localized, Turn
from handlers.village_plan import (
    VILLAGE,
    allowed_village,
    approach_text,
    propose_action,
    tell_core_team,
)
from locales import LANGUAGES, catalog
from storage import audit, plans
from storage.plans import OUTCOMES, PlanItem

ROUTE = "__route__"
STATUSES = ("not_started", "in_progress", "done", "stalled")
QUESTIONS = ("status", "stalled_reason", "percent", "note", "photo", "outcome", "households")
# What a status asks beyond status, note and photo; "done" and "not started" set the percent.
FOLLOW_UPS = {"not_started": (), "in_progress": ("percent",),
              "stalled": ("stalled_reason", "percent"), "done": ("outcome", "households")}
SET_PERCENT = {"not_started": 0, "done": 100}
PERCENT_BUTTONS = (25, 50, 75)
HOUSEHOLDS_MAX = 100_000
NOTE_MAX = 1000
REASON_MAX = 500
ITEM_CHOICE_TITLE = 40
async def _open_items(turn: Turn) -> list[PlanItem]:
    village = await allowed_village(turn, Action.REPORT_PROGRESS)
    return await plans.open_items_of_village(turn.conn, village) if village else []


async def _chosen_item(turn: Turn, raw: object) -> PlanItem | None:
    return next((item for item in await _open_items(turn) if str(item.id) == str(raw)), None)


# --- begin, village, item ----------------------------------------------------------------------

async def begin(turn: Turn) -> str | None:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    if not villages:
        turn.say("progress.not_allowed")
        return None
    if len(villages) > 1:
        return "village"
    turn.data[VILLAGE] = villages[0]
    if not await _open_items(turn):
        turn.say("progress.no_items")
        return None
    return "item"


async def ask_village(turn: Turn) -> None:
    await ask_committee_village(turn, "progress.ask_village")


async def answer_village(turn: Turn, given: Answer) -> str:
    turn.data[VILLAGE] = await chosen_committee_village(turn, given, Action.REPORT_PROGRESS)
    if not await _open_items(turn):
        raise Invalid("progress.no_items_here")
    return "item"


async def ask_item(turn: Turn) -> None:
    choices = [(turn.t("progress.item_choice", id=item.id,
                       title=item.title[:ITEM_CHOICE_TITLE], percent=item.percent), str(item.id))
               for item in await _open_items(turn)]
    turn.ask(turn.t("progress.ask_item"), choices)


async def answer_item(turn: Turn, given: Answer) -> str:
    item = await _chosen_item(turn, given.choice) if given.choice else None
    if item is None:
        raise Invalid("input.use_buttons")
    for question in QUESTIONS:
        turn.data.pop(question, None)
    turn.data.update(item_id=item.id, title=item.title, old_status=item.status,
                     old_percent=item.percent)
    return "status"


# --- the questions, each going on to whatever is still missing ---------------------------------

async def _route(turn: Turn) -> str:
    needed = ("status", *FOLLOW_UPS.get(str(turn.data.get("status")), ()), "note", "photo")
    return next((q for q in QUESTIONS if q in needed and q not in turn.data), "confirm")


def _after_status(turn: Turn, before: dict[str, Any]) -> None:
    status = turn.data["status"]
    if before.get("status") != status:  # a different status asks its own follow-ups again
        for question in ("stalled_reason", "percent", "outcome", "households"):
            turn.data.pop(question, None)
    if status in SET_PERCENT:
        turn.data["percent"] = SET_PERCENT[status]


async def _status_choices(turn: Turn) -> list[tuple[str, str]]:
    return [(turn.t(f"plan.status.{s}"), s) for s in STATUSES]


async def _outcome_choices(turn: Turn) -> list[tuple[str, str]]:
    return [(turn.t(f"progress.outcome.{o}"), o) for o in OUTCOMES]


def _ask_status(turn: Turn) -> str:
    return turn.t("progress.ask_status", id=turn.data.get("item_id"),
                  title=turn.data.get("title", ""),
                  status=Localized(f"plan.status.{turn.data.get('old_status', 'not_started')}"),
                  percent=turn.data.get("old_percent", 0))


def _percent_buttons(turn: Turn) -> list[tuple[str, str]]:
    return [(f"{p}%", str(p)) for p in PERCENT_BUTTONS]


@cache
def _percent_words() -> re.Pattern[str]:
    """The percent sign and words ("40%", "40 percent"), from the locales of both languages."""
    words = {w.strip() for language in LANGUAGES
             for w in catalog(language)["progress.percent_words"].split("|") if w.strip()}
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)),
                      re.IGNORECASE)


def _percent_step() -> Step:
    """A whole percent; "40%" and "40 percent" are read as 40."""
    step = number_step("percent", "progress.ask_percent", ROUTE, minimum=0, maximum=100,
                       choices=_percent_buttons, help_key="progress.help.percent")

    async def answer(turn: Turn, given: Answer) -> str:
        if given.text and not given.choice:
            given = dataclasses.replace(given, text=_percent_words().sub(" ", given.text).strip())
        return await step.answer(turn, given)

    return Step(step.ask, answer, step.help_key)


QUESTION_STEPS: dict[str, Step] = {
    "status": routed(choice_step("status", _ask_status, _status_choices, ROUTE), _route,
                     _after_status),
    "stalled_reason": routed(text_step("stalled_reason", "progress.ask_stalled_reason", ROUTE,
                                       max_length=REASON_MAX), _route),
    "percent": routed(_percent_step(), _route),
    "note": routed(text_step("note", "progress.ask_note", ROUTE, max_length=NOTE_MAX,
                             optional=True), _route),
    "photo": routed(photo_step("photo", "progress.ask_photo", ROUTE), _route),
    "outcome": routed(choice_step("outcome", "progress.ask_outcome", _outcome_choices, ROUTE),
                      _route),
    "households": routed(number_step("households", "progress.ask_households", ROUTE,
                                     minimum=0, maximum=HOUSEHOLDS_MAX,
                                     help_key="progress.help.households"), _route),
}


# --- confirmation and save ---------------------------------------------------------------------

async def _summary(turn: Turn) -> str:
    d = turn.data
    status = d["status"]
    lines = [await corrections.heading(turn) + turn.t(
        "progress.summary", id=d["item_id"], title=d["title"],
        old=Localized(f"plan.status.{d['old_status']}"),
        new=Localized(f"plan.status.{status}"), percent=d["percent"])]
    if status == "stalled":
        lines.append(turn.t("progress.summary_reason", reason=d["stalled_reason"]))
    lines.append(turn.t("progress.summary_note", note=d["note"] or turn.t("common.no")))
    lines.append(turn.t("progress.summary_photo", photo=turn.t(
        "common.yes" if d.get("photo") or d.get("photo_id") else "common.no")))
    if status == "done":
        lines.append(turn.t("progress.summary_outcome",
                            outcome=Localized(f"progress.outcome.{d['outcome']}"),
                            households=f"{d['households']:,}"))
    return "\n".join(lines)


def _editable(status: str) -> dict[str, str]:
    shown = ("status", *FOLLOW_UPS[status], "note", "photo")
    return {q: f"progress.edit.{q}" for q in QUESTIONS if q in shown}


async def _save(turn: Turn) -> str:
    assert turn.person is not None
    d = turn.data
    if corrections.correcting(turn, "progress") is not None:
        return await _save_correction(turn)
    village = await allowed_village(turn, Action.REPORT_PROGRESS)
    if village is None:
        raise Invalid("progress.not_allowed")
    item = await _chosen_item(turn, d.get("item_id"))
    if item is None:
        turn.say("progress.item_gone")
        return END
    status, percent = d["status"], int(d["percent"])
    reason = d["stalled_reason"] if status == "stalled" else None
    progress_id = await plans.add_progress(
        turn.conn, item=item, status=status, percent=percent, note=d["note"],
        photo_ref=d.get("photo"), photo_platform_id=d.get("photo_id"), stalled_reason=reason,
        reporter_id=turn.person.id, now=turn.now)
    detail: dict[str, Any] = {"progress_id": progress_id, "percent_from": item.percent,
                              "percent": percent}
    if status == "done":
        await plans.confirm_outcome(turn.conn, item.id, d["outcome"], d["households"],
                                    turn.now)
        detail.update(outcome=d["outcome"], households_helped=d["households"])
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="plan_item.progress", entity="plan_item", entity_id=item.id,
                       from_state=item.status, to_state=status, reason=reason, detail=detail)
    delivery = await _tell(turn, village, item, progress_id, status, percent, reason)
    turn.say_delivered(delivery, "progress.saved", id=item.id)
    return END


async def _tell(turn: Turn, village: str, item: PlanItem, progress_id: int, status: str,
                percent: int, reason: str | None) -> Delivery:
    d = turn.data
    params: dict[str, Any] = dict(id=item.id, title=item.title,
                                  approach=approach_text(item.approach, item.partner),
                                  status=Localized(f"plan.status.{status}"), percent=percent,
                                  note=d["note"] or "-", kind="progress",
                                  entity_id=progress_id, review=True)
    if status == "stalled":
        return await tell_core_team(turn, village, "progress.notify_stalled", reason=reason,
                                    **params)
    if status == "done":
        done = dataclasses.replace(item, outcome_solved=d["outcome"])
        return await tell_core_team(turn, village, "progress.notify_done",
                                    more_actions=propose_action(done),
                                    outcome=Localized(f"progress.outcome.{d['outcome']}"),
                                    households=f"{d['households']:,}", **params)
    return await tell_core_team(turn, village, "progress.notify", **params)


# --- opened from a button: an item, or a progress update to correct ----------------------------

async def open_item(turn: Turn, raw_item_id: str) -> str | None:
    """A notification's "report the outcome": progress on this item, from its status."""
    if not areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        turn.say("progress.not_allowed")
        return None
    item = (await plans.get_item(turn.conn, int(raw_item_id))
            if raw_item_id.isascii() and raw_item_id.isdigit() and len(raw_item_id) <= 12
            else None)
    if item is None:
        turn.say("open.gone")
        return None
    turn.data[VILLAGE] = item.village_code
    if await allowed_village(turn, Action.REPORT_PROGRESS) is None:
        turn.data.clear()
        turn.say("open.not_allowed")
        return None
    if await _chosen_item(turn, item.id) is None:
        turn.say("progress.item_gone")
        return None
    turn.data.update(item_id=item.id, title=item.title, old_status=item.status,
                     old_percent=item.percent)
    return "status"


async def load_for_correction(turn: Turn, row: dict[str, Any]) -> str | None:
    """The stored progress update in the conversation, for its confirmation screen
    (handlers/corrections.py)."""
    item = await plans.get_item(turn.conn, int(row["item_id"]))
    if item is None:
        turn.say("progress.item_gone")
        return None
    status = str(row["status"])
    turn.data.update({VILLAGE: row["village_code"], "item_id": item.id, "title": item.title,
                      "old_status": status, "old_percent": row["percent"], "status": status,
                      "percent": row["percent"], "note": row.get("note") or "",
                      "photo": row.get("photo_ref"), "photo_id": row.get("photo_platform_id")})
    if status == "stalled":
        turn.data["stalled_reason"] = item.stalled_reason or ""
    if status == "done":
        turn.data.update(outcome=item.outcome_solved or "yes",
                         households=item.households_helped or 0)
    return "confirm"


async def _save_correction(turn: Turn) -> str:
    old = await corrections.still_correctable(turn, "progress")
    if old is None:
        return END
    d = turn.data
    status = str(d["status"])
    await plans.correct_progress(
        turn.conn, old["id"], status=status, percent=int(d["percent"]), note=d["note"],
        photo_ref=d.get("photo"), photo_platform_id=d.get("photo_id"),
        stalled_reason=d.get("stalled_reason") if status == "stalled" else None,
        now=turn.now)
    if status == "done":
        await plans.confirm_outcome(turn.conn, int(d["item_id"]), d["outcome"],
                                    int(d["households"]), turn.now)
    await corrections.resubmit(turn, "progress", old)
    return END


_CONFIRMS = {status: confirm_step(_summary, _editable(status), _save) for status in STATUSES}


async def _confirm(turn: Turn) -> Step:
    return _CONFIRMS.get(str(turn.data.get("status")), _CONFIRMS["in_progress"])


FLOW = Flow(
    name="progress",
    title_key="progress.title",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "progress.menu", 30,
                   first={Role.VILLAGE_COMMITTEE: 2}, then=("progress", "support_status")),
    begin=begin,
    steps={
        "village": Step(ask_village, answer_village),
        "item": Step(ask_item, answer_item),
        **QUESTION_STEPS,
        "confirm": complete_first(_route, QUESTION_STEPS, variant_step(_confirm)),
    },
)
