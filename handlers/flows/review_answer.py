"""The village's answers to the core team: the comments still waiting for an answer
(needs attention, returned), each answered in free text. The answer goes back to the
reviewer and the tambon's core team, attached to the same item."""

from __future__ import annotations

from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step, start_over_at
from handlers.permissions import Action, Role, areas_with_role
from handlers.steps import confirm_step, text_step
from handlers.submissions import (
    full_reference,
    is_blank_or_skip,
    parse_id,
    permitted,
    reference,
    short_village,
    thread_lines,
    verdict_label,
)
from handlers.turn import Answer, Invalid, Localized, Turn, render
from locales import format_date
from storage import audit, reviews
from storage.reviews import Review, Submission

ANSWER_MAX = 1000
PICK_SHOWN = 20
BACK = "back"


async def _open(turn: Turn) -> list[tuple[Review, Submission]]:
    """The comments on the person's villages still waiting for an answer, oldest first."""
    today = local_date(turn.now)
    found: list[tuple[Review, Submission]] = []
    for village in dict.fromkeys(areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)):
        if not await permitted(turn, village, Action.READ_CYCLE, Action.ANSWER_REVIEW):
            continue
        for review in await reviews.reviews_for_village(turn.conn, village, only_open=True):
            sub = await reviews.submission(turn.conn, review.entity, review.entity_id, today)
            if sub is not None:
                found.append((review, sub))
    return found


async def _current(turn: Turn) -> tuple[Review, Submission] | None:
    """The review being answered, if the person may still answer it."""
    review_id = turn.data.get("review_id")
    if not isinstance(review_id, int):
        return None
    review = await reviews.get_review(turn.conn, review_id)
    if review is None or not await permitted(turn, review.village_code, Action.READ_CYCLE,
                                             Action.ANSWER_REVIEW):
        return None
    sub = await reviews.submission(turn.conn, review.entity, review.entity_id,
                                   local_date(turn.now))
    return (review, sub) if sub else None


async def begin(turn: Turn) -> str | None:
    if not areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        turn.say("review.answer_not_allowed")
        return None
    if not await _open(turn):
        turn.say("review.answer_none")
        return None
    return "pick"


# --- which comment ----------------------------------------------------------------------------

async def _label(turn: Turn, review: Review, sub: Submission) -> str:
    shown = reference(sub, await short_village(turn, sub.village_code, False), short=True)
    return turn.t("review.marked", mark=turn.t(f"review.mark.{review.verdict}"),
                  reference=render(turn.language, shown.key, shown.params))


async def ask_pick(turn: Turn) -> None:
    found = await _open(turn)
    if not found:
        turn.ask(turn.t("review.answer_done"))
        return
    choices = [(await _label(turn, review, sub), str(review.id))
               for review, sub in found[:PICK_SHOWN]]
    turn.ask(turn.t("review.answer_pick", count=len(found)), choices)


async def answer_pick(turn: Turn, answer: Answer) -> str:
    review_id = parse_id(answer.choice)
    if review_id is None or review_id not in {r.id for r, _ in await _open(turn)}:
        raise Invalid("input.use_buttons")
    turn.data.pop("answer", None)
    turn.data["review_id"] = review_id
    return "answer"


async def open_review(turn: Turn, raw_id: str) -> str | None:
    """A notification's "answer the comment": straight to answering this one."""
    if not areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        turn.say("review.answer_not_allowed")
        return None
    review_id = parse_id(raw_id)
    review = await reviews.get_review(turn.conn, review_id) if review_id is not None else None
    if review is None:
        turn.say("open.gone")
        return None
    if not await permitted(turn, review.village_code, Action.READ_CYCLE, Action.ANSWER_REVIEW):
        turn.say("open.not_allowed")
        return None
    if review.id not in {r.id for r, _ in await _open(turn)}:
        turn.say("open.answered")
        return None
    turn.data["review_id"] = review.id
    return "answer"


# --- the answer -------------------------------------------------------------------------------

_ANSWER = text_step("answer", "review.ask_answer", "confirm", max_length=ANSWER_MAX)


async def ask_answer(turn: Turn) -> None:
    found = await _current(turn)
    if found is None:
        turn.ask(turn.t("review.gone"), [(turn.t("review.back_to_list"), BACK)])
        return
    review, sub = found
    lines = [turn.t("review.answer_context", reference=await full_reference(turn.conn, sub),
                    verdict=verdict_label(review.verdict),
                    comment=review.comment or turn.t("review.none"),
                    reviewer=review.reviewer_name,
                    date=format_date(local_date(review.created_at), turn.language))]
    earlier = [r for r in await reviews.thread(turn.conn, review.entity, review.entity_id)
               if r.id != review.id]
    if earlier or review.replies:
        lines += ["", turn.t("review.thread_title"), *thread_lines(turn, earlier)]
        lines += thread_lines(turn, [review])[1:]  # this comment's answers, without it again
    lines += ["", turn.t("review.ask_answer")]
    turn.ask("\n".join(lines))


async def answer_answer(turn: Turn, answer: Answer) -> str:
    if answer.choice == BACK:
        return "pick"
    if await _current(turn) is None:
        raise Invalid("review.gone")
    if answer.choice or is_blank_or_skip(answer.text):
        raise Invalid("review.answer_required")
    return await _ANSWER.answer(turn, answer)


# --- confirmation and save --------------------------------------------------------------------

async def _summary(turn: Turn) -> str:
    found = await _current(turn)
    if found is None:
        return turn.t("review.gone")
    review, sub = found
    return turn.t("review.answer_summary", reference=await full_reference(turn.conn, sub),
                  comment=review.comment or turn.t("review.none"),
                  answer=turn.data.get("answer") or turn.t("review.none"))


async def _back_to_list(turn: Turn) -> str:
    if not await _open(turn):
        turn.say("review.answer_done")
        return END
    return start_over_at(turn, "pick", "review_id", "answer")


async def _save(turn: Turn) -> str:
    assert turn.person is not None
    found = await _current(turn)  # checks READ_CYCLE and ANSWER_REVIEW on the village
    if found is None:
        turn.say("review.gone")
        return await _back_to_list(turn)
    review, sub = found
    text = str(turn.data.get("answer") or "")
    if not text:
        return "answer"
    reply_id = await reviews.add_reply(turn.conn, review_id=review.id, person_id=turn.person.id,
                                       text=text, now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id, action="review.answer",
                       entity=review.entity, entity_id=review.entity_id,
                       from_state=review.verdict, to_state="answered", reason=text,
                       detail={"review_id": review.id, "reply_id": reply_id,
                               "village": review.village_code})
    shown = await full_reference(turn.conn, sub)
    reach = await turn.notify_holders(
        Role.CORE_TEAM, review.village_code[:6], "review.notify_answer",
        also=[review.reviewer_id], reference=shown, verdict=verdict_label(review.verdict),
        comment=review.comment or Localized("review.none"), answer=text,
        person=turn.person.display_name)
    delivery = await turn.delivery([reach], village_code=review.village_code,
                                   kind="review_reply", entity_id=reply_id)
    turn.say_delivered(delivery, "review.answer_saved", reference=shown)
    return await _back_to_list(turn)


FLOW = Flow(
    name="review_answer",
    title_key="review.answer_flow",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "review.answer_menu", 45,
                   then=("review_answer", "my_reports")),
    begin=begin,
    steps={
        "pick": Step(ask_pick, answer_pick),
        "answer": Step(ask_answer, answer_answer),
        "confirm": confirm_step(_summary, {"answer": "review.edit.answer"}, _save,
                                save_label="review.send_answer"),
    },
)
