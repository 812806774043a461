"""The main menu, built from the person's roles, and the one-shot menu actions.

The first screen is short: the role's most frequent actions (at most `PRIMARY_MAX`,
declared per role by each flow's `MenuEntry.first`), then "more" (everything else, one
tap away), then the draft to resume, always last, so a draft never renumbers the others.
After an action the person gets a short "what next": the likeliest next steps, the
draft, the main menu."""

from __future__ import annotations

from handlers import reports
from handlers.clock import local_date
from handlers.flow import Flow, MenuEntry
from handlers.flows import FLOWS
from handlers.permissions import Role
from handlers.turn import NAV_PREFIX, Answer, DateText, Turn, label_key
from storage.conversations import Draft

EVERYONE = frozenset(Role)
_OVERSEERS = frozenset({Role.CORE_TEAM, Role.TAO, Role.DISTRICT, Role.ADMIN})
PRIMARY_MAX = 4  # the first screen: 4 actions, "more", the draft: at most 6 buttons
NEXT_MAX = 2  # "what next": 2 next steps, the draft, the main menu: at most 4 buttons
MORE = "more"
HOME = f"{NAV_PREFIX}menu"  # the main menu, as the word "menu" (leaves a question too)
# Engine keys while the draft question is open: the flow asked about, and what the person
# sent to start it (used when they start afresh).
ASKED_DRAFT, PENDING_OPENING = "_asked_draft", "_opening_pending"

# One-shot actions (not flows), by action: where they show, as flows declare it.
_ACTIONS = {
    "my_reports": MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "menu.my_reports", 15,
                            then=("problem_report",)),
    "area_reports": MenuEntry(_OVERSEERS, "menu.area_reports", 60,
                              first={Role.CORE_TEAM: 4, Role.TAO: 3, Role.DISTRICT: 3,
                                     Role.ADMIN: 1},
                              then=("review_inbox", "summary")),
    "help": MenuEntry(EVERYONE, "menu.help", 99, first={Role.VIEWER: 2}, menu_after=True),
}


def _roles(turn: Turn) -> set[Role]:
    return {Role(g.role) for g in turn.grants}


def _entries(turn: Turn) -> dict[str, MenuEntry]:
    """The person's menu entries, by action, in menu order."""
    roles = _roles(turn)
    found = {flow.name: flow.menu for flow in FLOWS.values()
             if flow.menu and roles & flow.menu.roles}
    found |= {action: entry for action, entry in _ACTIONS.items() if roles & entry.roles}
    return dict(sorted(found.items(), key=lambda item: item[1].order))


def _split(turn: Turn, entries: dict[str, MenuEntry]) -> tuple[list[str], list[str]]:
    """(the first screen's actions, the rest): the actions ranked first for any of the
    person's roles, best rank first, at most PRIMARY_MAX."""
    roles = _roles(turn)
    ranked = sorted((min(rank for role, rank in entry.first.items() if role in roles),
                     entry.order, action)
                    for action, entry in entries.items() if roles & set(entry.first))
    primary = [action for _, _, action in ranked][:PRIMARY_MAX] or list(entries)[:PRIMARY_MAX]
    return primary, [action for action in entries if action not in primary]


async def _drafts(turn: Turn) -> list[tuple[Draft, Flow]]:
    """The person's drafts of flows that still exist, the newest first."""
    return [(draft, FLOWS[draft.flow])
            for draft in await turn.drafts()
            if draft.flow in FLOWS and draft.step in FLOWS[draft.flow].steps]


def _resume_item(turn: Turn, flow: Flow) -> tuple[str, str]:
    return turn.t("menu.resume", flow=turn.t(flow.title_key)), f"resume:{flow.name}"


def _item(turn: Turn, entries: dict[str, MenuEntry], action: str) -> tuple[str, str]:
    return turn.t(entries[action].label_key), action


