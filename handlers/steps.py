"""Step builders shared by the flows: a date, a number, an amount in baht, a free text,
a choice, a multi-select, a photo, a location, a confirmation screen. Each returns a
`Step` that stores its answer under a key of the conversation data and goes on to
`next_step` (or back to the confirmation screen when the person came from it to edit).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from handlers import area_names
from handlers.clock import local_date
from handlers.flow import Step, proceed
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role, check
from handlers.thai_input import (
    BE_OFFSET,
    DATE_BAD_YEAR,
    DATE_NO_SUCH_DAY,
    DATE_NO_SUCH_MONTH,
    DATE_NOT_LEAP,
    NUMBER_SEVERAL,
    NUMBER_VAGUE,
    is_skip_word,
    normalize_text,
    parse_number,
    read_date,
    read_number,
    to_arabic_digits,
)
from handlers.turn import NAV_PREFIX, Answer, Invalid, Turn
from storage import areas

Options = Callable[[Turn], Awaitable[list[tuple[str, str]]]]
Summary = Callable[[Turn], Awaitable[str]]
Save = Callable[[Turn], Awaitable[str]]
Check = Callable[[Turn, Any], None]
Route = Callable[[Turn], Awaitable[str]]  # the step to ask next, from the answers so far
Hook = Callable[[Turn, dict[str, Any]], None]

SKIP = "skip"
DONE = "done"
TODAY = "today"
CLEAR_OTHER = "clear_other"  # a multi-select's button that forgets the typed "other"
PAST, FUTURE = "past", "future"  # the dates a date step takes: up to today, from today
_DATE_HELP = {None: "help.date", PAST: "help.date_past", FUTURE: "help.date_future"}
_DATE_INVALID = {None: "input.date_invalid", PAST: "input.date_invalid_past",
                 FUTURE: "input.date_invalid_future"}
# Channels that show a question's buttons numbered, where typing the number answers.
NUMBERED_CHANNELS = frozenset({"console"})
TYPED_SHOWN = 30  # characters of a typed answer quoted back in an explanation
# The questions that may be left out by typing "none" (question key -> field): filled as
# the flows are built, so a test can check that every one of them takes it.
OPTIONAL_QUESTIONS: dict[str, str] = {}


def _optional(question: str | Callable[[Turn], str], field: str) -> None:
    OPTIONAL_QUESTIONS[question if isinstance(question, str) else field] = field
_LAT_LON = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[, ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


def _question(turn: Turn, key: str | Callable[[Turn], str]) -> str:
    return key(turn) if callable(key) else turn.t(key)


def _earlier(turn: Turn, field: str, show: Callable[[Any], str] = str) -> str:
    """The answer stored under `field` as the person reads it, offered to keep when they
    come back to its question; "" when there is none."""
    if field not in turn.data:
        return ""
    value = turn.data[field]
    return turn.t("nav.previous_skipped") if value in (None, "", []) else show(value)


def date_step(field: str, question: str | Callable[[Turn], str], next_step: str, *,
              not_before: str | None = None, help_key: str | None = None,
              check: Check | None = None, when: str | None = None) -> Step:
    """A date: Buddhist-Era or Christian-Era, Thai or Arabic digits, relative words.
    `not_before` names another date field this one may not precede. `when`: PAST (today
    or earlier, e.g. the day a forum was held), FUTURE (today or later, e.g. the end of a
    plan being opened) or None (any day); its hints offer only words that fit it
    ("yesterday" for PAST, "tomorrow" for FUTURE)."""

    async def ask(turn: Turn) -> None:
        turn.ask(_question(turn, question), [(turn.t("common.today"), TODAY)], expects="date",
                 nav=True, previous=_earlier(turn, field, lambda iso: _be(iso, turn)))

    async def answer(turn: Turn, given: Answer) -> str:
        today = local_date(turn.now)
        day = today if given.choice == TODAY else _typed_date(turn, given.text, today, when)
        if when == PAST and day > today:
            raise Invalid("input.date_in_future", date=_be(day.isoformat(), turn),
                          today=_be(today.isoformat(), turn))
        if when == FUTURE and day < today:
            raise Invalid("input.date_in_past", date=_be(day.isoformat(), turn),
                          today=_be(today.isoformat(), turn))
        if not_before and turn.data.get(not_before) and day < date.fromisoformat(
                turn.data[not_before]):
            raise Invalid("input.date_before", other=_be(turn.data[not_before], turn))
        if check:
            check(turn, day)
        turn.data[field] = day.isoformat()
        return proceed(turn, next_step)

    return Step(ask, answer, help_key=help_key or _DATE_HELP[when])


def _typed_date(turn: Turn, text: str, today: date, when: str | None) -> date:
    """The date typed, or an explanation of what is wrong with it: a day the month does
    not have ("31 Feb"), the 29th of February in a year without it, a 13th month, a year
    of the wrong length; otherwise how a date may be typed."""
    reading = read_date(text, today)
    if reading.day is not None:
        return reading.day
    if reading.reason in (DATE_NO_SUCH_DAY, DATE_NOT_LEAP) and reading.year is not None:
        key = "input.date_not_leap" if reading.reason == DATE_NOT_LEAP else \
            "input.date_no_such_day"
        raise Invalid(key, day=reading.day_of_month, days=reading.month_days,
                      month=turn.t(f"month.name.{reading.month}"),
                      year=reading.year + BE_OFFSET)
    if reading.reason == DATE_NO_SUCH_MONTH:
        raise Invalid("input.date_no_such_month", month=reading.month)
    if reading.reason == DATE_BAD_YEAR:
        raise Invalid("input.date_bad_year")
    raise Invalid(_DATE_INVALID[when])


def _be(iso: str, turn: Turn) -> str:
    from locales import format_date

    return format_date(date.fromisoformat(iso), turn.language)


def _typed_number(raw: str | None, not_understood: str) -> Any:
    """The number typed (a Decimal), or why it is not one number: "more than fifty",
    "45 households 3 people", otherwise `not_understood`."""
    reading = read_number(raw or "")
    if reading.value is not None:
        return reading.value
    if reading.reason == NUMBER_VAGUE:
        raise Invalid("input.number_vague")
    if reading.reason == NUMBER_SEVERAL:
        raise Invalid("input.number_several")
    raise Invalid(not_understood)


def skipped(given: Answer) -> bool:
    """The person typed "none", "no", "-", "skip" (Thai or English) to leave out an
    optional question."""
    return not given.choice and not given.photo and is_skip_word(given.text)


def number_step(field: str, question: str | Callable[[Turn], str], next_step: str, *,
                minimum: int, maximum: int, help_key: str | None = None,
                choices: Callable[[Turn], list[tuple[str, str]]] | None = None) -> Step:
    """A whole number in a range; Thai digits and number words are read too."""

    async def ask(turn: Turn) -> None:
        turn.ask(_question(turn, question), choices(turn) if choices else [], expects="number",
                 nav=True, previous=_earlier(turn, field, lambda n: f"{n:,}"))

    async def answer(turn: Turn, given: Answer) -> str:
        raw = given.choice if given.choice is not None else given.text
        value = _typed_number(raw, "input.number_invalid")
        if value != value.to_integral_value():
            raise Invalid("input.number_whole", value=value)
        if not minimum <= value <= maximum:
            raise Invalid("input.number_range", minimum=f"{minimum:,}", maximum=f"{maximum:,}")
        turn.data[field] = int(value)
        return proceed(turn, next_step)

    return Step(ask, answer, help_key=help_key)


def amount_step(field: str, question: str | Callable[[Turn], str], next_step: str, *,
                minimum: int = 0, maximum: int = 1_000_000_000,
                zero_label: str | None = None) -> Step:
    """An amount in baht: digits (Thai or Arabic), separators, number words; whole baht.
    With `zero_label` (a "none" button), "none" typed is 0."""
    if zero_label:
        _optional(question, field)

    async def ask(turn: Turn) -> None:
        choices = [(turn.t(zero_label), "0")] if zero_label else []
        turn.ask(_question(turn, question), choices, expects="number", nav=True,
                 previous=_earlier(turn, field, lambda baht: turn.t("nav.previous_baht",
                                                                    amount=f"{baht:,}")))

    async def answer(turn: Turn, given: Answer) -> str:
        raw = given.choice if given.choice is not None else given.text
        if zero_label and skipped(given):  # "none" where a "none" button is shown
            raw = "0"
        value = _typed_number(raw, "input.amount_invalid")
        baht = int(value.quantize(1))
        if not minimum <= baht <= maximum:
            raise Invalid("input.amount_range", minimum=f"{minimum:,}", maximum=f"{maximum:,}")
        turn.data[field] = baht
        return proceed(turn, next_step)

    return Step(ask, answer, help_key="help.amount")


def text_step(field: str, question: str | Callable[[Turn], str], next_step: str, *,
              min_length: int = 2, max_length: int = 500, optional: bool = False) -> Step:
    """Free text, where the answer is truly free; `optional`: "skip" or "none" leaves it
    empty."""
    if optional:
        _optional(question, field)

    async def ask(turn: Turn) -> None:
        turn.ask(_question(turn, question), [(turn.t("common.skip"), SKIP)] if optional else [],
                 nav=True, previous=_earlier(turn, field))

    async def answer(turn: Turn, given: Answer) -> str:
        if optional and (given.choice == SKIP or skipped(given)):
            turn.data[field] = ""
            return proceed(turn, next_step)
        text = normalize_text(given.text) if not given.choice else ""
        if len(text) > max_length:
            raise Invalid("input.text_too_long", max=max_length)
        if len(text) < min_length or sum(ch.isalnum() for ch in text) < min(2, min_length):
            raise Invalid("input.text_too_short")
        turn.data[field] = text
        return proceed(turn, next_step)

    return Step(ask, answer)


def choice_step(field: str, question: str | Callable[[Turn], str], options: Options,
                next_step: str | Callable[[Turn], str], *, help_key: str | None = None) -> Step:
    """One of the buttons; anything else is explained and asked again."""

    async def ask(turn: Turn) -> None:
        shown = await options(turn)
        labels = {value: label for label, value in shown}
        turn.ask(_question(turn, question), shown,
                 previous=_earlier(turn, field, lambda value: labels.get(value, "")))

    async def answer(turn: Turn, given: Answer) -> str:
        allowed = {value for _, value in await options(turn)}
        if given.choice not in allowed:
            raise Invalid("input.use_buttons")
        turn.data[field] = given.choice
        target = next_step(turn) if callable(next_step) else next_step
        return proceed(turn, target)

    return Step(ask, answer, help_key=help_key)


def multi_select_step(field: str, question: str | Callable[[Turn], str], options: Options,
                      next_step: str, *, other_field: str | None = None,
                      allow_none: bool = True) -> Step:
    """Several of the buttons: each press ticks or unticks one; "done" goes on. With
    `other_field`, typed text is kept as an "other" answer (a button forgets it). "None"
    typed goes on with nothing chosen when `allow_none`."""
    if allow_none:
        _optional(question, field)

    async def ask(turn: Turn) -> None:
        chosen = set(turn.data.get(field, []))
        buttons = [(("✅ " if value in chosen else "") + label, value)
                   for label, value in await options(turn)]
        buttons.append((turn.t("common.done"), DONE))
        extra = turn.data.get(other_field) if other_field else None
        text = _question(turn, question)
        if extra:
            text += "\n" + turn.t("common.other_noted", other=extra)
            buttons.append((turn.t("common.remove_other"), CLEAR_OTHER))
        # The ticks show the earlier answer, and "done" keeps it.
        turn.ask(text, buttons, nav=bool(other_field), previous="")

    async def answer(turn: Turn, given: Answer) -> str:
        allowed = {value for _, value in await options(turn)}
        chosen: list[str] = list(turn.data.get(field, []))
        if given.choice == DONE:
            if not chosen and not allow_none and not (other_field and turn.data.get(other_field)):
                raise Invalid("input.pick_at_least_one")
            turn.data[field] = chosen
            return proceed(turn, next_step)
        if given.choice in allowed:
            if given.choice in chosen:
                chosen.remove(given.choice)
            else:
                chosen.append(given.choice)
            turn.data[field] = chosen
            return turn.convo.step or next_step  # ask again with the ticks updated
        if given.choice == CLEAR_OTHER and other_field:
            turn.data.pop(other_field, None)
            return turn.convo.step or next_step
        if skipped(given):  # "none": nothing of these, when that may be the answer
            if chosen or (other_field and turn.data.get(other_field)):
                raise Invalid("input.none_but_chosen")
            if not allow_none:
                raise Invalid("input.pick_at_least_one")
            turn.data[field] = []
            return proceed(turn, next_step)
        if other_field and given.text and not given.choice and parse_number(given.text) is None:
            text = normalize_text(given.text)
            if len(text) > 200:
                raise Invalid("input.text_too_long", max=200)
            if len(text) < 2:
                raise Invalid("input.text_too_short")
            turn.data[other_field] = text
            return turn.convo.step or next_step
        raise Invalid("input.use_buttons")

    return Step(ask, answer)


async def ask_committee_village(turn: Turn, question_key: str) -> None:
    """Which village, for people on more than one village committee."""
    choices = []
    for code in areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        area = await areas.get(turn.conn, code)
        if area:
            choices.append((area_names.title([area], turn.language, depth=1), code))
    turn.ask(turn.t(question_key), choices)


async def chosen_committee_village(turn: Turn, given: Answer, action: Action) -> str:
    """The village pressed, once the person may do `action` there."""
    if not given.choice:
        raise Invalid("input.use_buttons")
    try:
        await check(turn.conn, turn.grants, action, given.choice)
    except PermissionDenied:
        raise Invalid("input.use_buttons") from None
    return given.choice


def photo_step(field: str, question: str, next_step: str) -> Step:
    """An optional photo: its local copy in `field`, the platform's id in `field`_id."""
    _optional(question, field)

    async def ask(turn: Turn) -> None:
        sent = turn.data.get(field) or turn.data.get(f"{field}_id")
        turn.ask(turn.t(question), [(turn.t("common.skip"), SKIP)], expects="photo", nav=True,
                 previous=turn.t("nav.previous_photo") if sent else _earlier(turn, field))

    async def answer(turn: Turn, given: Answer) -> str:
        if given.photo or given.photo_id:
            turn.data[field], turn.data[f"{field}_id"] = given.photo, given.photo_id
        elif given.choice == SKIP or skipped(given):
            turn.data[field] = turn.data[f"{field}_id"] = None
        else:
            raise Invalid("input.photo_expected")
        return proceed(turn, next_step)

    return Step(ask, answer)


