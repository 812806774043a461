"""The main menu, built from the person's roles, and the one-shot menu actions."""

from __future__ import annotations

from handlers import reports
from handlers.flows import FLOWS
from handlers.permissions import Role
from handlers.turn import Turn, label_key
from storage import conversations

EVERYONE = frozenset(Role)
_OVERSEERS = frozenset({Role.CORE_TEAM, Role.TAO, Role.DISTRICT, Role.ADMIN})
# One-shot actions (not flows): (order, roles, label key, action).
_ACTIONS = (
    (15, frozenset({Role.VILLAGE_COMMITTEE}), "menu.my_reports", "my_reports"),
    (60, _OVERSEERS, "menu.area_reports", "area_reports"),
    (99, EVERYONE, "menu.help", "help"),
)


def _items(turn: Turn) -> list[tuple[str, str]]:
    roles = {Role(g.role) for g in turn.grants}
    entries = [(flow.menu.order, flow.menu.label_key, flow.name) for flow in FLOWS.values()
               if flow.menu and roles & flow.menu.roles]
    entries += [(order, label, action) for order, allowed, label, action in _ACTIONS
                if roles & allowed]
    return [(turn.t(label), action) for _, label, action in sorted(entries)]


async def _all_items(turn: Turn) -> list[tuple[str, str]]:
    items = _items(turn)
    for draft in await conversations.drafts_of(turn.conn, turn.identity.id):
        flow = FLOWS.get(draft.flow)
        if flow:
            items.insert(0, (turn.t("menu.resume", flow=turn.t(flow.title_key)),
                             f"resume:{draft.flow}"))
    return items


async def action_for_text(turn: Turn, text: str) -> str | None:
    """The menu action whose label the person typed, shown or not."""
    wanted = label_key(text)
    return next((action for label, action in await _all_items(turn)
                 if label_key(label) == wanted), None)


async def show(turn: Turn, after_flow: bool = False) -> None:
    if turn.person is None:
        turn.say("join.how_to_join")
        return
    items = await _all_items(turn)
    turn.menu_choice(turn.t("menu.after_flow" if after_flow else "menu.title"), items)


async def run_action(turn: Turn, action: str) -> None:
    if action == "my_reports":
        await reports.my_village_reports(turn)
    elif action == "area_reports":
        await reports.area_reports(turn)
    elif action == "help":
        turn.say("help.general")
    await show(turn)