async def action_for_text(turn: Turn, text: str) -> str | None:
    """The menu action whose label the person typed, shown or not."""
    wanted = label_key(text)
    entries = _entries(turn)
    items = [_item(turn, entries, action) for action in entries]
    items.append((turn.t("menu.more"), MORE))
    for _, flow in await _drafts(turn):
        items.append(_resume_item(turn, flow))
        items.append((turn.t("menu.restart", flow=turn.t(flow.title_key)),
                      f"restart:{flow.name}"))
    asked = turn.data.get(ASKED_DRAFT)
    if asked:  # the draft question is open: its buttons' words, typed
        items += [(turn.t("menu.draft_resume"), f"resume:{asked}"),
                  (turn.t("menu.draft_restart"), f"restart:{asked}")]
    return next((action for label, action in items if label_key(label) == wanted), None)


async def show(turn: Turn, after_flow: bool = False, *, finished: str | None = None,
               again: bool = True) -> None:
    """The first screen; with `after_flow`, the short "what next" after `finished` (a flow
    or menu action; `again=False` when it could not start, so it is not offered again)."""
    if turn.person is None:
        turn.say("join.how_to_join")
        return
    turn.data.pop(ASKED_DRAFT, None)
    turn.data.pop(PENDING_OPENING, None)
    entries = _entries(turn)
    done = entries.get(finished or "") or (FLOWS[finished].menu if finished in FLOWS else None)
    if after_flow and not (done and done.menu_after):
        await _what_next(turn, entries, done, finished if not again else None)
        return
    primary, rest = _split(turn, entries)
    items = [_item(turn, entries, action) for action in primary]
    if rest:
        items.append((turn.t("menu.more"), MORE))
    drafts = await _drafts(turn)
    if drafts:
        items.append(_resume_item(turn, drafts[0][1]))
    turn.menu_choice(turn.t("menu.after_flow" if after_flow else "menu.title"), items)


async def _what_next(turn: Turn, entries: dict[str, MenuEntry], done: MenuEntry | None,
                     exclude: str | None) -> None:
    nexts = [a for a in (done.then if done else ()) if a in entries and a != exclude]
    if not nexts:
        nexts = [a for a in _split(turn, entries)[0] if a != exclude]
    items = [_item(turn, entries, action) for action in nexts[:NEXT_MAX]]
    drafts = await _drafts(turn)
    if drafts:
        items.append(_resume_item(turn, drafts[0][1]))
    items.append((turn.t("menu.home"), HOME))
    turn.menu_choice(turn.t("menu.after_flow"), items)


async def show_more(turn: Turn) -> None:
    """Everything not on the first screen, the older drafts, and the way back."""
    entries = _entries(turn)
    _, rest = _split(turn, entries)
    items = [_item(turn, entries, action) for action in rest]
    items += [_resume_item(turn, flow) for _, flow in (await _drafts(turn))[1:]]
    items.append((turn.t("menu.home"), HOME))
    turn.menu_choice(turn.t("menu.more_title"), items)


def ask_about_draft(turn: Turn, flow: Flow, draft: Draft, opening: Answer | None) -> None:
    """Starting a flow that has a draft: resume it, or start afresh (the draft goes)."""
    turn.data[ASKED_DRAFT] = flow.name
    if opening is not None:
        turn.data[PENDING_OPENING] = opening_data(opening)
    turn.menu_choice(turn.t("menu.draft_question", flow=turn.t(flow.title_key),
                            saved=DateText(local_date(draft.saved_at))),
                     [(turn.t("menu.draft_resume"), f"resume:{flow.name}"),
                      (turn.t("menu.draft_restart"), f"restart:{flow.name}"),
                      (turn.t("menu.home"), HOME)])


def opening_data(answer: Answer) -> dict[str, object]:
    """What the person sent to start a flow, as conversation data (JSON)."""
    location = answer.location
    return {"text": answer.text, "photo": answer.photo, "photo_id": answer.photo_id,
            "location": [location.latitude, location.longitude] if location else None}


async def run_action(turn: Turn, action: str) -> None:
    if action == MORE:
        await show_more(turn)
        return
    if action == "my_reports":
        await reports.my_village_reports(turn)
    elif action == "area_reports":
        await reports.area_reports(turn)
    elif action == "help":
        turn.say("help.general")
    await show(turn, after_flow=True, finished=action)
