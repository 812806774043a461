"""Where each support request of the village stands (village committee): the list of
its requests with who holds each now, then one request's whole history. The wording
of statuses and history lines lives here and is shared by the TAO and district desks."""

from __future__ import annotations

from typing import Any

from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role, check
from handlers.thai_input import format_baht
from handlers.turn import NAV_PREFIX, Answer, Invalid, Localized, Turn
from locales import format_date
from storage import plans, support_requests
from storage.connection import Connection
from storage.support_requests import (
    FORWARDED,
    FUNDED,
    RETURNED,
    SUBMITTED,
    Event,
    SupportRequest,
)

# Who holds a request in each status: the TAO, the district, the village again, nobody.
HOLDERS = {SUBMITTED: "tambon", FORWARDED: "district", RETURNED: "village", FUNDED: "closed"}
BACK_TO_LIST, DONE = "list", "done"


# --- wording shared with the desks -----------------------------------------------------------

def baht(amount: int | None) -> str:
    return format_baht(amount or 0)


def status_param(request: SupportRequest) -> Localized:
    """The request's status, rendered in the reader's language."""
    if request.status == FUNDED:
        return Localized("support.status.funded", {"amount": baht(request.amount_granted)})
    return Localized(f"support.status.{request.status}")


def status_text(turn: Turn, request: SupportRequest) -> str:
    status = status_param(request)
    return turn.t(status.key, **status.params)


def holder_text(turn: Turn, request: SupportRequest) -> str:
    return turn.t(f"support.holder.{HOLDERS.get(request.status, 'closed')}")


def tao_note_text(turn: Turn, note: str | None) -> str:
    threshold = support_requests.auto_threshold(note)
    if threshold is not None:
        return turn.t("support.auto_note", threshold=baht(threshold))
    return note or turn.t("support.no_note")


def event_line(turn: Turn, event: Event) -> str:
    day = format_date(local_date(event.at), turn.language)
    by = turn.t(f"support.by.{event.level}")
    if event.from_status == RETURNED:  # corrected by the village and sent again
        return turn.t("support.event.resubmitted", date=day, by=by, amount=baht(event.amount))
    if event.to_status == SUBMITTED:
        return turn.t("support.event.submitted", date=day, amount=baht(event.amount))
    if event.to_status == FORWARDED:
        threshold = event.auto_threshold()
        if threshold is not None:
            return turn.t("support.event.auto_forwarded", date=day, threshold=baht(threshold))
        if event.note:
            return turn.t("support.event.forwarded_note", date=day, note=event.note)
        return turn.t("support.event.forwarded", date=day)
    if event.to_status == FUNDED:
        return turn.t("support.event.funded", date=day, by=by, amount=baht(event.amount))
    return turn.t("support.event.returned", date=day, by=by, reason=event.note or "")


async def item_title(turn: Turn, request: SupportRequest) -> str:
    item = await plans.get_item(turn.conn, request.item_id)
    return item.title if item else f"#{request.item_id}"


async def request_field_lines(conn: Connection, reader: Any, row: dict[str, Any]) -> list[str]:
    """A request's fields the village can correct, "label: value" as `reader` reads them
    (from a stored row, as the audit log keeps each version)."""
    item = await plans.get_item(conn, int(row.get("item_id") or 0))
    return [reader.t("support.field.item",
                     value=item.title if item else f"#{row.get('item_id')}"),
            reader.t("support.field.amount", value=baht(row.get("amount_requested"))),
            reader.t("support.field.purpose", value=row.get("purpose") or "-")]


# --- the village's view -------------------------------------------------------------------------

async def _readable(turn: Turn, village_code: str) -> bool:
    try:
        await check(turn.conn, turn.grants, Action.READ_CYCLE, village_code)
    except PermissionDenied:
        return False
    return True


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
