"""The main menu, built from the person's roles, and the one-shot menu actions."""

from __future__ import annotations

from handlers import reports
from handlers.permissions import INVITABLE_ROLES, Role
from handlers.turn import Turn, label_key
from storage import conversations


def _items(turn: Turn) -> list[tuple[str, str]]:
    roles = {g.role for g in turn.grants}
    items: list[tuple[str, str]] = []
    if Role.VILLAGE_COMMITTEE in roles:
        items += [(turn.t("menu.report"), "problem_report"),
                  (turn.t("menu.my_reports"), "my_reports")]
    if roles & {Role.CORE_TEAM, Role.TAO, Role.DISTRICT, Role.ADMIN}:
        items.append((turn.t("menu.area_reports"), "area_reports"))
    if any(INVITABLE_ROLES.get(Role(r)) for r in roles) or Role.ADMIN in roles:
        items.append((turn.t("menu.issue_invite"), "issue_invite"))
    items += [(turn.t("menu.join"), "join"), (turn.t("menu.language"), "language"),
              (turn.t("menu.help"), "help")]
    return items


async def _all_items(turn: Turn) -> list[tuple[str, str]]:
    items = _items(turn)
    for draft in await conversations.drafts_of(turn.conn, turn.identity.id):
        from handlers.flows import FLOWS  # a flow may show the menu: import late

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
