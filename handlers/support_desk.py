"""Deciding support requests at a desk: the conversation that the TAO's queue
(flows/tao_queue.py) and the district's (flows/district_queue.py) each build with
`desk_flow`, for their own `Desk`. A request is shown with
its plan item, the problems it answers and the village's own contribution; the
decision is confirmed, saved as one transition, audited, and the village is told.

A request the village corrected after a return shows its version and what changed (field:
old → new), from the audit log.

A request someone decided meanwhile is refused politely by the storage transition
itself, checked inside the same transaction that would change it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers import area_names, corrections
from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.opening import open_action
from handlers.permissions import Action, Role, areas_with_role, permitted
from handlers.steps import amount_step, confirm_step, text_step
from handlers.support_wording import baht, item_title, status_param, tao_note_text
from handlers.turn import NAV_PREFIX, Answer, Invalid, Localized, Turn
from locales import category_label, format_date
from storage import areas, audit, plans, problems, support_requests
from storage.connection import Connection
from storage.support_requests import (
    DISTRICT,
    FORWARDED,
    FUNDED,
    RETURNED,
    AlreadyDecided,
    SupportRequest,
)

FUND_FULL, FUND_PARTIAL, FORWARD, RETURN = "fund_full", "fund_partial", "forward", "return"
BACK_TO_QUEUE = "queue"
# What each decision leads to next, before the confirmation screen.
FOLLOW_UP = {FUND_FULL: "confirm", FUND_PARTIAL: "partial_amount", FORWARD: "note",
             RETURN: "reason"}
DECISION_FIELDS = ("decision", "amount", "note", "reason")
NOTE_MAX = REASON_MAX = 500
PROBLEM_TEXT_MAX = 80

Queue = Callable[[Connection, str], Awaitable[list[SupportRequest]]]


@dataclass(frozen=True)
class Desk:
    """Who decides at this desk, on which requests, and what they may decide."""

    name: str
    level: str
    role: Role
    action: Action
    decisions: tuple[str, ...]
    queue_of: Queue

    def key(self, suffix: str) -> str:
        return f"support.{self.level}.{suffix}"


# --- reading the queue and a request, with the checks ---------------------------------------

async def _permitted(turn: Turn, action: Action, village_code: str) -> bool:
    return await permitted(turn.conn, turn.grants, action, village_code)


async def _may_decide(turn: Turn, desk: Desk, village_code: str) -> bool:
    """May read the village's cycle and decide its requests at this desk."""
    return (await _permitted(turn, Action.READ_CYCLE, village_code)
            and await _permitted(turn, desk.action, village_code))


async def queue(turn: Turn, desk: Desk) -> list[SupportRequest]:
    """The requests waiting for this person at this desk, oldest first."""
    found: dict[int, SupportRequest] = {}
    for area in areas_with_role(turn.grants, desk.role):
        for request in await desk.queue_of(turn.conn, area):
            if await _may_decide(turn, desk, request.village_code):
                found[request.id] = request
    return sorted(found.values(), key=lambda r: (r.created_at, r.id))


async def decidable(turn: Turn, desk: Desk, request_id: int) -> SupportRequest | None:
    """The request, if this person may read and decide it at this desk."""
    request = await support_requests.get(turn.conn, request_id)
    if request is None or not await _may_decide(turn, desk, request.village_code):
        return None
    return request


async def _village(turn: Turn, code: str) -> str:
    return area_names.title(await areas.lineage(turn.conn, code), turn.language, depth=2)


async def _problem_lines(turn: Turn, problem_ids: tuple[int, ...]) -> str:
    lines = []
    for problem_id in problem_ids:
        problem = await problems.get(turn.conn, problem_id)
        if problem is None:
            continue
        description = problem.description.replace("\n", " ")
        if len(description) > PROBLEM_TEXT_MAX:
            description = description[:PROBLEM_TEXT_MAX - 1] + "…"
        lines.append(turn.t("support.detail_problem", id=problem.id,
                            category=category_label(problem.category, turn.language),
                            description=description))
    return "\n".join(lines) or turn.t("support.detail_no_problem")


