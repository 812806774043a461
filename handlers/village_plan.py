"""What the conversations about a village crisis plan share (the plan flow and the progress
flow): the village the conversation is about, how an item and its approach read, telling
the tambon's core team, and the button that proposes a success story."""

from __future__ import annotations

from typing import Any

from handlers import area_names
from handlers.clock import local_date
from handlers.opening import open_action
from handlers.permissions import Action, PermissionDenied, Role, check
from handlers.thai_input import format_baht
from handlers.turn import DateText, Delivery, Localized, Turn
from storage import stories
from storage.plans import PlanItem

# The village is kept under an underscore key: the home screen holds nothing the person
# typed, so leaving it keeps no draft.
VILLAGE = "_village"
PARTNERED = ("cooperation", "external_support")


async def allowed_village(turn: Turn, action: Action) -> str | None:
    """The conversation's village, if the person may still do `action` there."""
    village = turn.data.get(VILLAGE)
    if not isinstance(village, str):
        return None
    try:
        await check(turn.conn, turn.grants, action, village)
    except PermissionDenied:
        return None
    return village


def approach_text(approach: str, partner: str) -> Localized:
    """'self-reliance', 'cooperation with <partner>', 'support from <partner>'."""
    if approach in PARTNERED and partner:
        return Localized(f"plan.approach_with.{approach}", {"partner": partner})
    return Localized(f"plan.approach.{approach}")


def baht(amount: int) -> Localized:
    return Localized("plan.baht", {"amount": format_baht(amount)})


def item_line(turn: Turn, item: PlanItem) -> str:
    overdue = item.is_overdue(local_date(turn.now))
    return turn.t("plan.item_line", id=item.id, title=item.title,
                  approach=approach_text(item.approach, item.partner),
                  status=Localized(f"plan.status.{item.status}"), percent=item.percent,
                  end=DateText(item.end_on), overdue=turn.t("plan.overdue") if overdue else "")


async def tell_core_team(turn: Turn, village: str, key: str, *, kind: str, entity_id: int,
                         review: bool = False, more_actions: list[tuple[str, str]] | None = None,
                         **params: Any) -> Delivery:
    """Tell the core team of the village's tambon, each in their own language, with a
    button that opens the submission for review when `review`; returns whom it reached
    (a submission nobody could receive is written to the audit log)."""
    assert turn.person is not None
    params.update(village=await area_names.bilingual_title(turn.conn, village, depth=2),
                  reporter=turn.person.display_name)
    actions = [("open.button.review", open_action("review", kind, entity_id))] if review else []
    actions += more_actions or []
    reach = await turn.notify_holders(Role.CORE_TEAM, village[:6], key, actions=actions,
                                      **params)
    return await turn.delivery([reach], village_code=village, kind=kind, entity_id=entity_id,
                               event=key)


def propose_action(item: PlanItem) -> list[tuple[str, str]]:
    """The 🏆 button on the core team's notification of a confirmed outcome (none for an
    outcome that did not solve the problem)."""
    if item.outcome_solved not in stories.PROPOSABLE_OUTCOMES:
        return []
    return [("stories.button.propose", open_action("story", "propose", item.id))]
