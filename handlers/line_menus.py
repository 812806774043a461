"""Which LINE rich menu a person sees, and the queued action that shows it to them.

LINE shows a rich menu per user: `cercap-bot line setup-richmenu` installs one per role
(and the default, for people who have not joined) and stores their ids
(storage/rich_menus.py). When a role is granted, the person's LINE chats are linked to the
menu of their role by an outbox row that is an action, not a message (`RICH_MENU_LINK` in
its extra), sent by the LINE sender after the transaction commits: the network call is
never inside it. No menus installed: nothing is queued (everyone keeps LINE's default).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from handlers.messages import Reply
from handlers.permissions import Role
from storage import outbox, people, rich_menus
from storage.connection import Connection

CHANNEL = "line"
RICH_MENU_LINK = "line_rich_menu"  # the extra of an action row: {"role": key, "id": menu id}
DEFAULT_MENU = "default"
# Someone holding several roles gets the menu of the widest duty: they are the one others'
# submissions wait for. Every other action stays one tap away (the menu button).
PRECEDENCE = (Role.DISTRICT, Role.TAO, Role.CORE_TEAM, Role.VILLAGE_COMMITTEE, Role.VIEWER)
MENU_KEYS = (DEFAULT_MENU, *(role.value for role in reversed(PRECEDENCE)))


def menu_for(roles: Iterable[str]) -> str:
    """The rich menu key for a person holding `roles` (the default when none fits)."""
    held = set(roles)
    return next((role.value for role in PRECEDENCE if role.value in held), DEFAULT_MENU)


async def queue_link(conn: Connection, person_id: int, now: datetime,
                     dedupe: str | None = None) -> int:
    """Queue linking each of the person's LINE chats to the menu of their roles; returns
    how many links were queued."""
    key = menu_for(g.role for g in await people.grants_of(conn, person_id))
    menu_id = await rich_menus.get(conn, key)
    if menu_id is None:
        return 0
    queued = 0
    for identity in await people.identities_of(conn, person_id):
        if identity.channel != CHANNEL or identity.chat_id != identity.platform_user_id:
            continue
        payload = Reply("", extra={RICH_MENU_LINK: {"role": key, "id": menu_id}}).to_payload()
        if await outbox.enqueue(conn, channel=CHANNEL, chat_id=identity.platform_user_id,
                                person_id=person_id, priority=outbox.LIVE_REPLY,
                                payload=payload, now=now,
                                dedupe_key=f"{dedupe}:{identity.id}" if dedupe else None):
            queued += 1
    return queued