async def request_detail(turn: Turn, request: SupportRequest) -> str:
    """The request as a decider sees it: item, problems, own contribution, ask, purpose."""
    item = await plans.get_item(turn.conn, request.item_id)
    text = turn.t(
        "support.detail", id=request.id, village=await _village(turn, request.village_code),
        date=format_date(local_date(request.created_at), turn.language),
        title=item.title if item else f"#{request.item_id}",
        approach=turn.t(f"support.approach.{item.approach}") if item else "-",
        partner=turn.t("support.partner", partner=item.partner) if item and item.partner else "",
        budget=baht(item.budget_needed if item else 0),
        problems=await _problem_lines(turn, item.problem_ids if item else ()),
        own_money=baht(item.own_money if item else 0),
        own_labour=(item.own_labour if item and item.own_labour else "-"),
        amount=baht(request.amount_requested), purpose=request.purpose)
    if request.level == DISTRICT:
        text += "\n" + turn.t("support.detail_tao_note", note=tao_note_text(turn, request.tao_note))
    changes = await corrections.request_changes_since(turn, request)
    if changes:
        text += "\n\n" + "\n".join(changes)
    return text


async def open_request(turn: Turn, desk: Desk, raw_id: str) -> str | None:
    """A notification's "decide now": straight to this request's decision screen."""
    if not areas_with_role(turn.grants, desk.role):
        turn.say(desk.key("not_allowed"))
        return None
    found = (await support_requests.get(turn.conn, int(raw_id))
             if raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 12 else None)
    if found is None:
        turn.say("open.gone")
        return None
    if await decidable(turn, desk, found.id) is None:
        turn.say("open.not_allowed")
        return None
    if not found.pending_at(desk.level):
        turn.say("support.already_decided", id=found.id, status=status_param(found))
        return "queue" if await queue(turn, desk) else None
    turn.data.update(request=found.id, asked=found.amount_requested)
    return "request"


# --- the flow's steps --------------------------------------------------------------------------

def _begin(desk: Desk) -> Callable[[Turn], Awaitable[str | None]]:
    async def begin(turn: Turn) -> str | None:
        if not areas_with_role(turn.grants, desk.role):
            turn.say(desk.key("not_allowed"))
            return None
        if not await queue(turn, desk):
            turn.say(desk.key("queue_empty"))
            return None
        return "queue"

    return begin


def _queue_step(desk: Desk) -> Step:
    async def ask(turn: Turn) -> None:
        waiting = await queue(turn, desk)
        if not waiting:
            turn.ask(turn.t(desk.key("queue_empty")),
                     [(turn.t("support.to_menu"), f"{NAV_PREFIX}menu")])
            return
        lines, buttons = [], []
        for request in waiting:
            title = await item_title(turn, request)
            village = await areas.get(turn.conn, request.village_code)
            lines.append(turn.t(
                "support.queue_line", id=request.id, title=title,
                village=area_names.title([village], turn.language, 1) if village else "",
                amount=baht(request.amount_requested),
                date=format_date(local_date(request.created_at), turn.language)))
            buttons.append((turn.t("support.request_button", id=request.id, title=title),
                            str(request.id)))
        turn.ask(turn.t("support.queue", count=len(waiting), lines="\n".join(lines)), buttons)

    async def answer(turn: Turn, given: Answer) -> str:
        choice = given.choice or ""
        request = await decidable(turn, desk, int(choice)) if choice.isdigit() else None
        if request is None:
            raise Invalid("input.use_buttons")
        if not request.pending_at(desk.level):
            raise Invalid("support.already_decided", id=request.id,
                          status=status_param(request))
        for field in DECISION_FIELDS:
            turn.data.pop(field, None)
        turn.data.pop("_return_to", None)
        turn.data.update(request=request.id, asked=request.amount_requested)
        return "request"

    return Step(ask, answer)


def _request_step(desk: Desk) -> Step:
    async def ask(turn: Turn) -> None:
        request = await decidable(turn, desk, int(turn.data.get("request") or 0))
        back = (turn.t("support.decide.back"), BACK_TO_QUEUE)
        if request is None:
            turn.ask(turn.t("support.request_not_allowed"), [back])
        elif not request.pending_at(desk.level):
            turn.ask(turn.t("support.already_decided", id=request.id,
                            status=status_param(request)), [back])
        else:
            labels = [(turn.t(f"support.decide.{d}", amount=baht(request.amount_requested)), d)
                      for d in desk.decisions]
            turn.ask(turn.t("support.ask_decision", detail=await request_detail(turn, request)),
                     [*labels, back])

    async def answer(turn: Turn, given: Answer) -> str:
        if given.choice == BACK_TO_QUEUE:
            turn.data.pop("_return_to", None)
            return "queue"
        if given.choice not in desk.decisions:
            raise Invalid("input.use_buttons")
        request = await decidable(turn, desk, int(turn.data.get("request") or 0))
        if request is None:
            raise Invalid("support.request_not_allowed")
        if not request.pending_at(desk.level):
            raise Invalid("support.already_decided", id=request.id,
                          status=status_param(request))
        turn.data.pop("_return_to", None)  # a new decision asks its own follow-up again
        turn.data.update(decision=given.choice, asked=request.amount_requested)
        if given.choice == FUND_FULL:
            turn.data["amount"] = request.amount_requested
        return FOLLOW_UP[given.choice]

    return Step(ask, answer)


