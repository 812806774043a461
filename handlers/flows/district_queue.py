"""The district committee's queue of forwarded support requests: each shown as at the
TAO's desk plus the TAO's note; fund (in full or in part) or return with a reason.
The TAO of the tambon and the village are told."""

from __future__ import annotations

from handlers.flow import MenuEntry
from handlers.permissions import Action, Role
from handlers.support_desk import FUND_FULL, FUND_PARTIAL, RETURN, Desk, desk_flow
from storage import support_requests
from storage.support_requests import DISTRICT

DISTRICT_DESK = Desk(name="district_queue", level=DISTRICT, role=Role.DISTRICT,
                     action=Action.DECIDE_DISTRICT_REQUEST,
                     decisions=(FUND_FULL, FUND_PARTIAL, RETURN),
                     queue_of=support_requests.queue_for_district)

FLOW = desk_flow(DISTRICT_DESK, "support.flow.district_queue",
                 MenuEntry(frozenset({Role.DISTRICT}), "support.district_menu", 56,
                           first={Role.DISTRICT: 1}, then=("district_queue", "summary")))
