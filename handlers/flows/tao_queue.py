"""The TAO's queue of support requests from its tambon's villages: fund (in full or in
part), forward to the district with a note, or return with a reason. The village is told.
The conversation is handlers/support_desk.py's, shared with the district's desk."""

from __future__ import annotations

from handlers.flow import MenuEntry
from handlers.permissions import Action, Role
from handlers.support_desk import FORWARD, FUND_FULL, FUND_PARTIAL, RETURN, Desk, desk_flow
from storage import support_requests
from storage.support_requests import TAMBON

TAO_DESK = Desk(name="tao_queue", level=TAMBON, role=Role.TAO,
                action=Action.DECIDE_TAMBON_REQUEST,
                decisions=(FUND_FULL, FUND_PARTIAL, FORWARD, RETURN),
                queue_of=support_requests.queue_for_tambon)

FLOW = desk_flow(TAO_DESK, "support.flow.tao_queue",
                 MenuEntry(frozenset({Role.TAO}), "support.tao_menu", 52,
                           first={Role.TAO: 1}, then=("tao_queue", "summary")))
