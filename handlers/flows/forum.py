"""Recording a community forum (village committee): when it was held, how many came,
which groups were there, which of the village's reported problems were discussed, short
notes and a photo, then a confirmation screen with edits. The tambon's core team is told
on save."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from handlers import area_names, corrections
from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step, proceed
from handlers.opening import open_action
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role, check
from handlers.steps import (
    PAST,
    ask_committee_village,
    chosen_committee_village,
    confirm_step,
    date_step,
    multi_select_step,
    number_step,
    photo_step,
    text_step,
)
from handlers.turn import Answer, DateText, Invalid, Turn
from locales import catalog, category_label, format_date
from storage import areas, audit, forums, problems

PARTICIPANTS_MAX = 10_000
NOTES_MAX = 1000
MAX_PAST = timedelta(days=2 * 366)  # an older date is almost surely a typo
PROBLEM_CHOICES = 10  # the latest reports; with "done" this stays within LINE's 13 buttons
GROUP_PREFIX = "forum.group."
GROUPS_MAX = 12


def group_keys() -> list[str]:
    """The groups a forum may gather: data in the locale fragment, in its order."""
    keys = [k.removeprefix(GROUP_PREFIX) for k in catalog("th") if k.startswith(GROUP_PREFIX)]
    return keys[:GROUPS_MAX]


async def begin(turn: Turn) -> str | None:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    if not villages:
        turn.say("forum.not_allowed")
        return None
    if len(villages) == 1:
        turn.data["village"] = villages[0]
        return "held_on"
    return "village"


# --- village (only for people on more than one village committee) -------------------------

async def ask_village(turn: Turn) -> None:
    await ask_committee_village(turn, "forum.ask_village")


async def answer_village(turn: Turn, answer: Answer) -> str:
    village = await chosen_committee_village(turn, answer, Action.RECORD_FORUM)
    if village != turn.data.get("village"):
        turn.data.pop("problems", None)  # another village's reports
    turn.data["village"] = village
    return proceed(turn, "held_on")


# --- date, groups, problems -------------------------------------------------------------------

def _check_held_on(turn: Turn, day: date) -> None:
    """A day in the future is refused by the date step itself (PAST)."""
    if day < local_date(turn.now) - MAX_PAST:
        raise Invalid("forum.date_too_old")


async def _group_choices(turn: Turn) -> list[tuple[str, str]]:
    return [(turn.t(f"{GROUP_PREFIX}{key}"), key) for key in group_keys()]


async def _village_problems(turn: Turn) -> list[problems.Problem]:
    village = turn.data["village"]
    try:
        await check(turn.conn, turn.grants, Action.READ_PROBLEMS, village)
    except PermissionDenied:
        return []  # saving checks again and says why
    return await problems.of_villages(turn.conn, [village], limit=PROBLEM_CHOICES)


def _problem_label(turn: Turn, problem: problems.Problem) -> str:
    return turn.t("forum.problem_label", id=problem.id,
                  category=category_label(problem.category, turn.language))


async def _problem_choices(turn: Turn) -> list[tuple[str, str]]:
    return [(_problem_label(turn, p), str(p.id)) for p in await _village_problems(turn)]


def _groups_step(step: Step) -> Step:
    """The groups step goes on to the problems, or past them when the village has no
    reports to pick from."""

    async def answer(turn: Turn, given: Answer) -> str:
        target = await step.answer(turn, given)
        if target == "problems" and not await _problem_choices(turn):
            turn.data["problems"] = []
            return "notes"
        return target

    return Step(step.ask, answer, step.help_key)


# --- confirmation and save ---------------------------------------------------------------------

EDITABLE = {"held_on": "forum.edit.date", "participants": "forum.edit.participants",
            "groups": "forum.edit.groups", "problems": "forum.edit.problems",
            "notes": "forum.edit.notes", "photo": "forum.edit.photo"}
EDITABLE_WITHOUT_PROBLEMS = {k: v for k, v in EDITABLE.items() if k != "problems"}


def _groups_text(turn: Turn) -> str:
    names = [turn.t(f"{GROUP_PREFIX}{key}") for key in turn.data.get("groups", [])
             if key in group_keys()]
    if turn.data.get("other_groups"):
        names.append(turn.data["other_groups"])
    return ", ".join(names) or turn.t("common.no")


async def _chosen_problems(turn: Turn) -> list[problems.Problem]:
    """The picked reports that are still the village's own."""
    village = turn.data["village"]
    found = []
    for raw in turn.data.get("problems", []):
        problem = await problems.get(turn.conn, int(raw)) if str(raw).isdigit() else None
        if problem and problem.village_code == village:
            found.append(problem)
    return found


async def _summary(turn: Turn) -> str:
    d = turn.data
    lineage = await areas.lineage(turn.conn, d["village"])
    discussed = [_problem_label(turn, p) for p in await _chosen_problems(turn)]
    return await corrections.heading(turn) + turn.t(
        "forum.summary",
        village=area_names.title(lineage, turn.language, depth=2),
        date=format_date(date.fromisoformat(d["held_on"]), turn.language),
        participants=f"{d['participants']:,}",
        groups=_groups_text(turn),
        problems=", ".join(discussed) or turn.t("common.no"),
        notes=d.get("notes") or turn.t("common.no"),
        photo=turn.t("common.yes" if d.get("photo") or d.get("photo_id") else "common.no"),
    )