def parse_location(text: str) -> tuple[float, float] | None:
    match = _LAT_LON.match(to_arabic_digits(text))
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None


def location_step(field: str, question: str, next_step: str) -> Step:
    """An optional location: shared from the app, or typed as "lat, lon"."""
    _optional(question, field)

    async def ask(turn: Turn) -> None:
        turn.ask(turn.t(question), [(turn.t("common.skip"), SKIP)], expects="location",
                 nav=True, previous=_earlier(turn, field, lambda at: f"{at[0]:.5f}, {at[1]:.5f}"))

    async def answer(turn: Turn, given: Answer) -> str:
        typed = parse_location(given.text) if given.text else None
        if given.location:
            turn.data[field] = [given.location.latitude, given.location.longitude]
        elif typed:
            turn.data[field] = list(typed)
        elif given.choice == SKIP or skipped(given):
            turn.data[field] = None
        else:
            raise Invalid("input.location_expected")
        return proceed(turn, next_step)

    return Step(ask, answer, help_key="help.location")


def confirm_step(summary: Summary, editable: dict[str, str], save: Save, *,
                 save_label: str = "common.save", attach: str | None = None) -> Step:
    """The confirmation screen: save, edit any field (key: the step that asks it, value:
    its button's label key), or cancel. `save` returns the step after saving (END).
    `attach`: what the screen also takes when sent ("photo_or_location": the flow's
    answer attaches it), so a channel offers its pickers (LINE: camera, location)."""

    async def ask(turn: Turn) -> None:
        choices = [(turn.t(save_label), "save")]
        choices += [(turn.t(label), f"edit:{step}") for step, label in editable.items()]
        choices.append((turn.t("common.cancel"), f"{NAV_PREFIX}cancel"))
        turn.ask(await summary(turn), choices, expects="confirm", attach=attach)

    async def answer(turn: Turn, given: Answer) -> str:
        if given.choice and given.choice.startswith("edit:"):
            step = given.choice.removeprefix("edit:")
            if step in editable:
                turn.data["_return_to"] = turn.convo.step
                return step
        if given.choice != "save":
            raise Invalid("input.use_buttons")
        return await save(turn)

    return Step(ask, answer)


