"""The core team's review inbox: everything new from its villages (problems, forums, plan
items, progress, lessons), stalled and overdue items first. Each gets a verdict (approved,
needs attention, returned) with a comment that reaches the village committee; the
village's answers show under the comment the next time the item is opened."""

from __future__ import annotations

from typing import Any

from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step, proceed, start_over_at
from handlers.opening import open_action
from handlers.permissions import Action, Role, areas_with_role
from handlers.steps import confirm_step, text_step
from handlers.submissions import (
    detail_text,
    full_reference,
    is_blank_or_skip,
    parse_id,
    permitted,
    reference,
    short_village,
    verdict_label,
)
from handlers.turn import Answer, Invalid, Localized, Turn, render
from storage import audit, reviews
from storage.reviews import Submission

INBOX_SHOWN = 20
COMMENT_MAX = 1000
BACK = "back"
APPROVED = "approved"
# What a village can correct and send again from a comment's button.
CORRECTABLE = ("problem", "forum", "plan_item", "progress", "lesson")


# --- the inbox --------------------------------------------------------------------------------

async def _inbox(turn: Turn) -> list[Submission]:
    """The unreviewed submissions of every tambon the person is core team of, that the
    person may read and review."""
    today = local_date(turn.now)
    allowed_village: dict[str, bool] = {}
    found: list[Submission] = []
    for tambon in dict.fromkeys(areas_with_role(turn.grants, Role.CORE_TEAM)):
        for sub in await reviews.inbox(turn.conn, tambon, today):
            if sub.village_code not in allowed_village:
                allowed_village[sub.village_code] = await permitted(
                    turn, sub.village_code, Action.READ_CYCLE, Action.REVIEW)
            if allowed_village[sub.village_code]:
                found.append(sub)
    return sorted(found, key=reviews.priority)


async def _submission(turn: Turn, entity: Any, entity_id: Any) -> Submission | None:
    """A submission the person may read and review, or None."""
    if entity not in reviews.ENTITIES or not isinstance(entity_id, int):
        return None
    sub = await reviews.submission(turn.conn, entity, entity_id, local_date(turn.now))
    if sub is None or not await permitted(turn, sub.village_code, Action.READ_CYCLE,
                                          Action.REVIEW):
        return None
    return sub


async def _current(turn: Turn) -> Submission | None:
    return await _submission(turn, turn.data.get("entity"), turn.data.get("entity_id"))


def _marks(turn: Turn, sub: Submission) -> str:
    return "".join(turn.t(f"review.mark.{flag}") for flag, on in
                   (("stalled", sub.stalled), ("overdue", sub.overdue),
                    ("corrected", sub.version > 1)) if on)


async def _label(turn: Turn, sub: Submission, with_tambon: bool) -> str:
    shown = reference(sub, await short_village(turn, sub.village_code, with_tambon), short=True)
    text = render(turn.language, shown.key, shown.params)
    marks = _marks(turn, sub)
    return turn.t("review.marked", mark=marks, reference=text) if marks else text


async def begin(turn: Turn) -> str | None:
    if not areas_with_role(turn.grants, Role.CORE_TEAM):
        turn.say("review.not_allowed")
        return None
    if not await _inbox(turn):
        turn.say("review.inbox_empty")
        return None
    return "inbox"


async def ask_inbox(turn: Turn) -> None:
    found = await _inbox(turn)
    if not found:
        turn.ask(turn.t("review.inbox_done"))
        return
    with_tambon = len(set(areas_with_role(turn.grants, Role.CORE_TEAM))) > 1
    text = turn.t("review.inbox_title", count=len(found))
    if len(found) > INBOX_SHOWN:
        text += "\n" + turn.t("review.inbox_more", shown=INBOX_SHOWN, total=len(found))
    choices = [(await _label(turn, sub, with_tambon), f"{sub.entity}:{sub.id}")
               for sub in found[:INBOX_SHOWN]]
    turn.ask(text, choices)


async def answer_inbox(turn: Turn, answer: Answer) -> str:
    entity, _, raw_id = (answer.choice or "").partition(":")
    entity_id = parse_id(raw_id)
    if entity not in reviews.ENTITIES or entity_id is None:
        raise Invalid("input.use_buttons")
    sub = await _submission(turn, entity, entity_id)
    if sub is None:
        raise Invalid("review.gone")
    if sub.review_status != reviews.NEW:
        raise Invalid("review.already_reviewed", status=verdict_label(sub.review_status))
    for key in ("verdict", "comment", "_return_to"):
        turn.data.pop(key, None)
    turn.data.update(entity=sub.entity, entity_id=sub.id)
    return "verdict"


async def open_submission(turn: Turn, entity: str, raw_id: str) -> str | None:
    """A notification's "review it now": straight to this submission's detail and verdict
    (None, having said why, when it cannot be reviewed by this person now)."""
    if not areas_with_role(turn.grants, Role.CORE_TEAM):
        turn.say("review.not_allowed")
        return None
    entity_id = parse_id(raw_id)
    sub = (await reviews.submission(turn.conn, entity, entity_id, local_date(turn.now))
           if entity in reviews.ENTITIES and entity_id is not None else None)
    if sub is None:
        turn.say("open.gone")
        return None
    if not await permitted(turn, sub.village_code, Action.READ_CYCLE, Action.REVIEW):
        turn.say("open.not_allowed")
        return None
    if sub.review_status != reviews.NEW:
        turn.say("review.already_reviewed", status=verdict_label(sub.review_status))
        return "inbox" if await _inbox(turn) else None
    turn.data.update(entity=sub.entity, entity_id=sub.id)
    return "verdict"


