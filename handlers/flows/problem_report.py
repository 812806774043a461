"""Reporting a crisis problem (village committee): category, description, households
affected, severity, an optional photo and location (one question), then a confirmation
screen where any field can be edited before saving.

A report can begin with what the person sent at the menu (handlers/intents.py): a
description (the category it suggests is then the first question) or a photo or location
(attached). The shortest way, from a description at the menu to the saved report, is six
inputs: the description, the suggested category confirmed, households (a button or a typed
number), severity, the photo/location question (a photo, a location or "skip"), save. A
photo or a shared location sent at any question of the report is attached to it.

The tambon's core team (and the tambon's linked group chats) are told on save; the village
is told whom it reached, or that nobody could receive it yet and who will hear of that."""

from __future__ import annotations

import re
from typing import Any

from handlers import area_names, corrections, intents
from handlers.flow import END, Flow, MenuEntry, Step, proceed
from handlers.opening import open_action
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role, check
from handlers.steps import (
    ask_committee_village,
    chosen_committee_village,
    confirm_step,
    location_step,
    number_step,
    parse_location,
    photo_step,
)
from handlers.thai_input import normalize_text, to_arabic_digits
from handlers.turn import NAV_PREFIX, Answer, Bilingual, Invalid, Localized, Turn
from locales import category_label, problem_categories
from storage import areas, audit, problems

DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 1000
HOUSEHOLDS_MAX = 100_000
# Quick buttons at the households question: exact common numbers, stored as tapped; any
# other number is typed (Thai digits and number words too).
HOUSEHOLD_BUTTONS = (1, 5, 10, 20, 50, 100)
SEVERITIES = (1, 2, 3, 4)
SKIP = "skip"
CATEGORY_NUMBER = re.compile(r"^#?\s*(\d{1,4})$")
OPENED = "_opened"  # the report began with what the person sent at the menu
BUTTONS_ROOM = 13  # LINE's quick replies: a question's buttons, at most


def _category_keys() -> list[str]:
    return [c["key"] for c in problem_categories()]


def _category_choices(turn: Turn) -> list[tuple[str, str]]:
    return [(category_label(k, turn.language), k) for k in _category_keys()]


def _next(turn: Turn) -> str:
    """What is still missing before the questions always asked in order (households,
    severity, photo and location): the category (its suggestion to confirm, if any), then
    the description."""
    if "category" not in turn.data:
        return "category_suggested" if turn.data.get("_suggested") else "category"
    if not turn.data.get("description"):
        return "description"
    return "households"


def _attached(turn: Turn) -> bool:
    d = turn.data
    return bool(d.get("photo") or d.get("photo_id") or d.get("location"))