def explained(turn: Turn, given: Answer, bad: Invalid) -> Invalid:
    """A refusal made specific to what was sent: "use the buttons" for typed text says
    so (and, where buttons are numbered, which numbers there are); for a number, that it
    is not one of the buttons."""
    if bad.key != "input.use_buttons" or given.choice or not given.text:
        return bad
    count = len(turn.data.get("_choices") or {})
    numbered = turn.identity.channel in NUMBERED_CHANNELS and count > 0
    typed = normalize_text(given.text)[:TYPED_SHOWN]
    if parse_number(given.text) is not None:
        if numbered:
            return Invalid("input.no_such_button", number=typed, count=count)
        return Invalid("input.number_not_a_button", number=typed)
    if numbered:
        return Invalid("input.use_buttons_numbered", typed=typed, count=count)
    return Invalid("input.use_buttons_typed", typed=typed)


# --- steps around steps: routing by the answers so far, variants, confirming -------------

def routed(step: Step, route: Route, after: Hook | None = None) -> Step:
    """`step`, going on to wherever `route` says once answered: the first question still
    unanswered (which ones are needed depends on earlier answers), else the confirmation
    screen. So an edit from the confirmation screen that makes another answer necessary
    (an approach that needs a partner, a start after the end) asks that one too. `after`
    sees the data as it was before the answer, to drop answers that no longer fit."""

    async def answer(turn: Turn, given: Answer) -> str:
        before = dict(turn.data)
        result = await step.answer(turn, given)
        if result == turn.convo.step:  # the same question again (a tick in a multi-select)
            return result
        if after:
            after(turn, before)
        return await route(turn)

    return Step(step.ask, answer, step.help_key)


def variant_step(pick: Callable[[Turn], Awaitable[Step]]) -> Step:
    """A step that is one of several, chosen from the data when asked and answered (a
    confirmation screen whose edit buttons depend on the answers)."""

    async def ask(turn: Turn) -> None:
        await (await pick(turn)).ask(turn)

    async def answer(turn: Turn, given: Answer) -> str:
        return await (await pick(turn)).answer(turn, given)

    return Step(ask, answer)


def complete_first(route: Route, questions: dict[str, Step], confirm: Step) -> Step:
    """A confirmation screen that first asks any answer still missing: "back" from a
    question an edit made necessary (a partner, a new end date) returns here without it."""

    async def ask(turn: Turn) -> None:
        missing = await route(turn)
        if missing in questions:
            turn.convo.step = missing  # the question is asked in this screen's place
            await questions[missing].ask(turn)
            return
        await confirm.ask(turn)

    async def answer(turn: Turn, given: Answer) -> str:
        missing = await route(turn)
        return missing if missing in questions else await confirm.answer(turn, given)

    return Step(ask, answer)
