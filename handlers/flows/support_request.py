"""Asking for support (village committee): an external-support item of the open plan,
the amount, the purpose, a confirmation screen with edits. The request goes to the
tambon's TAO, or straight on to the district when it asks for more than the tambon's
threshold (the TAO is then told for information).

A request the TAO or the district returned is corrected here too, from the return's
button (handlers/corrections.py): its confirmation screen with the stored values, every
field editable, saved onto the same request as its next version, waiting again at the desk
that returned it (a correction above the tambon's threshold goes on to the district, as a
new request would); the decider is told, with the changes and a button to decide."""

from __future__ import annotations

from typing import Any

from handlers import area_names, corrections
from handlers.flow import END, Flow, MenuEntry, Step, proceed
from handlers.opening import open_action
from handlers.permissions import Action, PermissionDenied, Role, areas_with_role, check
from handlers.steps import amount_step, confirm_step, text_step
from handlers.submissions import Reader
from handlers.support_wording import baht, status_param
from handlers.turn import Answer, Bilingual, Invalid, Localized, Turn
from storage import areas, audit, plans, support_requests, tambon_settings
from storage.plans import PlanItem

EXTERNAL_SUPPORT = "external_support"
PURPOSE_MIN, PURPOSE_MAX = 5, 500


async def _may_request(turn: Turn, village: str) -> bool:
    try:
        await check(turn.conn, turn.grants, Action.REQUEST_SUPPORT, village)
    except PermissionDenied:
        return False
    return True


async def _items(turn: Turn, village: str) -> list[PlanItem]:
    """The open external-support items of the village's open plan."""
    if not await _may_request(turn, village):
        return []
    return [item for item in await plans.open_items_of_village(turn.conn, village)
            if item.approach == EXTERNAL_SUPPORT]


async def begin(turn: Turn) -> str | None:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    if not villages:
        turn.say("support.not_allowed")
        return None
    if len(villages) > 1:
        return "village"
    turn.data["village"] = villages[0]
    if not await _items(turn, villages[0]):
        turn.say("support.no_items")
        return None
    return "item"


# --- village (only for people on more than one village committee) ---------------------------

async def ask_village(turn: Turn) -> None:
    choices = []
    for code in areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        area = await areas.get(turn.conn, code)
        if area:
            choices.append((area_names.title([area], turn.language, depth=1), code))
    turn.ask(turn.t("support.ask_village"), choices)


async def answer_village(turn: Turn, answer: Answer) -> str:
    if answer.choice not in areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        raise Invalid("input.use_buttons")
    if not await _items(turn, answer.choice):
        raise Invalid("support.no_items")
    if answer.choice != turn.data.get("village"):
        turn.data.pop("item", None)
        turn.data.pop("_return_to", None)  # another village's items: choose again
    turn.data["village"] = answer.choice
    return proceed(turn, "item")


# --- item ------------------------------------------------------------------------------------

async def ask_item(turn: Turn) -> None:
    items = await _items(turn, str(turn.data.get("village", "")))
    turn.ask(turn.t("support.ask_item"),
             [(turn.t("support.item_button", title=i.title, budget=baht(i.budget_needed)),
               str(i.id)) for i in items])


async def answer_item(turn: Turn, answer: Answer) -> str:
    items = {str(i.id): i for i in await _items(turn, str(turn.data.get("village", "")))}
    item = items.get(answer.choice or "")
    if item is None:
        raise Invalid("input.use_buttons")
    turn.data.update(item=item.id, item_title=item.title, item_budget=item.budget_needed)
    return proceed(turn, "amount")


def _ask_amount(turn: Turn) -> str:
    return turn.t("support.ask_amount", title=turn.data.get("item_title", ""),
                  budget=baht(turn.data.get("item_budget")))


# --- confirmation and save -------------------------------------------------------------------

EDITABLE = {"item": "support.edit.item", "amount": "support.edit.amount",
            "purpose": "support.edit.purpose"}


