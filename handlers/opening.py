"""Buttons that open one item directly, carried by notifications and reminders.

Each is a menu action `open:<what>:<item…>` (sent as the `m:` button payload), started by
the engine at the item's own step, also while the person is in the middle of another
question (that question is kept as a draft, as "menu" does):

- `open:review:<entity>:<id>`: the core team's review of that submission;
- `open:decide:<desk>:<id>`: a TAO's or district's decision on that support request;
- `open:answer:<review id>`: the village's answer to that comment;
- `open:correct:<entity>:<id>`: the village's confirmation screen of that submission (a
  problem, forum, plan item, progress update or lessons the core team returned, or a support
  request the TAO or the district returned), its fields editable, saved as the next version
  (handlers/corrections.py);
- `open:progress:<item id>`: progress (and the outcome, once done) on that plan item;
- `open:story:<propose|consent|withdraw>:<id>`: the success board (propose: the core team,
  an item id; consent, withdraw: the village committee, a story id);
- `open:flow:<flow>`: a flow from its start (reminders).

Permission checks apply when an item is opened, as anywhere else: an item outside the
person's area gets a polite refusal."""

from __future__ import annotations

from handlers.turn import MENU_PREFIX, Turn

OPEN_PREFIX = "open:"
CALLBACK_MAX_BYTES = 64  # Telegram's limit on a button's callback data


def open_action(what: str, *item: object) -> str:
    """The menu action that opens `item` in the flow `what` names."""
    action = ":".join(("open", what, *(str(part) for part in item)))
    if len((MENU_PREFIX + action).encode()) > CALLBACK_MAX_BYTES:
        raise ValueError(f"button payload too long for Telegram: {action!r}")
    return action


def opens(payload: str | None) -> bool:
    """Whether a button payload is one of these (honoured in the middle of a question)."""
    return bool(payload) and str(payload).startswith(MENU_PREFIX + OPEN_PREFIX)


async def open_item(turn: Turn, action: str) -> tuple[str, str | None] | None:
    """The flow to start and its first step, with the item's data already in the
    conversation (step None: the flow from its own start); None when it cannot be opened,
    having told the person why."""
    from handlers import corrections, support_desk
    from handlers.flows import FLOWS, progress, review_answer, review_inbox, tao_queue
    from handlers.flows.district_queue import DISTRICT_DESK

    what, _, rest = action.removeprefix(OPEN_PREFIX).partition(":")
    parts = rest.split(":") if rest else []
    step: str | None = None
    if what == "flow" and len(parts) == 1 and parts[0] in FLOWS:
        return parts[0], None
    if what == "review" and len(parts) == 2:
        step = await review_inbox.open_submission(turn, parts[0], parts[1])
        return ("review_inbox", step) if step else None
    if what == "decide" and len(parts) == 2:
        desks = {desk.name: desk for desk in (tao_queue.TAO_DESK, DISTRICT_DESK)}
        if parts[0] in desks:
            step = await support_desk.open_request(turn, desks[parts[0]], parts[1])
            return (parts[0], step) if step else None
    if what == "answer" and len(parts) == 1:
        step = await review_answer.open_review(turn, parts[0])
        return ("review_answer", step) if step else None
    if what == "correct" and len(parts) == 2:
        return await corrections.open_correction(turn, parts[0], parts[1])
    if what == "story" and len(parts) == 2:  # the success board (handlers/flows/success_story)
        from handlers.flows import success_story
        return await success_story.open_story(turn, parts[0], parts[1])
    if what == "progress" and len(parts) == 1:
        step = await progress.open_item(turn, parts[0])
        return ("progress", step) if step else None
    turn.say("open.gone")
    return None
