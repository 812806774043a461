"""Each person may pause their own reminders; a core team switches its tambon's kinds
of reminders on and off."""

from __future__ import annotations

from datetime import timedelta

from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Role, areas_with_role
from handlers.steps import multi_select_step
from handlers.turn import Answer, Invalid, Turn, label_key
from locales import format_date
from storage import audit
from storage import reminders as reminders_repo

PAUSES = {"week": timedelta(days=7), "month": timedelta(days=30), "forever": None}
TAMBON_KINDS = ("weekly_progress", "overdue_items", "core_digest", "decider_digest",
                "forum_monthly", "lessons_due")


ON, PAUSED_FOREVER, PAUSED_UNTIL = "on", "paused_forever", "paused_until"


async def _state(turn: Turn) -> tuple[str, str]:
    """The person's reminders now: (ON | PAUSED_FOREVER | PAUSED_UNTIL, as they read it)."""
    assert turn.person is not None
    paused, until = await reminders_repo.paused_until(turn.conn, turn.person.id)
    if not paused or (until is not None and until <= turn.now):
        return ON, turn.t("reminders.status_on")
    if until is None:
        return PAUSED_FOREVER, turn.t("reminders.status_paused_forever")
    return PAUSED_UNTIL, turn.t("reminders.status_paused_until",
                                date=format_date(local_date(until), turn.language))


async def _status(turn: Turn) -> str:
    return (await _state(turn))[1]


def _offered(state: str) -> list[str]:
    """What may be chosen: "resume" only while paused, no pause that is already so."""
    pauses = [key for key in PAUSES if not (state == PAUSED_FOREVER and key == "forever")]
    return pauses if state == ON else ["resume", *pauses]


def _label(turn: Turn, choice: str) -> str:
    return turn.t("reminders.resume" if choice == "resume" else f"reminders.pause.{choice}")


# --- a person's own reminders -----------------------------------------------------------------

async def begin_personal(turn: Turn) -> str | None:
    return "choice" if turn.person else None


async def ask_personal(turn: Turn) -> None:
    state, status = await _state(turn)
    choices = [(_label(turn, key), key) for key in _offered(state)]
    turn.ask(f"{status}\n{turn.t('reminders.ask')}", choices)


async def answer_personal(turn: Turn, answer: Answer) -> str:
    assert turn.person is not None
    state, _ = await _state(turn)
    choice = answer.choice
    if choice is None and answer.text:  # typed: what is not offered now is explained
        typed = label_key(answer.text)
        choice = next((key for key in ("resume", *PAUSES)
                       if label_key(_label(turn, key)) == typed), None)
    if choice is not None and choice not in _offered(state):
        raise Invalid("reminders.already_on" if choice == "resume"
                      else "reminders.already_paused")
    if choice == "resume":
        await reminders_repo.resume(turn.conn, turn.person.id)
    elif choice in PAUSES:
        span = PAUSES[choice]
        await reminders_repo.pause(turn.conn, turn.person.id,
                                   turn.now + span if span else None, turn.now)
    else:
        raise Invalid("input.use_buttons")
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="reminders.personal", entity="person", entity_id=turn.person.id,
                       to_state=choice)
    turn.say_text(await _status(turn))
    return END


PERSONAL = Flow(
    name="reminder_settings",
    title_key="reminders.title",
    menu=MenuEntry(frozenset(Role) - {Role.ADMIN}, "reminders.menu", 92),
    begin=begin_personal,
    steps={"choice": Step(ask_personal, answer_personal)},
)


# --- a tambon's kinds of reminders (core team) ----------------------------------------------

async def begin_tambon(turn: Turn) -> str | None:
    tambons = areas_with_role(turn.grants, Role.CORE_TEAM)
    if not tambons:
        return None
    switches = await reminders_repo.tambon_switches(turn.conn, tambons[0])
    turn.data["tambons"] = tambons
    turn.data["on"] = [k for k in TAMBON_KINDS if switches.get(k, True)]
    return "kinds"


async def _kinds(turn: Turn) -> list[tuple[str, str]]:
    return [(turn.t(f"reminders.kind.{k}"), k) for k in TAMBON_KINDS]


async def _apply_tambon(turn: Turn, answer: Answer) -> str:
    assert turn.person is not None
    chosen = set(turn.data.get("on", []))
    for tambon in turn.data["tambons"]:
        for kind in TAMBON_KINDS:
            await reminders_repo.set_tambon_switch(turn.conn, tambon, kind, kind in chosen,
                                                   turn.person.id, turn.now)
        await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                           action="reminders.tambon", entity="area", entity_id=tambon,
                           detail={"on": sorted(chosen)})
    turn.say("reminders.tambon_saved", count=len(chosen))
    return END


_kinds_step = multi_select_step("on", "reminders.tambon_ask", _kinds, "apply")


async def _kinds_answer(turn: Turn, answer: Answer) -> str:
    next_step = await _kinds_step.answer(turn, answer)
    return await _apply_tambon(turn, answer) if next_step == "apply" else next_step


TAMBON = Flow(
    name="tambon_reminders",
    title_key="reminders.tambon_title",
    menu=MenuEntry(frozenset({Role.CORE_TEAM}), "reminders.tambon_menu", 93),
    begin=begin_tambon,
    steps={"kinds": Step(_kinds_step.ask, _kinds_answer)},
)

FLOWS = (PERSONAL, TAMBON)
