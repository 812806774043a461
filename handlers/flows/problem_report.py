"""Reporting a crisis problem (village committee): category, description, households
affected, severity, optional photo and location, then a confirmation screen where any
field can be edited before saving. The tambon's core team (and the tambon's linked group
chats) are told on save; the village is told whom it reached, or that nobody could
receive it yet and who will hear of that."""

from __future__ import annotations

from typing import Any

from handlers import area_names, corrections
from handlers.category_suggestion import suggest
from handlers.flow import END, Flow, MenuEntry, Step, proceed
from handlers.opening import open_action
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role, check
from handlers.steps import (
    ask_committee_village,
    chosen_committee_village,
    confirm_step,
    location_step,
    number_step,
    photo_step,
)
from handlers.thai_input import normalize_text
from handlers.turn import Answer, Bilingual, Invalid, Localized, Turn
from locales import category_label, problem_categories
from storage import areas, audit, problems

DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 1000
HOUSEHOLDS_MAX = 100_000
SEVERITIES = (1, 2, 3, 4)


def _category_keys() -> list[str]:
    return [c["key"] for c in problem_categories()]


def _category_choices(turn: Turn) -> list[tuple[str, str]]:
    return [(category_label(k, turn.language), k) for k in _category_keys()]


async def begin(turn: Turn) -> str | None:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    if not villages:
        turn.say("report.not_allowed")
        return None
    if len(villages) == 1:
        turn.data["village"] = villages[0]
        return "category"
    return "village"


# --- village (only for people on more than one village committee) -------------------------

async def ask_village(turn: Turn) -> None:
    await ask_committee_village(turn, "report.ask_village")


async def answer_village(turn: Turn, answer: Answer) -> str:
    turn.data["village"] = await chosen_committee_village(turn, answer, Action.REPORT_PROBLEM)
    return proceed(turn, "category")


# --- category, suggested from free text when the person types instead of tapping ----------

def _after_category(turn: Turn) -> str:
    return proceed(turn, "households" if turn.data.get("description") else "description")


async def ask_category(turn: Turn) -> None:
    turn.ask(turn.t("report.ask_category"), _category_choices(turn))


async def answer_category(turn: Turn, answer: Answer) -> str:
    if answer.choice in _category_keys():
        turn.data["category"] = answer.choice
        return _after_category(turn)
    if not answer.text:
        raise Invalid("input.use_buttons")
    description = _valid_description(answer.text)
    suggested = suggest(description)
    turn.data["description"] = description
    if suggested is None:
        raise Invalid("report.category_unknown")
    turn.data["_suggested"] = suggested
    return "category_suggested"


async def ask_category_suggested(turn: Turn) -> None:
    suggested = str(turn.data.get("_suggested", "other"))
    first = [(turn.t("report.yes_category", category=category_label(suggested, turn.language)),
              suggested)]
    others = [c for c in _category_choices(turn) if c[1] != suggested]
    turn.ask(turn.t("report.suggested", category=category_label(suggested, turn.language)),
             first + others)


async def answer_category_suggested(turn: Turn, answer: Answer) -> str:
    if answer.choice not in _category_keys():
        raise Invalid("input.use_buttons")
    turn.data["category"] = answer.choice
    turn.data.pop("_suggested", None)
    return _after_category(turn)


# --- description, households, severity -----------------------------------------------------

def _valid_description(text: str) -> str:
    description = normalize_text(text)
    if len(description) > DESCRIPTION_MAX:
        raise Invalid("report.description_too_long", max=DESCRIPTION_MAX)
    if len(description) < DESCRIPTION_MIN or sum(ch.isalnum() for ch in description) < 3:
        raise Invalid("report.description_too_short")
    return description


async def ask_description(turn: Turn) -> None:
    turn.ask(turn.t("report.ask_description"))


async def answer_description(turn: Turn, answer: Answer) -> str:
    if answer.choice or not answer.text:
        raise Invalid("report.description_too_short")
    turn.data["description"] = _valid_description(answer.text)
    return proceed(turn, "households")


async def ask_severity(turn: Turn) -> None:
    turn.ask(turn.t("report.ask_severity"),
             [(turn.t(f"severity.{s}"), str(s)) for s in SEVERITIES])


async def answer_severity(turn: Turn, answer: Answer) -> str:
    if answer.choice not in {str(s) for s in SEVERITIES}:
        raise Invalid("input.use_buttons")
    turn.data["severity"] = int(answer.choice)
    return proceed(turn, "photo")


# --- confirmation and save ---------------------------------------------------------------------