def _partial_amount_step() -> Step:
    """An amount up to what was asked (the limit is the request's, so built per turn)."""

    def build(turn: Turn) -> Step:
        asked = int(turn.data.get("asked") or 1)
        return amount_step("amount", lambda t: t.t("support.ask_partial", asked=baht(asked)),
                           "confirm", minimum=1, maximum=asked)

    async def ask(turn: Turn) -> None:
        await build(turn).ask(turn)

    async def answer(turn: Turn, given: Answer) -> str:
        return await build(turn).answer(turn, given)

    return Step(ask, answer, help_key="help.amount")


_reason_text = text_step("reason", "support.ask_reason", "confirm", min_length=3,
                         max_length=REASON_MAX)


async def _answer_reason(turn: Turn, given: Answer) -> str:
    try:
        return await _reason_text.answer(turn, given)
    except Invalid as bad:
        if bad.key == "input.text_too_short":
            raise Invalid("support.reason_required") from None
        raise


# --- confirmation and save ----------------------------------------------------------------

def _decision_param(d: dict[str, object]) -> Localized:
    decision = d.get("decision")
    if decision in (FUND_FULL, FUND_PARTIAL):
        return Localized("support.decision.funded", {"amount": baht(int(str(d["amount"])))})
    if decision == FORWARD:
        return Localized("support.decision.forwarded", {"note": d.get("note") or "-"})
    return Localized("support.decision.returned", {"reason": d.get("reason") or "-"})


def _summary(desk: Desk) -> Callable[[Turn], Awaitable[str]]:
    async def summary(turn: Turn) -> str:
        request = await decidable(turn, desk, int(turn.data.get("request") or 0))
        if request is None:
            return turn.t("support.request_not_allowed")
        return turn.t("support.confirm", id=request.id,
                      village=await _village(turn, request.village_code),
                      title=await item_title(turn, request),
                      asked=baht(request.amount_requested),
                      decision=_decision_param(turn.data))

    return summary


async def _transition(turn: Turn, desk: Desk, request: SupportRequest) -> SupportRequest:
    """Apply the decision; the request as it was before. Raises AlreadyDecided."""
    assert turn.person is not None
    d = turn.data
    if d["decision"] in (FUND_FULL, FUND_PARTIAL):
        return await support_requests.fund(turn.conn, request.id, level=desk.level,
                                           amount=int(d["amount"]), person_id=turn.person.id,
                                           now=turn.now)
    if d["decision"] == FORWARD:
        return await support_requests.forward(turn.conn, request.id, note=d.get("note") or "",
                                              person_id=turn.person.id, now=turn.now)
    return await support_requests.return_(turn.conn, request.id, level=desk.level,
                                          reason=str(d["reason"]), person_id=turn.person.id,
                                          now=turn.now)


def _check_complete(turn: Turn, desk: Desk, request: SupportRequest) -> None:
    """What the confirmation screen needs before anything is written."""
    d = turn.data
    if d.get("decision") not in desk.decisions:
        raise Invalid("input.use_buttons")
    if d["decision"] == RETURN and not str(d.get("reason") or "").strip():
        raise Invalid("support.reason_required")
    if d["decision"] in (FUND_FULL, FUND_PARTIAL) and not (
            isinstance(d.get("amount"), int) and 0 < d["amount"] <= request.amount_requested):
        raise Invalid("input.amount_range", minimum="1",
                      maximum=baht(request.amount_requested))


def _save(desk: Desk) -> Callable[[Turn], Awaitable[str]]:
    async def save(turn: Turn) -> str:
        assert turn.person is not None
        request = await decidable(turn, desk, int(turn.data.get("request") or 0))
        if request is None:
            turn.say("support.request_not_allowed")
            return END
        _check_complete(turn, desk, request)
        try:
            before = await _transition(turn, desk, request)
        except AlreadyDecided:
            current = await support_requests.get(turn.conn, request.id)
            assert current is not None
            turn.say("support.already_decided", id=request.id, status=status_param(current))
            return END
        after = await support_requests.get(turn.conn, request.id)
        assert after is not None
        await _audit(turn, desk, before, after)
        await _tell(turn, desk, after)
        return END

    return save


