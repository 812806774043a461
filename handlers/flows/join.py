"""Joining with an invite code: the code fixes the role and the area; nobody picks their own."""

from __future__ import annotations

from handlers import area_names, line_menus, privacy
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.invites import RedeemError, looks_like_code, redeem
from handlers.permissions import Role
from handlers.thai_input import normalize_text
from handlers.turn import Answer, Invalid, Turn
from storage import areas, people

NAME_MAX = 80


async def begin(turn: Turn) -> str | None:
    opening = str(turn.data.get("_opening", {}).get("text", ""))
    if opening and looks_like_code(opening):
        try:
            return await _redeem(turn, opening)
        except Invalid as bad:
            turn.say(bad.key, **bad.params)
    elif turn.person is None and opening:
        turn.say("join.welcome")
    return "code"


async def ask_code(turn: Turn) -> None:
    turn.ask(turn.t("join.ask_code"))


async def answer_code(turn: Turn, answer: Answer) -> str:
    if not answer.text:
        raise Invalid("join.error.empty")
    return await _redeem(turn, answer.text)


async def _redeem(turn: Turn, text: str) -> str:
    notice = await privacy.before_grant(turn, text)  # PDPA notice, before the role
    try:
        joined = await redeem(turn.conn, turn.identity, text, turn.language, turn.now)
    except RedeemError as refused:
        raise Invalid(f"join.error.{refused.reason}") from None
    await privacy.after_grant(turn, notice, joined.person_id)
    turn.person = await people.person(turn.conn, joined.person_id)
    turn.grants = await people.grants_of(turn.conn, joined.person_id)
    await line_menus.queue_link(turn.conn, joined.person_id, turn.now)  # their role's menu
    lineage = await areas.lineage(turn.conn, joined.invite.area_code)
    turn.data["joined"] = {"role": joined.invite.role,
                           "area": area_names.title(lineage, turn.language)}
    if joined.new_person:
        return "name"
    _welcome(turn)
    return END


async def ask_name(turn: Turn) -> None:
    turn.ask(turn.t("join.ask_name"))


async def answer_name(turn: Turn, answer: Answer) -> str:
    name = normalize_text(answer.text)
    if not 2 <= len(name) <= NAME_MAX or not any(ch.isalpha() for ch in name):
        raise Invalid("join.error.name", max=NAME_MAX)
    assert turn.person is not None
    await people.set_display_name(turn.conn, turn.person.id, name)
    turn.person = await people.person(turn.conn, turn.person.id)
    _welcome(turn)
    return END


def _welcome(turn: Turn) -> None:
    joined = turn.data["joined"]
    turn.say("join.joined", name=turn.person.display_name if turn.person else "",
             role=turn.t(f"role.{joined['role']}"), area=joined["area"])


FLOW = Flow(
    name="join",
    title_key="flow.join",
    menu=MenuEntry(frozenset(Role), "menu.join", 90, menu_after=True),
    begin=begin,
    steps={
        "code": Step(ask_code, answer_code, help_key="help.join"),
        "name": Step(ask_name, answer_name),
    },
)
