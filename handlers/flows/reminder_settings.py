"""Each person may pause their own reminders; a core team switches its tambon's kinds
of reminders on and off."""

from __future__ import annotations

from datetime import timedelta

from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Role, areas_with_role
from handlers.steps import multi_select_step
from handlers.turn import Answer, Invalid, Turn
from locales import format_date
from storage import audit
from storage import reminders as reminders_repo

PAUSES = {"week": timedelta(days=7), "month": timedelta(days=30), "forever": None}
TAMBON_KINDS = ("weekly_progress", "overdue_items", "core_digest", "decider_digest",
                "forum_monthly", "lessons_due")


async def _status(turn: Turn) -> str:
    assert turn.person is not None
    paused, until = await reminders_repo.paused_until(turn.conn, turn.person.id)
    if not paused or (until is not None and until <= turn.now):
        return turn.t("reminders.status_on")
    if until is None:
        return turn.t("reminders.status_paused_forever")
    return turn.t("reminders.status_paused_until",
                  date=format_date(local_date(until), turn.language))


# --- a person's own reminders -----------------------------------------------------------------

async def begin_personal(turn: Turn) -> str | None:
    return "choice" if turn.person else None


async def ask_personal(turn: Turn) -> None:
    choices = [(turn.t(f"reminders.pause.{key}"), key) for key in PAUSES]
    choices.append((turn.t("reminders.resume"), "resume"))
    turn.ask(f"{await _status(turn)}\n{turn.t('reminders.ask')}", choices)


async def answer_personal(turn: Turn, answer: Answer) -> str:
    assert turn.person is not None
    choice = answer.choice
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