async def _audit(turn: Turn, desk: Desk, before: SupportRequest, after: SupportRequest) -> None:
    action = {FUNDED: "fund", FORWARDED: "forward", RETURNED: "return"}[after.status]
    reason = after.reason if after.status == RETURNED else (
        after.tao_note if after.status == FORWARDED else None)
    await audit.record(
        turn.conn, now=turn.now, person_id=turn.person.id if turn.person else None,
        action=f"support_request.{action}", entity="support_request", entity_id=after.id,
        from_state=before.status, to_state=after.status, reason=reason,
        detail={"level": desk.level, "requested": after.amount_requested,
                "granted": after.amount_granted, "to_level": after.level})


async def _tell(turn: Turn, desk: Desk, request: SupportRequest) -> None:
    """The village hears of every decision; the district of a forward; the TAO of the
    district's decision."""
    item = await item_title(turn, request)
    village = await area_names.bilingual_title(turn.conn, request.village_code, 2)
    by = Localized(f"support.by.{desk.level}")
    params = dict(id=request.id, item=item, village=village, by=by,
                  asked=baht(request.amount_requested), amount=baht(request.amount_granted),
                  reason=request.reason or "", note=_note_param(request))
    # Who must act next: the district on a forward, otherwise the village, which hears of
    # every decision; the TAO only hears of the district's.
    forwarded = request.status == FORWARDED
    # Funded, the village's next act is on the item: its progress, and once done, the outcome;
    # returned, correcting the request and sending it again. Forwarded: nothing to do yet.
    village_actions = {
        FUNDED: [("open.button.progress", open_action("progress", request.item_id))],
        RETURNED: [("open.button.correct", open_action("correct", "support_request",
                                                       request.id))],
    }.get(request.status, [])
    reaches = [await turn.notify_holders(
        Role.VILLAGE_COMMITTEE, request.village_code, f"support.notify.village_{request.status}",
        primary=not forwarded, actions=village_actions, **params)]
    told = ["support.told.village"]
    if forwarded:
        reaches.append(await turn.notify_holders(
            Role.DISTRICT, request.village_code[:4], "support.notify.district_forwarded",
            actions=[("open.button.decide", open_action("decide", "district_queue",
                                                        request.id))], **params))
        told.append("support.told.district")
    if desk.level == DISTRICT:
        reaches.insert(0, await turn.notify_holders(
            Role.TAO, request.village_code[:6], f"support.notify.tao_{request.status}",
            primary=False, **params))
        told.insert(0, "support.told.tao")
    delivery = await turn.delivery(reaches, village_code=request.village_code,
                                   kind="support_request", entity_id=request.id,
                                   event=f"{desk.level}.{request.status}")
    if delivery.complete:
        told_text = turn.t("support.told.joiner").join(turn.t(key) for key in told)
        turn.say(f"support.decided.{request.status}", id=request.id,
                 amount=baht(request.amount_granted), told=told_text)
    else:
        turn.say(f"support.decided.{request.status}_to", id=request.id,
                 amount=baht(request.amount_granted), delivery=delivery.note)


def _note_param(request: SupportRequest) -> Localized | str:
    threshold = support_requests.auto_threshold(request.tao_note)
    if threshold is not None:
        return Localized("support.auto_note", {"threshold": baht(threshold)})
    return request.tao_note or Localized("support.no_note")


def desk_flow(desk: Desk, title_key: str, menu: MenuEntry) -> Flow:
    steps = {
        "queue": _queue_step(desk),
        "request": _request_step(desk),
        "partial_amount": _partial_amount_step(),
        "reason": Step(_reason_text.ask, _answer_reason),
        "confirm": confirm_step(_summary(desk), {"request": "support.edit_decision"},
                                _save(desk), save_label="support.confirm_decision"),
    }
    if FORWARD in desk.decisions:
        steps["note"] = text_step("note", "support.ask_forward_note", "confirm",
                                  max_length=NOTE_MAX, optional=True)
    return Flow(name=desk.name, title_key=title_key, steps=steps, begin=_begin(desk),
                menu=menu)