async def _summary(turn: Turn) -> str:
    d = turn.data
    village = d["village"]
    threshold = await tambon_settings.threshold(turn.conn, village[:6])
    warnings = []
    if d.get("item_budget") and d["amount"] > d["item_budget"]:
        warnings.append(turn.t("support.summary_over_budget"))
    if d["amount"] > threshold:
        warnings.append(turn.t("support.summary_auto_forward", threshold=baht(threshold)))
    return await corrections.heading(turn) + turn.t(
        "support.summary",
        village=area_names.title(await areas.lineage(turn.conn, village), turn.language, 2),
        title=d.get("item_title", ""), budget=baht(d.get("item_budget")),
        amount=baht(d["amount"]), purpose=d["purpose"],
        warnings="".join("\n" + w for w in warnings))


async def _valid_item(turn: Turn) -> PlanItem | None:
    item = await plans.get_item(turn.conn, int(turn.data.get("item") or 0))
    if (item is None or item.village_code != turn.data["village"] or not item.is_open()
            or item.approach != EXTERNAL_SUPPORT):
        return None
    open_plan = await plans.open_plan(turn.conn, item.village_code)
    return item if open_plan and open_plan.id == item.plan_id else None


async def _save(turn: Turn) -> str:
    d = turn.data
    assert turn.person is not None
    if not await _may_request(turn, d["village"]):
        turn.say("support.not_allowed")
        return END
    if corrections.correcting(turn, corrections.REQUEST) is not None:
        return await _save_correction(turn)
    item = await _valid_item(turn)
    if item is None:
        turn.say("support.item_gone")
        return END
    request_id = await support_requests.create(
        turn.conn, item_id=item.id, village_code=item.village_code, amount=d["amount"],
        purpose=d["purpose"], person_id=turn.person.id, now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="support_request.submit", entity="support_request",
                       entity_id=request_id, to_state=support_requests.SUBMITTED,
                       detail={"item_id": item.id, "amount": d["amount"], "level": "tambon"})
    tambon = item.village_code[:6]
    threshold = await tambon_settings.threshold(turn.conn, tambon)
    params = dict(id=request_id, item=item.title, amount=baht(d["amount"]),
                  purpose=d["purpose"][:300], threshold=baht(threshold),
                  village=await area_names.bilingual_title(turn.conn, item.village_code, 2))
    if d["amount"] <= threshold:
        tao = await turn.notify_holders(
            Role.TAO, tambon, "support.notify.new",
            actions=[("open.button.decide", open_action("decide", "tao_queue", request_id))],
            **params)
        delivery = await turn.delivery([tao], village_code=item.village_code,
                                       kind="support_request", entity_id=request_id)
        turn.say_delivered(delivery, "support.saved", id=request_id)
        return END
    await _forward_automatically(turn, request_id, threshold)
    # The district decides it now; the TAO is only let know.
    district = await turn.notify_holders(
        Role.DISTRICT, item.village_code[:4], "support.notify.auto_district",
        actions=[("open.button.decide", open_action("decide", "district_queue", request_id))],
        **params)
    tao = await turn.notify_holders(Role.TAO, tambon, "support.notify.auto_tao",
                                    primary=False, **params)
    delivery = await turn.delivery([district, tao], village_code=item.village_code,
                                   kind="support_request", entity_id=request_id,
                                   event="auto_forward")
    turn.say_delivered(delivery, "support.saved_auto", id=request_id, threshold=baht(threshold))
    return END


async def _forward_automatically(turn: Turn, request_id: int, threshold: int) -> None:
    """Beyond the tambon's capacity by its own rule: the system forwards, not a person."""
    assert turn.person is not None
    note = support_requests.auto_note(threshold)
    await support_requests.forward(turn.conn, request_id, note=note, person_id=None,
                                   now=turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=None,
                       action="support_request.forward", entity="support_request",
                       entity_id=request_id, from_state=support_requests.SUBMITTED,
                       to_state=support_requests.FORWARDED, reason=note,
                       detail={"auto": True, "threshold": threshold,
                               "triggered_by": turn.person.id, "level": "district"})


# --- correcting a request the TAO or the district returned (handlers/corrections.py) ---------