# --- the detail and the verdict ---------------------------------------------------------------

async def ask_verdict(turn: Turn) -> None:
    sub = await _current(turn)
    if sub is None:
        turn.ask(turn.t("review.gone"), [(turn.t("review.back_to_inbox"), BACK)])
        return
    text = await detail_text(turn, sub) + "\n\n" + turn.t("review.ask_verdict")
    turn.ask(text, [(turn.t(f"review.verdict_button.{v}"), v) for v in reviews.VERDICTS])


async def answer_verdict(turn: Turn, answer: Answer) -> str:
    if answer.choice == BACK:
        return "inbox"
    if answer.choice not in reviews.VERDICTS:
        raise Invalid("input.use_buttons")
    if await _current(turn) is None:
        raise Invalid("review.gone")
    turn.data["verdict"] = answer.choice
    if answer.choice != APPROVED and not turn.data.get("comment"):
        turn.data.pop("_return_to", None)  # the new verdict needs a comment first
        return "comment"
    return proceed(turn, "comment")


# --- the comment: required unless approved ----------------------------------------------------

_REQUIRED_COMMENT = text_step("comment", "review.ask_comment_required", "confirm",
                              max_length=COMMENT_MAX)
_OPTIONAL_COMMENT = text_step("comment", "review.ask_comment_optional", "confirm",
                              max_length=COMMENT_MAX, optional=True)


def _comment_step(turn: Turn) -> Step:
    return _OPTIONAL_COMMENT if turn.data.get("verdict") == APPROVED else _REQUIRED_COMMENT


async def ask_comment(turn: Turn) -> None:
    await _comment_step(turn).ask(turn)


async def answer_comment(turn: Turn, answer: Answer) -> str:
    step = _comment_step(turn)
    if step is _REQUIRED_COMMENT and (answer.choice or is_blank_or_skip(answer.text)):
        raise Invalid("review.comment_required")
    return await step.answer(turn, answer)


# --- confirmation and save --------------------------------------------------------------------

EDITABLE = {"verdict": "review.edit.verdict", "comment": "review.edit.comment"}


async def _summary(turn: Turn) -> str:
    sub = await _current(turn)
    if sub is None:
        return turn.t("review.gone")
    return turn.t("review.summary", reference=await full_reference(turn.conn, sub),
                  verdict=verdict_label(turn.data.get("verdict")),
                  comment=turn.data.get("comment") or turn.t("review.none"))


async def _back_to_inbox(turn: Turn) -> str:
    if not await _inbox(turn):
        turn.say("review.inbox_done")
        return END
    return start_over_at(turn, "inbox", "entity", "entity_id", "verdict", "comment")


async def _save(turn: Turn) -> str:
    assert turn.person is not None
    sub = await _current(turn)  # checks READ_CYCLE and REVIEW on the submission's village
    if sub is None:
        turn.say("review.gone")
        return await _back_to_inbox(turn)
    if sub.review_status != reviews.NEW:
        turn.say("review.already_reviewed", status=verdict_label(sub.review_status))
        return await _back_to_inbox(turn)
    verdict, comment = turn.data.get("verdict"), str(turn.data.get("comment") or "")
    if verdict not in reviews.VERDICTS:
        return "verdict"
    if verdict != APPROVED and not comment:
        return "comment"
    review_id = await reviews.record_review(
        turn.conn, entity=sub.entity, entity_id=sub.id, village_code=sub.village_code,
        reviewer_id=turn.person.id, verdict=verdict, comment=comment, now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id, action="review.record",
                       entity=sub.entity, entity_id=sub.id, from_state=sub.review_status,
                       to_state=verdict, reason=comment or None,
                       detail={"review_id": review_id, "village": sub.village_code})
    shown = await full_reference(turn.conn, sub)
    key = "review.notify_village_approved" if verdict == APPROVED else "review.notify_village"
    actions = [] if verdict == APPROVED else [
        *([("open.button.correct", open_action("correct", sub.entity, sub.id))]
          if sub.entity in CORRECTABLE else []),
        ("open.button.answer", open_action("answer", review_id))]
    reach = await turn.notify_holders(Role.VILLAGE_COMMITTEE, sub.village_code, key,
                                      actions=actions, reference=shown,
                                      verdict=verdict_label(verdict),
                                      comment=comment or Localized("review.none"),
                                      reviewer=turn.person.display_name)
    delivery = await turn.delivery([reach], village_code=sub.village_code, kind="review",
                                   entity_id=review_id)
    turn.say_delivered(delivery, "review.saved", reference=shown, verdict=verdict_label(verdict))
    return await _back_to_inbox(turn)


FLOW = Flow(
    name="review_inbox",
    title_key="review.inbox_flow",
    menu=MenuEntry(frozenset({Role.CORE_TEAM}), "review.menu", 50,
                   first={Role.CORE_TEAM: 1}, then=("review_inbox", "summary")),
    begin=begin,
    steps={
        "inbox": Step(ask_inbox, answer_inbox),
        "verdict": Step(ask_verdict, answer_verdict, help_key="review.help_verdict"),
        "comment": Step(ask_comment, answer_comment),
        "confirm": confirm_step(_summary, EDITABLE, _save, save_label="review.send"),
    },
)