async def _save(turn: Turn) -> str:
    d = turn.data
    assert turn.person is not None
    if corrections.correcting(turn, "forum") is not None:
        return await _save_correction(turn)
    try:
        await check(turn.conn, turn.grants, Action.RECORD_FORUM, d["village"])
    except PermissionDenied:
        raise Invalid("forum.not_allowed") from None
    held_on = date.fromisoformat(d["held_on"])
    discussed = [p.id for p in await _chosen_problems(turn)]
    forum_id = await forums.insert(
        turn.conn, village_code=d["village"], held_on=held_on, participants=d["participants"],
        groups_present=[g for g in d.get("groups", []) if g in group_keys()],
        other_groups=d.get("other_groups") or "", notes=d.get("notes") or "",
        photo_ref=d.get("photo"), photo_platform_id=d.get("photo_id"), problem_ids=discussed,
        reporter_id=turn.person.id, now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id, action="forum.record",
                       entity="forum", entity_id=forum_id, to_state="new",
                       detail={"village": d["village"], "problems": discussed})
    notification: dict[str, Any] = dict(
        id=forum_id,
        village=await area_names.bilingual_title(turn.conn, d["village"], depth=2),
        date=DateText(held_on),
        participants=f"{d['participants']:,}",
        problems=len(discussed),
        reporter=turn.person.display_name,
    )
    reach = await turn.notify_holders(
        Role.CORE_TEAM, d["village"][:6], "forum.notify",
        actions=[("open.button.review", open_action("review", "forum", forum_id))],
        **notification)
    delivery = await turn.delivery([reach], village_code=d["village"], kind="forum",
                                   entity_id=forum_id)
    turn.say_delivered(delivery, "forum.saved", id=forum_id)
    return END


# --- correcting a record the core team returned (handlers/corrections.py) ------------------

async def load_for_correction(turn: Turn, row: dict[str, Any]) -> str:
    """The stored forum in the conversation, for its confirmation screen."""
    try:
        groups = [g for g in json.loads(row.get("groups_present") or "[]") if isinstance(g, str)]
    except ValueError:
        groups = []
    turn.data.update(village=row["village_code"], held_on=row["held_on"],
                     participants=row["participants"], groups=groups,
                     other_groups=row.get("other_groups") or "",
                     problems=[str(p["id"]) for p in row.get("problems", [])],
                     notes=row.get("notes") or "", photo=row.get("photo_ref"),
                     photo_id=row.get("photo_platform_id"))
    return "confirm"


async def _save_correction(turn: Turn) -> str:
    old = await corrections.still_correctable(turn, "forum")
    if old is None:
        return END
    d = turn.data
    await forums.correct(
        turn.conn, old["id"], held_on=date.fromisoformat(d["held_on"]),
        participants=d["participants"],
        groups_present=[g for g in d.get("groups", []) if g in group_keys()],
        other_groups=d.get("other_groups") or "", notes=d.get("notes") or "",
        photo_ref=d.get("photo"), photo_platform_id=d.get("photo_id"),
        problem_ids=[p.id for p in await _chosen_problems(turn)])
    await corrections.resubmit(turn, "forum", old)
    return END


def _confirm() -> Step:
    """The confirmation screen; "edit problems" only where the village has reports."""
    with_problems = confirm_step(_summary, EDITABLE, _save, save_label="forum.save")
    without = confirm_step(_summary, EDITABLE_WITHOUT_PROBLEMS, _save, save_label="forum.save")

    async def variant(turn: Turn) -> Step:
        return with_problems if await _problem_choices(turn) else without

    async def ask(turn: Turn) -> None:
        await (await variant(turn)).ask(turn)

    async def answer(turn: Turn, given: Answer) -> str:
        return await (await variant(turn)).answer(turn, given)

    return Step(ask, answer)


FLOW = Flow(
    name="forum",
    title_key="forum.title",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "forum.menu", 20,
                   first={Role.VILLAGE_COMMITTEE: 4}, then=("plan", "problem_report")),
    begin=begin,
    steps={
        "village": Step(ask_village, answer_village),
        "held_on": date_step("held_on", "forum.ask_date", "participants",
                             check=_check_held_on, when=PAST),
        "participants": number_step("participants", "forum.ask_participants", "groups",
                                    minimum=1, maximum=PARTICIPANTS_MAX,
                                    help_key="forum.help.participants"),
        "groups": _groups_step(
            multi_select_step("groups", "forum.ask_groups", _group_choices, "problems",
                              other_field="other_groups", allow_none=False)),
        "problems": multi_select_step("problems", "forum.ask_problems", _problem_choices,
                                      "notes"),
        "notes": text_step("notes", "forum.ask_notes", "photo", max_length=NOTES_MAX,
                           optional=True),
        "photo": photo_step("photo", "forum.ask_photo", "confirm"),
        "confirm": _confirm(),
    },
)
