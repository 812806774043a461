"""My data (`my_data.*` in locales), in every role's menu (PDPA B.E. 2562): a copy of
everything the bot keeps about the person, as a JSON file and an Excel workbook (s.30,
s.31: access and portability); the privacy notice in full; a request to erase it all
(s.33), recorded and told to the district and the administrators, who carry it out with
`cercap-bot people erase PERSON_ID`.
"""

from __future__ import annotations

import logging

from handlers import area_names, privacy
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.messages import Reply
from handlers.permissions import Role
from handlers.turn import Answer, Bilingual, Invalid, Listing, Localized, Turn
from storage import areas
from storage import privacy as stored

log = logging.getLogger(__name__)

EXPORT = "my_data"  # Reply.extra key: {"person_id", "format", "language"}
FORMATS = ("json", "xlsx")


async def begin(turn: Turn) -> str | None:
    if turn.person is None:
        turn.say("join.how_to_join")
        return None
    return "choose"


async def ask_choose(turn: Turn) -> None:
    assert turn.person is not None
    found = await stored.person_data(turn.conn, turn.person.id)
    turn.ask(turn.t("privacy.ask", count=f"{sum(len(rows) for rows in found.values()):,}"),
             [(turn.t("privacy.button.export"), "export"),
              (turn.t("privacy.button.notice"), "notice"),
              (turn.t("privacy.button.erase"), "erase"),
              (turn.t("common.done"), "done")])


async def answer_choose(turn: Turn, answer: Answer) -> str:
    assert turn.person is not None
    if answer.choice == "export":
        turn.say("privacy.export_queued")
        for fmt in FORMATS:  # no text: nothing joins onto it; the file replaces it
            turn.say_reply(Reply("", extra={EXPORT: {
                "person_id": turn.person.id, "format": fmt, "language": turn.language}}))
        return END
    if answer.choice == "notice":
        terms = turn.privacy
        turn.say_text(privacy.full_text(terms, turn.language) if not terms.url else
                      turn.t("privacy.notice_link", url=terms.url))
        return "choose"
    if answer.choice == "erase":
        return "erase"
    if answer.choice == "done":
        return END
    raise Invalid("input.use_buttons")


async def ask_erase(turn: Turn) -> None:
    turn.ask(turn.t("privacy.ask_erase"),
             [(turn.t("privacy.button.confirm_erase"), "confirm"),
              (turn.t("privacy.button.keep"), "keep")], expects="confirm")


async def answer_erase(turn: Turn, answer: Answer) -> str:
    assert turn.person is not None
    if answer.choice == "keep":
        turn.say("privacy.erase_kept")
        return END
    if answer.choice != "confirm":
        raise Invalid("input.use_buttons")
    request_id, new = await stored.request_erasure(turn.conn, turn.person.id,
                                                   turn.identity.channel, turn.now)
    if not new:
        turn.say("privacy.erase_already", id=request_id)
        return END
    log.warning("erasure request #%d recorded for person %d (cercap-bot people erase %d)",
                request_id, turn.person.id, turn.person.id)
    roles = Listing(tuple([await _role_text(turn, g.role, g.area_code) for g in turn.grants]))
    params = {"id": request_id, "person": turn.person.id, "roles": roles}
    told = []
    districts = list(dict.fromkeys(g.area_code[:4] for g in turn.grants
                                   if g.area_code[:1].isdigit() and len(g.area_code) >= 4))
    reached = [await turn.notify_holders(Role.DISTRICT, code, "privacy.erase_notify",
                                         primary=False, **params) for code in districts]
    if any(r.people for r in reached):
        told.append(Localized("privacy.label.notified.district"))
    if (await turn.notify_holders(Role.ADMIN, "TH", "privacy.erase_notify", primary=False,
                                  **params)).people:
        told.append(Localized("privacy.label.notified.admin"))
    if told:
        turn.say("privacy.erase_requested", id=request_id, who=Listing(tuple(told)))
    else:
        turn.say("privacy.erase_requested_admin", id=request_id)
    return END


async def _role_text(turn: Turn, role: str, area_code: str) -> Localized:
    lineage = await areas.lineage(turn.conn, area_code)
    where = Bilingual(area_names.title(lineage, "th"), area_names.title(lineage, "en"))
    return Localized("privacy.role_in", {"role": Localized(f"role.{role}"), "area": where})


FLOW = Flow(
    name="my_data",
    title_key="privacy.title",
    menu=MenuEntry(frozenset(Role), "privacy.menu", 95),
    begin=begin,
    steps={
        "choose": Step(ask_choose, answer_choose),
        "erase": Step(ask_erase, answer_erase),
    },
)
