"""Issuing an invite code from the chat: a core team invites its villages' committees,
a district its tambons' core teams and TAO officers."""

from __future__ import annotations

from handlers import area_names, invites
from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import INVITABLE_ROLES, PermissionDenied, Role, invitable_roles
from handlers.turn import Answer, Invalid, Turn
from locales import format_date
from storage import areas


def _roles(turn: Turn) -> list[Role]:
    return list(dict.fromkeys(role for role, _ in invitable_roles(turn.grants)))


async def begin(turn: Turn) -> str | None:
    roles = _roles(turn)
    if not roles:
        turn.say("invite.not_allowed")
        return None
    if len(roles) == 1:
        turn.data["role"] = roles[0].value
        return "area"
    return "role"


async def ask_role(turn: Turn) -> None:
    turn.ask(turn.t("invite.ask_role"), [(turn.t(f"role.{r}"), r.value) for r in _roles(turn)])


async def answer_role(turn: Turn, answer: Answer) -> str:
    if answer.choice not in {r.value for r in _roles(turn)}:
        raise Invalid("input.use_buttons")
    turn.data["role"] = answer.choice
    return "area"


async def _candidate_areas(turn: Turn) -> list[areas.Area]:
    role = Role(turn.data["role"])
    found: list[areas.Area] = []
    for invitable, parent in invitable_roles(turn.grants):
        if invitable == role:
            found += await areas.children(turn.conn, parent)
    return found


async def ask_area(turn: Turn) -> None:
    candidates = await _candidate_areas(turn)
    if not candidates:
        turn.ask(turn.t("invite.no_areas"))
        return
    turn.ask(turn.t("invite.ask_area", role=turn.t(f"role.{turn.data['role']}")),
             [(area_names.title([a], turn.language, depth=1), a.code) for a in candidates])


async def answer_area(turn: Turn, answer: Answer) -> str:
    if not answer.choice:
        raise Invalid("input.use_buttons")
    try:
        invite = await invites.issue(
            turn.conn, issuer_id=turn.person.id if turn.person else None,
            issuer_grants=turn.grants, role=Role(turn.data["role"]), area_code=answer.choice,
            now=turn.now)
    except (PermissionDenied, ValueError):
        raise Invalid("invite.out_of_scope") from None
    lineage = await areas.lineage(turn.conn, invite.area_code)
    link = invites.deep_link(turn.bot_username, invite.code)
    turn.say("invite.issued", code=invite.code, role=turn.t(f"role.{invite.role}"),
             area=area_names.title(lineage, turn.language),
             expires=format_date(local_date(invite.expires_at), turn.language))
    if link:
        turn.say("invite.deep_link", link=link)
    return END


FLOW = Flow(
    name="issue_invite",
    title_key="flow.issue_invite",
    menu=MenuEntry(frozenset(INVITABLE_ROLES), "menu.issue_invite", 70,
                   first={Role.CORE_TEAM: 3, Role.DISTRICT: 4}, then=("issue_invite",)),
    begin=begin,
    steps={"role": Step(ask_role, answer_role), "area": Step(ask_area, answer_area)},
)