async def load_for_correction(turn: Turn, request: support_requests.SupportRequest) -> str:
    """The stored request in the conversation, for its confirmation screen."""
    item = await plans.get_item(turn.conn, request.item_id)
    turn.data.update(village=request.village_code, item=request.item_id,
                     item_title=item.title if item else f"#{request.item_id}",
                     item_budget=item.budget_needed if item else 0,
                     amount=request.amount_requested, purpose=request.purpose)
    return "confirm"


async def _save_correction(turn: Turn) -> str:
    """The corrected request: the next version, at the desk that returned it; the version
    before whole in the audit log; the decider told, with the changes and a button."""
    d = turn.data
    assert turn.person is not None
    old = await corrections.still_correctable_request(turn)
    if old is None:
        return END
    item = await _valid_item(turn)
    if item is None:
        raise Invalid("support.correct_item_gone")
    if (item.id, d["amount"], d["purpose"]) == (old["item_id"], old["amount_requested"],
                                                old["purpose"]):
        raise Invalid("correct.no_changes")
    try:
        before = await support_requests.resubmit(
            turn.conn, int(old["id"]), item_id=item.id, amount=d["amount"], purpose=d["purpose"],
            person_id=turn.person.id, now=turn.now)
    except support_requests.NotReturned:
        current = await support_requests.get(turn.conn, int(old["id"]))
        assert current is not None
        turn.data.pop(corrections.MARK, None)
        turn.say("open.not_correctable", status=status_param(current))
        return END
    new = await support_requests.row(turn.conn, before.id)
    assert new is not None
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="support_request.correct", entity="support_request",
                       entity_id=before.id, from_state=before.status, to_state=new["status"],
                       detail={"version": before.version, "new_version": new["version"],
                               "level": before.level, "old": old, "new": new})
    tambon = item.village_code[:6]
    threshold = await tambon_settings.threshold(turn.conn, tambon)
    # Above the tambon's threshold, the tambon's own rule sends it on, as for a new request.
    auto = before.level == support_requests.TAMBON and d["amount"] > threshold
    if auto:
        await _forward_automatically(turn, before.id, threshold)
    at_district = auto or before.level == support_requests.DISTRICT
    changes = Bilingual(*["\n".join(await corrections.request_changes(
        turn.conn, Reader(language), old, new)) for language in ("th", "en")])
    params: dict[str, Any] = dict(
        id=before.id, item=item.title, amount=baht(d["amount"]), purpose=d["purpose"][:300],
        threshold=baht(threshold), version=new["version"], changes=changes,
        reporter=turn.person.display_name,
        village=await area_names.bilingual_title(turn.conn, item.village_code, 2))
    desk = "district_queue" if at_district else "tao_queue"
    reaches = [await turn.notify_holders(
        Role.DISTRICT if at_district else Role.TAO,
        item.village_code[:4] if at_district else tambon,
        "support.notify.corrected_auto" if auto else "support.notify.corrected",
        actions=[("open.button.decide", open_action("decide", desk, before.id))], **params)]
    if auto:
        reaches.append(await turn.notify_holders(Role.TAO, tambon, "support.notify.auto_tao",
                                                 primary=False, **params))
    delivery = await turn.delivery(reaches, village_code=item.village_code,
                                   kind="support_request", entity_id=before.id, event="correct")
    turn.say_delivered(delivery, "support.corrected_auto" if auto else "support.corrected",
                       id=before.id, version=new["version"], threshold=baht(threshold),
                       desk=Localized("support.by.district" if at_district
                                      else "support.by.tambon"))
    turn.data.pop(corrections.MARK, None)
    return END


FLOW = Flow(
    name="support_request",
    title_key="support.flow.request",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "support.menu", 35,
                   then=("support_status", "support_request")),
    begin=begin,
    steps={
        "village": Step(ask_village, answer_village),
        "item": Step(ask_item, answer_item),
        "amount": amount_step("amount", _ask_amount, "purpose", minimum=1),
        "purpose": text_step("purpose", "support.ask_purpose", "confirm",
                             min_length=PURPOSE_MIN, max_length=PURPOSE_MAX),
        "confirm": confirm_step(_summary, EDITABLE, _save, save_label="support.submit"),
    },
)
