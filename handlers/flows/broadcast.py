"""A core team's announcement to every village committee of its tambon, with a
confirmation step and a delivery report."""

from __future__ import annotations

import json

from handlers import area_names
from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry
from handlers.messages import Reply
from handlers.permissions import Role, areas_with_role
from handlers.schedule_time import QuietHours
from handlers.steps import choice_step, confirm_step, text_step
from handlers.turn import Turn
from locales import format_date, t
from storage import areas, audit, outbox, reminders
from storage.outbox import NewMessage

TEXT_MAX = 1000
_VILLAGES_OF_TAMBON = ("SELECT code FROM areas WHERE level = 'village'"
                       " AND parent_code = :tambon")


async def _recipients(turn: Turn) -> list[reminders.Recipient]:
    return await reminders.recipients(
        turn.conn, role=Role.VILLAGE_COMMITTEE, areas_sql=_VILLAGES_OF_TAMBON,
        params={"tambon": turn.data["tambon"]}, kind="broadcast", now=turn.now,
        honour_pauses=False)


async def begin(turn: Turn) -> str | None:
    tambons = areas_with_role(turn.grants, Role.CORE_TEAM)
    if not tambons:
        turn.say("broadcast.not_allowed")
        return None
    if len(tambons) == 1:
        turn.data["tambon"] = tambons[0]
        return "text"
    return "tambon"


async def _tambons(turn: Turn) -> list[tuple[str, str]]:
    return [(area_names.title(await areas.lineage(turn.conn, code), turn.language, 2), code)
            for code in areas_with_role(turn.grants, Role.CORE_TEAM)]


async def _summary(turn: Turn) -> str:
    found = await _recipients(turn)
    people = len({r.person_id for r in found})
    villages = len({r.area_code for r in found})
    return turn.t("broadcast.confirm", people=people, villages=villages, text=turn.data["text"])


async def _send(turn: Turn) -> str:
    assert turn.person is not None
    found = await _recipients(turn)
    text = turn.data["text"]
    broadcast_id = await reminders.create_broadcast(
        turn.conn, tambon_code=turn.data["tambon"], sender_id=turn.person.id, text=text,
        recipients=len(found), now=turn.now)
    payloads: dict[str, str] = {}
    for r in found:
        if r.language not in payloads:
            payloads[r.language] = json.dumps(Reply(t(r.language, "broadcast.message",
                                                      text=text)).to_payload(),
                                              ensure_ascii=False)
    messages = [NewMessage(r.channel, r.chat_id, r.person_id, payloads[r.language],
                           f"broadcast:{broadcast_id}:{r.identity_id}") for r in found]
    await outbox.enqueue_many(turn.conn, messages, priority=outbox.BULK, now=turn.now,
                              not_before=QuietHours.from_env().next_allowed(turn.now),
                              batch=f"broadcast:{broadcast_id}")
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="broadcast.send", entity="broadcast", entity_id=broadcast_id,
                       to_state="queued", detail={"recipients": len(found)})
    if messages:
        turn.say("broadcast.queued", count=len(messages))
    else:  # kept, but said plainly: it went to nobody
        turn.say("broadcast.queued_nobody")
    return END


FLOW = Flow(
    name="broadcast",
    title_key="broadcast.title",
    menu=MenuEntry(frozenset({Role.CORE_TEAM}), "broadcast.menu", 58,
                   then=("broadcast_report",)),
    begin=begin,
    steps={
        "tambon": choice_step("tambon", "broadcast.ask_tambon", _tambons, "text"),
        "text": text_step("text", "broadcast.ask_text", "confirm", min_length=5,
                          max_length=TEXT_MAX),
        "confirm": confirm_step(_summary, {"text": "broadcast.edit_text"}, _send,
                                save_label="broadcast.send"),
    },
)


async def report_begin(turn: Turn) -> str | None:
    if turn.person is None:
        return None
    found = await reminders.broadcast_reports(turn.conn, turn.person.id)
    if not found:
        turn.say("broadcast.report_none")
        return None
    lines = [turn.t("broadcast.report_line", date=format_date(local_date(b.created_at),
                                                             turn.language),
                    text=b.text[:40], sent=b.sent, failed=b.failed, pending=b.pending)
             for b in found]
    turn.say("broadcast.report", lines="\n".join(lines))
    return None


REPORT_FLOW = Flow(
    name="broadcast_report",
    title_key="broadcast.report_title",
    menu=MenuEntry(frozenset({Role.CORE_TEAM}), "broadcast.report_menu", 59,
                   then=("broadcast",)),
    begin=report_begin,
    steps={},
)


FLOWS = (FLOW, REPORT_FLOW)
