"""Where each support request of the village stands (village committee): the list of
its requests with who holds each now, then one request's whole history. The wording
of statuses and history lines is handlers/support_wording.py, shared with the desks."""

from __future__ import annotations

from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Action, Role, areas_with_role, permitted
from handlers.support_wording import baht, event_line, holder_text, item_title, status_text
from handlers.turn import NAV_PREFIX, Answer, Invalid, Turn
from storage import support_requests
from storage.support_requests import SupportRequest

BACK_TO_LIST, DONE = "list", "done"


# --- the village's view -------------------------------------------------------------------------

async def _readable(turn: Turn, village_code: str) -> bool:
    return await permitted(turn.conn, turn.grants, Action.READ_CYCLE, village_code)


async def _requests(turn: Turn) -> list[SupportRequest]:
    found: list[SupportRequest] = []
    for village in areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        if await _readable(turn, village):
            found += await support_requests.of_village(turn.conn, village)
    return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)


async def begin(turn: Turn) -> str | None:
    if not areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        turn.say("support.not_allowed")
        return None
    if not await _requests(turn):
        turn.say("support.status_none")
        return None
    return "list"


async def ask_list(turn: Turn) -> None:
    requests = await _requests(turn)
    if not requests:
        turn.ask(turn.t("support.status_none"), [(turn.t("support.to_menu"), f"{NAV_PREFIX}menu")])
        return
    lines, buttons = [], []
    for request in requests:
        title = await item_title(turn, request)
        lines.append(turn.t("support.status_line", id=request.id, title=title,
                            amount=baht(request.amount_requested),
                            status=status_text(turn, request),
                            holder=holder_text(turn, request)))
        buttons.append((turn.t("support.request_button", id=request.id, title=title),
                        str(request.id)))
    turn.ask(turn.t("support.status_list", lines="\n".join(lines)), buttons)


async def answer_list(turn: Turn, answer: Answer) -> str:
    if answer.choice not in {str(r.id) for r in await _requests(turn)}:
        raise Invalid("input.use_buttons")
    turn.data["request"] = int(answer.choice)
    return "detail"


async def _shown_request(turn: Turn) -> SupportRequest | None:
    request = await support_requests.get(turn.conn, int(turn.data.get("request") or 0))
    if request is None or not await _readable(turn, request.village_code):
        return None
    return request


async def ask_detail(turn: Turn) -> None:
    buttons = [(turn.t("support.back_to_list"), BACK_TO_LIST), (turn.t("common.done"), DONE)]
    request = await _shown_request(turn)
    if request is None:
        turn.ask(turn.t("support.request_not_allowed"), buttons)
        return
    lines = [event_line(turn, e) for e in await support_requests.history(turn.conn, request.id)]
    turn.ask(turn.t("support.history", id=request.id, title=await item_title(turn, request),
                    amount=baht(request.amount_requested), status=status_text(turn, request),
                    holder=holder_text(turn, request), purpose=request.purpose,
                    lines="\n".join(lines)), buttons)


async def answer_detail(turn: Turn, answer: Answer) -> str:
    if answer.choice == BACK_TO_LIST:
        return "list"
    if answer.choice == DONE:
        return END
    raise Invalid("input.use_buttons")


FLOW = Flow(
    name="support_status",
    title_key="support.flow.status",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "support.status_menu", 37,
                   then=("support_request", "progress")),
    begin=begin,
    steps={
        "list": Step(ask_list, answer_list),
        "detail": Step(ask_detail, answer_detail),
    },
)
