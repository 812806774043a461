"""Correcting a submission the core team returned (or asked to be looked at again).

The village opens it from the comment's button: the flow that made it starts at its own
confirmation screen with the stored values, every field editable, in a correction mode
that updates the stored row instead of adding one. Saved, the submission becomes its next
version, waiting for review again; the version before is kept whole in the audit log
(action `<entity>.correct`, its fields in `detail`), and the reviewer sees what changed,
field by field (review_inbox.changes_since)."""

from __future__ import annotations

from typing import Any

from handlers.clock import local_date
from handlers.opening import open_action
from handlers.permissions import Action, Role, areas_with_role
from handlers.turn import Bilingual, Invalid, Turn
from storage import audit, reviews

MARK = "_correcting"  # conversation data: {"entity", "id", "version"} while correcting
# The flow that made each kind, and what the person must be allowed to do to correct it.
FLOW_OF = {"problem": ("problem_report", Action.REPORT_PROBLEM),
           "forum": ("forum", Action.RECORD_FORUM),
           "plan_item": ("plan", Action.MANAGE_PLAN),
           "progress": ("progress", Action.REPORT_PROGRESS)}
IGNORED = ("updated_at",)  # moves with every write: not a change the village made


async def correctable(turn: Turn, entity: str, entity_id: int | None) -> dict[str, Any] | None:
    """The stored submission, when this person may correct it now; None, having said why."""
    from handlers.flows.review_inbox import permitted, verdict_label

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
    from handlers.flows import forum, plan, problem_report, progress
    from handlers.flows.review_inbox import parse_id

    row = await correctable(turn, entity, parse_id(raw_id))
    if row is None:
        return None
    loaders = {"problem": problem_report.load_for_correction, "forum": forum.load_for_correction,
               "plan_item": plan.load_for_correction,
               "progress": progress.load_for_correction}
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
    from handlers.flows.review_inbox import ref

    mark = turn.data.get(MARK)
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
    from handlers.flows.review_inbox import Reader, change_lines, full_reference, ref

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
