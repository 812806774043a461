"""How a support request reads in chat: its status, who holds it, the TAO's note, its history
lines, its fields; shared by the village's view (flows/support_status.py), the TAO and district
desks and corrections."""

from __future__ import annotations

from typing import Any

from handlers.clock import local_date
from handlers.thai_input import format_baht
from handlers.turn import Localized, Turn
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
