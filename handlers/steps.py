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
from handlers.thai_input import normalize_text, parse_date, parse_number, to_arabic_digits
from handlers.turn import NAV_PREFIX, Answer, Invalid, Turn
from storage import areas

Options = Callable[[Turn], Awaitable[list[tuple[str, str]]]]
Summary = Callable[[Turn], Awaitable[str]]
Save = Callable[[Turn], Awaitable[str]]
Check = Callable[[Turn, Any], None]

SKIP = "skip"
DONE = "done"
TODAY = "today"
_LAT_LON = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[, ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


def _question(turn: Turn, key: str | Callable[[Turn], str]) -> str:
    return key(turn) if callable(key) else turn.t(key)


def date_step(field: str, question: str | Callable[[Turn], str], next_step: str, *,
              not_before: str | None = None, help_key: str = "help.date",
              check: Check | None = None) -> Step:
    """A date: Buddhist-Era or Christian-Era, Thai or Arabic digits, relative words.
    `not_before` names another date field this one may not precede."""

    async def ask(turn: Turn) -> None:
        turn.ask(_question(turn, question), [(turn.t("common.today"), TODAY)], expects="date")

    async def answer(turn: Turn, given: Answer) -> str:
        today = local_date(turn.now)
        day = today if given.choice == TODAY else parse_date(given.text, today)
        if day is None:
            raise Invalid("input.date_invalid")
        if not_before and turn.data.get(not_before) and day < date.fromisoformat(
                turn.data[not_before]):
            raise Invalid("input.date_before", other=_be(turn.data[not_before], turn))
        if check:
            check(turn, day)
        turn.data[field] = day.isoformat()
        return proceed(turn, next_step)

    return Step(ask, answer, help_key=help_key)


def _be(iso: str, turn: Turn) -> str:
    from locales import format_date

    return format_date(date.fromisoformat(iso), turn.language)


def number_step(field: str, question: str | Callable[[Turn], str], next_step: str, *,
                minimum: int, maximum: int, help_key: str | None = None,
                choices: Callable[[Turn], list[tuple[str, str]]] | None = None) -> Step:
    """A whole number in a range; Thai digits and number words are read too."""

    async def ask(turn: Turn) -> None:
        turn.ask(_question(turn, question), choices(turn) if choices else [])

    async def answer(turn: Turn, given: Answer) -> str:
        raw = given.choice if given.choice is not None else given.text
        value = parse_number(raw) if raw else None
        if value is None or value != value.to_integral_value():
            raise Invalid("input.number_invalid")
        if not minimum <= value <= maximum:
            raise Invalid("input.number_range", minimum=f"{minimum:,}", maximum=f"{maximum:,}")
        turn.data[field] = int(value)
        return proceed(turn, next_step)

    return Step(ask, answer, help_key=help_key)


def amount_step(field: str, question: str | Callable[[Turn], str], next_step: str, *,
                minimum: int = 0, maximum: int = 1_000_000_000,
                zero_label: str | None = None) -> Step:
    """An amount in baht: digits (Thai or Arabic), separators, number words; whole baht."""

    async def ask(turn: Turn) -> None:
        choices = [(turn.t(zero_label), "0")] if zero_label else []
        turn.ask(_question(turn, question), choices)

    async def answer(turn: Turn, given: Answer) -> str:
        raw = given.choice if given.choice is not None else given.text
        value = parse_number(raw) if raw else None
        if value is None:
            raise Invalid("input.amount_invalid")
        baht = int(value.quantize(1))
        if not minimum <= baht <= maximum:
            raise Invalid("input.amount_range", minimum=f"{minimum:,}", maximum=f"{maximum:,}")
        turn.data[field] = baht
        return proceed(turn, next_step)

    return Step(ask, answer, help_key="help.amount")


def text_step(field: str, question: str | Callable[[Turn], str], next_step: str, *,
              min_length: int = 2, max_length: int = 500, optional: bool = False) -> Step:
    """Free text, where the answer is truly free."""

    async def ask(turn: Turn) -> None:
        turn.ask(_question(turn, question), [(turn.t("common.skip"), SKIP)] if optional else [])

    async def answer(turn: Turn, given: Answer) -> str:
        if optional and given.choice == SKIP:
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
        turn.ask(_question(turn, question), await options(turn))

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
    `other_field`, typed text is kept as an "other" answer."""

    async def ask(turn: Turn) -> None:
        chosen = set(turn.data.get(field, []))
        buttons = [(("✅ " if value in chosen else "") + label, value)
                   for label, value in await options(turn)]
        buttons.append((turn.t("common.done"), DONE))
        extra = turn.data.get(other_field) if other_field else None
        text = _question(turn, question)
        if extra:
            text += "\n" + turn.t("common.other_noted", other=extra)
        turn.ask(text, buttons)

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
        if other_field and given.text and not given.choice:
            text = normalize_text(given.text)
            if not 2 <= len(text) <= 200:
                raise Invalid("input.text_too_long", max=200)
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

    async def ask(turn: Turn) -> None:
        turn.ask(turn.t(question), [(turn.t("common.skip"), SKIP)], expects="photo")

    async def answer(turn: Turn, given: Answer) -> str:
        if given.photo or given.photo_id:
            turn.data[field], turn.data[f"{field}_id"] = given.photo, given.photo_id
        elif given.choice == SKIP:
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

    async def ask(turn: Turn) -> None:
        turn.ask(turn.t(question), [(turn.t("common.skip"), SKIP)], expects="location")

    async def answer(turn: Turn, given: Answer) -> str:
        typed = parse_location(given.text) if given.text else None
        if given.location:
            turn.data[field] = [given.location.latitude, given.location.longitude]
        elif typed:
            turn.data[field] = list(typed)
        elif given.choice == SKIP:
            turn.data[field] = None
        else:
            raise Invalid("input.location_expected")
        return proceed(turn, next_step)

    return Step(ask, answer, help_key="help.location")


def confirm_step(summary: Summary, editable: dict[str, str], save: Save, *,
                 save_label: str = "common.save") -> Step:
    """The confirmation screen: save, edit any field (key: the step that asks it, value:
    its button's label key), or cancel. `save` returns the step after saving (END)."""

    async def ask(turn: Turn) -> None:
        choices = [(turn.t(save_label), "save")]
        choices += [(turn.t(label), f"edit:{step}") for step, label in editable.items()]
        choices.append((turn.t("common.cancel"), f"{NAV_PREFIX}cancel"))
        turn.ask(await summary(turn), choices, expects="confirm")

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
