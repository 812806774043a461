"""The tambon's auto-forward threshold (TAO): support requests asking for more than it
go straight to the district. Shows the current amount, asks the new one, confirms."""

from __future__ import annotations

from handlers import area_names
from handlers.flow import END, Flow, MenuEntry, Step, proceed
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role, check
from handlers.steps import amount_step, confirm_step
from handlers.support_wording import baht
from handlers.turn import Answer, Invalid, Turn
from storage import areas, audit, tambon_settings

THRESHOLD_MAX = 1_000_000_000


async def _may_set(turn: Turn, tambon: str) -> bool:
    try:
        await check(turn.conn, turn.grants, Action.SET_TAMBON_THRESHOLD, tambon)
    except PermissionDenied:
        return False
    return True


async def _tambons(turn: Turn) -> list[str]:
    return [code for code in areas_with_role(turn.grants, Role.TAO)
            if await _may_set(turn, code)]


async def _choose(turn: Turn, tambon: str) -> None:
    turn.data["tambon"] = tambon
    turn.data["current"] = await tambon_settings.threshold(turn.conn, tambon)
    turn.data["tambon_name"] = area_names.title(await areas.lineage(turn.conn, tambon),
                                                turn.language, depth=2)


async def begin(turn: Turn) -> str | None:
    tambons = await _tambons(turn)
    if not tambons:
        turn.say("support.threshold.not_allowed")
        return None
    if len(tambons) > 1:
        return "tambon"
    await _choose(turn, tambons[0])
    return "amount"


async def ask_tambon(turn: Turn) -> None:
    choices = []
    for code in await _tambons(turn):
        lineage = await areas.lineage(turn.conn, code)
        choices.append((area_names.title(lineage, turn.language, depth=2), code))
    turn.ask(turn.t("support.threshold.ask_tambon"), choices)


async def answer_tambon(turn: Turn, answer: Answer) -> str:
    if answer.choice not in await _tambons(turn):
        raise Invalid("input.use_buttons")
    await _choose(turn, answer.choice)
    return proceed(turn, "amount")


def _ask_amount(turn: Turn) -> str:
    return turn.t("support.threshold.ask", tambon=turn.data.get("tambon_name", ""),
                  current=baht(turn.data.get("current")))


async def _summary(turn: Turn) -> str:
    d = turn.data
    return turn.t("support.threshold.summary", tambon=d.get("tambon_name", ""),
                  current=baht(d.get("current")), amount=baht(d["threshold"]))


async def _save(turn: Turn) -> str:
    assert turn.person is not None
    tambon = str(turn.data["tambon"])
    if not await _may_set(turn, tambon):
        turn.say("support.threshold.not_allowed")
        return END
    old = await tambon_settings.threshold(turn.conn, tambon)
    new = int(turn.data["threshold"])
    await tambon_settings.set_threshold(turn.conn, tambon, new, person_id=turn.person.id,
                                        now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="tambon.auto_forward_threshold", entity="tambon",
                       entity_id=tambon, from_state=str(old), to_state=str(new))
    turn.say("support.threshold.saved", amount=baht(new))
    return END


FLOW = Flow(
    name="tao_threshold",
    title_key="support.flow.threshold",
    menu=MenuEntry(frozenset({Role.TAO}), "support.threshold_menu", 54,
                   first={Role.TAO: 4}, then=("tao_queue",)),
    begin=begin,
    steps={
        "tambon": Step(ask_tambon, answer_tambon),
        "amount": amount_step("threshold", _ask_amount, "confirm", minimum=1,
                              maximum=THRESHOLD_MAX),
        "confirm": confirm_step(_summary, {"amount": "support.threshold.edit"}, _save),
    },
)