def _first_question(turn: Turn, choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A report begun from what was sent at the menu can be called off at its first
    question with a button (where there is room for one; typing the word for cancel works
    anyway)."""
    if turn.data.get(OPENED) and not turn.convo.history and len(choices) < BUTTONS_ROOM:
        return [*choices, (turn.t("common.cancel"), f"{NAV_PREFIX}cancel")]
    return choices


async def begin(turn: Turn) -> str | None:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    if not villages:
        turn.say("report.not_allowed")
        return None
    _take_opening(turn, turn.data.get("_opening") or {})
    if len(villages) == 1:
        turn.data["village"] = villages[0]
        return _next(turn)
    return "village"


def _take_opening(turn: Turn, opening: dict[str, Any]) -> None:
    """What the person sent at the menu to start the report (handlers/intents.py): a
    photo or a location attached; a description kept, with the category it suggests."""
    d = turn.data
    photo, photo_id, location = opening.get("photo"), opening.get("photo_id"), opening.get(
        "location")
    text = str(opening.get("text") or "")
    if photo or photo_id:
        d["photo"], d["photo_id"] = photo, photo_id
    if location and _valid_location(location[0], location[1]):
        d["location"] = [float(location[0]), float(location[1])]
    if not (text or _attached(turn)):
        return
    d[OPENED] = True
    if _attached(turn):
        turn.say("report.opened_photo" if photo or photo_id else "report.opened_location")
    if not text:
        return
    reading = intents.read(text)
    if reading.category:
        d["_suggested"] = reading.category
    if reading.described:
        try:
            d["description"] = _valid_description(text)
        except Invalid as bad:  # too long to keep: the description is asked for
            turn.say(bad.key, **bad.params)
            return
    if reading.category:
        turn.say("report.opened_text")
    elif reading.described:
        turn.say("report.opened_unsure")


def _valid_location(latitude: Any, longitude: Any) -> bool:
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return False
    return -90 <= lat <= 90 and -180 <= lon <= 180


def _attach(turn: Turn, given: Answer) -> str:
    """A photo or a shared location sent at any question is attached to the report; the
    key of what to say."""
    if given.photo or given.photo_id:
        turn.data["photo"], turn.data["photo_id"] = given.photo, given.photo_id
        return "report.photo_attached"
    assert given.location is not None
    if not _valid_location(given.location.latitude, given.location.longitude):
        raise Invalid("input.location_expected")
    turn.data["location"] = [given.location.latitude, given.location.longitude]
    return "report.location_attached"


def _attaching(step: Step) -> Step:
    """`step`, where a photo or a location is attached instead of refused, and the same
    question asked again."""

    async def answer(turn: Turn, given: Answer) -> str:
        if given.photo or given.photo_id or given.location:
            turn.say(_attach(turn, given))
            return str(turn.convo.step)
        return await step.answer(turn, given)

    return Step(step.ask, answer, help_key=step.help_key)


def _confirm_attaching(step: Step) -> Step:
    """The confirmation screen, where a photo or a location (shared, or typed as "lat,
    lon") sent is attached and the screen shown again with it."""
    attaching = _attaching(step)

    async def answer(turn: Turn, given: Answer) -> str:
        typed = parse_location(given.text) if given.text and not given.choice else None
        if typed:
            turn.data["location"] = list(typed)
            turn.say("report.location_attached")
            return str(turn.convo.step)
        return await attaching.answer(turn, given)

    return Step(step.ask, answer, help_key=step.help_key)


# --- village (only for people on more than one village committee) -------------------------

async def ask_village(turn: Turn) -> None:
    await ask_committee_village(turn, "report.ask_village")


async def answer_village(turn: Turn, answer: Answer) -> str:
    turn.data["village"] = await chosen_committee_village(turn, answer, Action.REPORT_PROBLEM)
    return proceed(turn, _next(turn))


# --- category, suggested from free text when the person types instead of tapping ----------
#
# Typed at the category question:
# - a category's label or number (as the console numbers the buttons) is that category;
#   another number (a mistyped "11") is not a description: "tap a category or type the
#   number of one", and the question again;
# - a text that describes the problem (intents.read: without greeting and filler words,
#   at least 8 letters and digits in at least 2 words) becomes the description, with the
#   category it suggests to confirm; the description question is then not asked again;
# - a shorter text that names a category ("flood") suggests it, but is not kept as the
#   description: the description question comes after the category;
# - anything else (a greeting, "555") gets "tap a category or tell the problem", again.

def _typed_number(text: str) -> int | None:
    match = CATEGORY_NUMBER.match(to_arabic_digits(normalize_text(text)))
    return int(match.group(1)) if match else None


async def ask_category(turn: Turn) -> None:
    text = turn.t("report.ask_category")
    if turn.data.get("description"):
        text = turn.t("report.ask_category_described",
                      description=_shortened(turn.data["description"]))
    turn.ask(text, _first_question(turn, _category_choices(turn)), nav=True)


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def answer_category(turn: Turn, answer: Answer) -> str:
    keys = _category_keys()
    if answer.choice in keys:
        turn.data["category"] = answer.choice
        turn.data.pop("_suggested", None)
        return proceed(turn, _next(turn))
    if answer.choice or not answer.text:
        raise Invalid("report.category_tap")
    number = _typed_number(answer.text)
    if number is not None:
        if 1 <= number <= len(keys):
            turn.data["category"] = keys[number - 1]
            return proceed(turn, _next(turn))
        raise Invalid("report.category_no_such_number", number=number, count=len(keys))
    reading = intents.read(answer.text)
    if reading.described and reading.intent == intents.PROBLEM:
        turn.data["description"] = _valid_description(answer.text)
        if reading.category is None:
            raise Invalid("report.category_unknown")
    if reading.category is None:
        raise Invalid("report.category_tap")
    turn.data["_suggested"] = reading.category
    return "category_suggested"


def _suggested_choices(turn: Turn) -> list[tuple[str, str]]:
    suggested = str(turn.data.get("_suggested", "other"))
    first = [(turn.t("report.yes_category", category=category_label(suggested, turn.language)),
              suggested)]
    return first + [c for c in _category_choices(turn) if c[1] != suggested]


async def ask_category_suggested(turn: Turn) -> None:
    suggested = str(turn.data.get("_suggested", "other"))
    turn.ask(turn.t("report.suggested", category=category_label(suggested, turn.language)),
             _first_question(turn, _suggested_choices(turn)), nav=True, previous="")


async def answer_category_suggested(turn: Turn, answer: Answer) -> str:
    """A button; or typed: "yes" (the suggestion), "no" (all the categories), "no, it is
    about debt" (the category the rest names), a button's number."""
    keys = _category_keys()
    chosen = answer.choice
    if chosen is None and answer.text:
        suggested = turn.data.get("_suggested")
        number = _typed_number(answer.text)
        no, rest = intents.says_no(answer.text)
        if number is not None:
            shown = _suggested_choices(turn)
            if not 1 <= number <= len(shown):
                raise Invalid("report.category_no_such_number", number=number,
                              count=len(shown))
            chosen = shown[number - 1][1]
        elif intents.says_yes(answer.text):
            chosen = suggested
        elif no:
            chosen = intents.category_named(rest) if rest else None
            if chosen is None:
                turn.data.pop("_suggested", None)
                turn.say("report.pick_the_category")
                return "category"
        else:
            other = intents.category_named(answer.text)
            if other and other != suggested:
                turn.data["_suggested"] = other
                return "category_suggested"
    if chosen not in keys:
        raise Invalid("report.suggestion_tap")
    turn.data["category"] = chosen
    turn.data.pop("_suggested", None)
    return proceed(turn, _next(turn))


# --- description, households, severity -----------------------------------------------------

def _valid_description(text: str) -> str:
    description = normalize_text(text)
    if len(description) > DESCRIPTION_MAX:
        raise Invalid("report.description_too_long", max=DESCRIPTION_MAX)
    if len(description) < DESCRIPTION_MIN or sum(ch.isalnum() for ch in description) < 3:
        raise Invalid("report.description_too_short")
    return description


async def ask_description(turn: Turn) -> None:
    turn.ask(turn.t("report.ask_description"), _first_question(turn, []), nav=True)


async def answer_description(turn: Turn, answer: Answer) -> str:
    if answer.choice or not answer.text:
        raise Invalid("report.description_too_short")
    reading = intents.read(answer.text)
    if not reading.content:  # only a greeting, a question, thanks or filler
        raise Invalid("report.description_not_a_problem")
    turn.data["description"] = _valid_description(answer.text)
    if "category" not in turn.data and reading.category:
        turn.data["_suggested"] = reading.category
    return proceed(turn, _next(turn))


def _household_choices(turn: Turn) -> list[tuple[str, str]]:
    # "5 households", not "5": a bare number label would take a typed "-5" as the button.
    return [(turn.t("report.households_button", count=f"{n:,}"), str(n))
            for n in HOUSEHOLD_BUTTONS]


async def ask_severity(turn: Turn) -> None:
    turn.ask(turn.t("report.ask_severity"),
             [(turn.t(f"severity.{s}"), str(s)) for s in SEVERITIES])


async def answer_severity(turn: Turn, answer: Answer) -> str:
    if answer.choice not in {str(s) for s in SEVERITIES}:
        raise Invalid("input.use_buttons")
    turn.data["severity"] = int(answer.choice)
    return proceed(turn, "confirm" if _attached(turn) else "attachments")


# --- photo and location: one optional question ---------------------------------------------
#
# Either or both: a photo, or a shared (or typed "lat, lon") location, goes on to the
# confirmation screen, where the other can still be sent (or changed with its edit button);
# "skip", "none", "no" (typed in Thai or English) go on without. A report begun with a
# photo or a location at the menu skips this question.

async def ask_attachments(turn: Turn) -> None:
    turn.ask(turn.t("report.ask_attachments"), [(turn.t("common.skip"), SKIP)],
             expects="photo_or_location", nav=True)


async def answer_attachments(turn: Turn, answer: Answer) -> str:
    typed = parse_location(answer.text) if answer.text and not answer.choice else None
    if answer.photo or answer.photo_id or answer.location:
        turn.say(_attach(turn, answer))
    elif typed:
        turn.data["location"] = list(typed)
    elif not (answer.choice == SKIP or (answer.text and not answer.choice
                                        and intents.says_none(answer.text))):
        raise Invalid("report.attachments_expected")
    for key in ("photo", "photo_id", "location"):
        turn.data.setdefault(key, None)
    return proceed(turn, "confirm")


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
    ) + ("" if (d.get("photo") or d.get("photo_id")) and location
         else "\n" + turn.t("report.summary_attach_hint"))


async def _save(turn: Turn) -> str:
    d = turn.data
    assert turn.person is not None
    if corrections.correcting(turn, "problem") is not None:
        return await _save_correction(turn)
    try:
        lineage = await check(turn.conn, turn.grants, Action.REPORT_PROBLEM, d["village"])
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
        village=area_names.bilingual(lineage, depth=2),
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
        "village": _attaching(Step(ask_village, answer_village)),
        "category": _attaching(Step(ask_category, answer_category, help_key="help.category")),
        "category_suggested": _attaching(Step(ask_category_suggested,
                                              answer_category_suggested)),
        "description": _attaching(Step(ask_description, answer_description)),
        "households": _attaching(number_step(
            "households", "report.ask_households", "severity", minimum=1,
            maximum=HOUSEHOLDS_MAX, help_key="help.households", choices=_household_choices)),
        "severity": _attaching(Step(ask_severity, answer_severity)),
        "attachments": Step(ask_attachments, answer_attachments, help_key="help.attachments"),
        # Asked from the confirmation screen's edit buttons (and for drafts saved there).
        "photo": photo_step("photo", "report.ask_photo", "location"),
        "location": location_step("location", "report.ask_location", "confirm"),
        "confirm": _confirm_attaching(confirm_step(_summary, EDITABLE, _save,
                                                   save_label="report.save",
                                                   attach="photo_or_location")),
    },
)
