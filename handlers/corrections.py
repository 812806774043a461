"""Correcting a submission the core team returned (or asked to be looked at again).

The village opens it from the comment's button: the flow that made it starts at its own
confirmation screen with the stored values, every field editable, in a correction mode
that updates the stored row instead of adding one. Saved, the submission becomes its next
version, waiting for review again; the version before is kept whole in the audit log
(action `<entity>.correct`, its fields in `detail`), and the reviewer sees what changed,
field by field (handlers/submissions.py `changes_since`).

Lessons learned are corrected the same way. A support request the TAO or the district
returned is corrected in its own flow too (`open_request_correction`): saved onto the same
request as its next version, waiting again at the desk that returned it, the version before
kept whole in the audit log (`support_request.correct`) and shown to the decider as a
diff (`request_changes`)."""

from __future__ import annotations

from typing import Any

from handlers.clock import local_date
from handlers.opening import open_action
from handlers.permissions import Action, Role, areas_with_role
from handlers.submissions import (
    Reader,
    change_lines,
    full_reference,
    parse_id,
    permitted,
    ref,
    verdict_label,
)
from handlers.turn import Bilingual, Invalid, Localized, Turn
from storage import audit, reviews, support_requests
from storage.connection import Connection

MARK = "_correcting"  # conversation data: {"entity", "id", "version"} while correcting
# The flow that made each kind, and what the person must be allowed to do to correct it.
FLOW_OF = {"problem": ("problem_report", Action.REPORT_PROBLEM),
           "forum": ("forum", Action.RECORD_FORUM),
           "plan_item": ("plan", Action.MANAGE_PLAN),
           "progress": ("progress", Action.REPORT_PROGRESS),
           "lesson": ("lessons", Action.RECORD_LESSONS)}
REQUEST = "support_request"  # corrected after a TAO's or district's return, not a review
IGNORED = ("updated_at",)  # moves with every write: not a change the village made


async def correctable(turn: Turn, entity: str, entity_id: int | None) -> dict[str, Any] | None:
    """The stored submission, when this person may correct it now; None, having said why."""

    if not areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        turn.say("review.answer_not_allowed")
        return None
    row = (await reviews.details(turn.conn, entity, entity_id)
           if entity in FLOW_OF and entity_id is not None else None)
    if row is None:
        turn.say("open.gone")
        return None
    if not await permitted(turn, row["village_code"], Action.READ_CYCLE, FLOW_OF[entity][1]):
        turn.say("open.not_allowed")
        return None
    if row["review_status"] not in reviews.OPEN_VERDICTS:
        turn.say("open.not_correctable", status=verdict_label(row["review_status"]))
        return None
    return row


async def open_correction(turn: Turn, entity: str, raw_id: str
                          ) -> tuple[str, str | None] | None:
    """`open:correct:<entity>:<id>`: the flow and the step to start at (its confirmation
    screen), with the stored values loaded; None when it cannot be corrected."""
    from handlers.flows import forum, lessons, plan, problem_report, progress

    if entity == REQUEST:
        return await open_request_correction(turn, parse_id(raw_id))
    row = await correctable(turn, entity, parse_id(raw_id))
    if row is None:
        return None
    loaders = {"problem": problem_report.load_for_correction, "forum": forum.load_for_correction,
               "plan_item": plan.load_for_correction,
               "progress": progress.load_for_correction,
               "lesson": lessons.load_for_correction}
    step = await loaders[entity](turn, row)
    if step is None:
        return None
    turn.data[MARK] = {"entity": entity, "id": row["id"], "version": row["version"]}
    return FLOW_OF[entity][0], step


def correcting(turn: Turn, entity: str) -> int | None:
    """The id of the `entity` being corrected in this conversation, if one is."""
    mark = turn.data.get(MARK)
    if isinstance(mark, dict) and mark.get("entity") == entity and isinstance(
            mark.get("id"), int):
        return int(mark["id"])
    return None


async def heading(turn: Turn) -> str:
    """The line above the confirmation screen: what is being corrected, and why."""

    mark = turn.data.get(MARK)
    if isinstance(mark, dict) and mark.get("entity") == REQUEST:
        return await _request_heading(turn, mark)
    if not isinstance(mark, dict) or mark.get("entity") not in FLOW_OF:
        return ""
    thread = await reviews.thread(turn.conn, mark["entity"], int(mark["id"]))
    comment = thread[-1].comment if thread and thread[-1].comment else "-"
    return turn.t("correct.heading", ref=ref(mark["entity"], int(mark["id"])),
                  version=mark.get("version", 1), comment=comment) + "\n\n"


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return ({k: v for k, v in old.items() if k not in IGNORED}
            == {k: v for k, v in new.items() if k not in IGNORED})


async def still_correctable(turn: Turn, entity: str) -> dict[str, Any] | None:
    """At saving: the submission as stored before this correction, checked again (it may
    have been reviewed meanwhile, or the person's role changed); None, having said why."""
    entity_id = correcting(turn, entity)
    row = await correctable(turn, entity, entity_id)
    if row is None:
        turn.data.pop(MARK, None)
    return row