EDITABLE = {"category": "report.edit.category", "description": "report.edit.description",
            "households": "report.edit.households", "severity": "report.edit.severity",
            "photo": "report.edit.photo", "location": "report.edit.location"}


async def _summary(turn: Turn) -> str:
    d = turn.data
    lineage = await areas.lineage(turn.conn, d["village"])
    location = d.get("location")
    return await corrections.heading(turn) + turn.t(
        "report.summary",
        village=area_names.title(lineage, turn.language, depth=2),
        category=category_label(d["category"], turn.language),
        description=d["description"],
        households=f"{d['households']:,}",
        severity=turn.t(f"severity.{d['severity']}"),
        photo=turn.t("common.yes" if d.get("photo") or d.get("photo_id") else "common.no"),
        location=f"{location[0]:.5f}, {location[1]:.5f}" if location else turn.t("common.no"),
    )


async def _save(turn: Turn) -> str:
    d = turn.data
    assert turn.person is not None
    if corrections.correcting(turn, "problem") is not None:
        return await _save_correction(turn)
    try:
        await check(turn.conn, turn.grants, Action.REPORT_PROBLEM, d["village"])
    except PermissionDenied:
        raise Invalid("report.not_allowed") from None
    location = d.get("location") or [None, None]
    problem_id = await problems.insert(
        turn.conn, village_code=d["village"], category=d["category"],
        description=d["description"], households=d["households"], severity=d["severity"],
        photo_ref=d.get("photo"), photo_platform_id=d.get("photo_id"), latitude=location[0],
        longitude=location[1], reporter_id=turn.person.id, now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id, action="problem.report",
                       entity="problem", entity_id=problem_id, to_state="new")
    tambon = d["village"][:6]
    notification = dict(
        id=problem_id,
        village=await area_names.bilingual_title(turn.conn, d["village"], depth=2),
        category=Bilingual(category_label(d["category"], "th"),
                           category_label(d["category"], "en")),
        households=f"{d['households']:,}",
        severity=Localized(f"severity.{d['severity']}"),
        description=d["description"][:300],
        reporter=turn.person.display_name,
    )
    reach = await turn.notify_holders(
        Role.CORE_TEAM, tambon, "notify.new_problem", with_groups=True,
        actions=[("open.button.review", open_action("review", "problem", problem_id))],
        **notification)
    delivery = await turn.delivery([reach], village_code=d["village"], kind="problem",
                                   entity_id=problem_id)
    turn.say_delivered(delivery, "report.saved", id=problem_id)
    return END


# --- correcting a report the core team returned (handlers/corrections.py) ------------------

async def load_for_correction(turn: Turn, row: dict[str, Any]) -> str:
    """The stored report in the conversation, for its confirmation screen."""
    located = row["latitude"] is not None and row["longitude"] is not None
    turn.data.update(village=row["village_code"], category=row["category"],
                     description=row["description"], households=row["households"],
                     severity=row["severity"], photo=row["photo_ref"],
                     photo_id=row["photo_platform_id"],
                     location=[row["latitude"], row["longitude"]] if located else None)
    return "confirm"


async def _save_correction(turn: Turn) -> str:
    old = await corrections.still_correctable(turn, "problem")
    if old is None:
        return END
    d = turn.data
    location = d.get("location") or [None, None]
    await problems.correct(turn.conn, old["id"], category=d["category"],
                           description=d["description"], households=d["households"],
                           severity=d["severity"], photo_ref=d.get("photo"),
                           photo_platform_id=d.get("photo_id"), latitude=location[0],
                           longitude=location[1])
    await corrections.resubmit(turn, "problem", old)
    return END


FLOW = Flow(
    name="problem_report",
    title_key="flow.problem_report",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "menu.report", 10,
                   first={Role.VILLAGE_COMMITTEE: 1}, then=("problem_report", "my_reports")),
    begin=begin,
    steps={
        "village": Step(ask_village, answer_village),
        "category": Step(ask_category, answer_category, help_key="help.category"),
        "category_suggested": Step(ask_category_suggested, answer_category_suggested),
        "description": Step(ask_description, answer_description),
        "households": number_step("households", "report.ask_households", "severity",
                                  minimum=1, maximum=HOUSEHOLDS_MAX,
                                  help_key="help.households"),
        "severity": Step(ask_severity, answer_severity),
        "photo": photo_step("photo", "report.ask_photo", "location"),
        "location": location_step("location", "report.ask_location", "confirm"),
        "confirm": confirm_step(_summary, EDITABLE, _save, save_label="report.save"),
    },
)