async def resubmit(turn: Turn, entity: str, old: dict[str, Any]) -> None:
    """After the flow wrote the corrected fields: the next version, waiting for review;
    the version before kept in the audit log; the core team told, with a button that
    opens it; the village told whom it reached."""

    assert turn.person is not None
    entity_id = int(old["id"])
    new = await reviews.details(turn.conn, entity, entity_id)
    assert new is not None
    if _same(old, new):
        raise Invalid("correct.no_changes")
    version = await reviews.new_version(turn.conn, entity, entity_id)
    new = await reviews.details(turn.conn, entity, entity_id) or new
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action=f"{entity}.correct", entity=entity, entity_id=entity_id,
                       from_state=old["review_status"], to_state=reviews.NEW,
                       detail={"version": old["version"], "new_version": version,
                               "old": old, "new": new})
    sub = await reviews.submission(turn.conn, entity, entity_id, local_date(turn.now))
    assert sub is not None
    changes = Bilingual(*("\n".join(change_lines(Reader(language), entity, old, new))
                          for language in ("th", "en")))
    reach = await turn.notify_holders(
        Role.CORE_TEAM, sub.village_code[:6], "correct.notify",
        actions=[("open.button.review", open_action("review", entity, entity_id))],
        reference=await full_reference(turn.conn, sub), version=version, changes=changes,
        reporter=turn.person.display_name)
    delivery = await turn.delivery([reach], village_code=sub.village_code, kind=entity,
                                   entity_id=entity_id, event="correct")
    turn.say_delivered(delivery, "correct.saved", ref=ref(entity, entity_id), version=version)
    turn.data.pop(MARK, None)


# --- support requests returned by the TAO or the district -------------------------------------

async def correctable_request(turn: Turn, request_id: int | None
                              ) -> support_requests.SupportRequest | None:
    """The returned request, when this person may correct it now; None, having said why."""
    from handlers.support_wording import status_param

    if not areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        turn.say("support.not_allowed")
        return None
    request = (await support_requests.get(turn.conn, request_id)
               if request_id is not None else None)
    if request is None:
        turn.say("open.gone")
        return None
    if not await permitted(turn, request.village_code, Action.READ_CYCLE,
                           Action.REQUEST_SUPPORT):
        turn.say("open.not_allowed")
        return None
    if request.status != support_requests.RETURNED:
        turn.say("open.not_correctable", status=status_param(request))
        return None
    return request


async def open_request_correction(turn: Turn, request_id: int | None
                                  ) -> tuple[str, str | None] | None:
    """`open:correct:support_request:<id>`: the request's confirmation screen in the
    support request flow, with its stored values; None when it cannot be corrected."""
    from handlers.flows import support_request

    request = await correctable_request(turn, request_id)
    if request is None:
        return None
    step = await support_request.load_for_correction(turn, request)
    turn.data[MARK] = {"entity": REQUEST, "id": request.id, "version": request.version}
    return "support_request", step


async def still_correctable_request(turn: Turn) -> dict[str, Any] | None:
    """At saving: the request's stored fields before this correction, checked again (it
    may have been sent again meanwhile by someone else); None, having said why."""
    request = await correctable_request(turn, correcting(turn, REQUEST))
    found = await support_requests.row(turn.conn, request.id) if request else None
    if found is None:
        turn.data.pop(MARK, None)
    return found


async def _request_heading(turn: Turn, mark: dict[str, Any]) -> str:
    """Above the request's confirmation screen: who returned it, and why."""

    request_id = int(mark["id"])
    returned = [e for e in await support_requests.history(turn.conn, request_id)
                if e.to_status == support_requests.RETURNED]
    last = returned[-1] if returned else None
    return turn.t("correct.request_heading", ref=ref(REQUEST, request_id),
                  version=mark.get("version", 1),
                  by=Localized(f"support.by.{last.level if last else support_requests.TAMBON}"),
                  reason=(last.note if last and last.note else "-")) + "\n\n"


def diff_lines(reader: Any, before: list[str], after: list[str]) -> list[str]:
    """"Label: old → new" for every line (label: value) that changed, was added or went."""
    def by_label(lines: list[str]) -> dict[str, str]:
        return {label: value for label, _, value in (line.partition(": ") for line in lines)}

    old, new = by_label(before), by_label(after)
    lines = [reader.t("review.change_line", label=label, old=old[label], new=value)
             if label in old else reader.t("review.change_added", line=f"{label}: {value}")
             for label, value in new.items() if old.get(label) != value]
    lines += [reader.t("review.change_removed", line=f"{label}: {value}")
              for label, value in old.items() if label not in new]
    return lines or [reader.t("review.no_field_changed")]


async def request_changes(conn: Connection, reader: Any, old: dict[str, Any],
                          new: dict[str, Any]) -> list[str]:
    """What the village changed in a request, field by field, as `reader` reads it."""
    from handlers.support_wording import request_field_lines

    return diff_lines(reader, await request_field_lines(conn, reader, old),
                      await request_field_lines(conn, reader, new))


async def request_changes_since(turn: Turn, request: support_requests.SupportRequest
                                ) -> list[str]:
    """The decider's view of the latest correction of a request: a title, then the diff
    (nothing for a request never corrected)."""
    if request.version < 2:
        return []
    found = await audit.correction(turn.conn, REQUEST, request.id, request.version)
    if not found or not isinstance(found.get("old"), dict):
        return []
    current = await support_requests.row(turn.conn, request.id) or {}
    return [turn.t("review.changes_title", version=request.version,
                   previous=found.get("version", request.version - 1)),
            *await request_changes(turn.conn, turn, found["old"], current)]


def bilingual_changes(lines_th: list[str], lines_en: list[str]) -> Bilingual:
    return Bilingual("\n".join(lines_th), "\n".join(lines_en))
