"""Signing in to the web site from the chat (core team, TAO, district, viewer): a one-time
link, single use and valid for 10 minutes, opens a session on the site (bot/web/
signed_in.py). No passwords: the chat the bot writes to is the proof of who one is.

When the site has no public address (CERCAP_PUBLIC_URL unset) the entry says so politely
and sends nothing."""

from __future__ import annotations

from handlers.flow import Flow, MenuEntry
from handlers.permissions import Role, may_sign_in
from handlers.turn import Turn
from storage import audit, sign_in
from storage.sign_in import LINK_TTL

SIGN_IN_PATH = "/sign-in/"  # the link is CERCAP_PUBLIC_URL + this + the token


def link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{SIGN_IN_PATH}{token}"


async def begin(turn: Turn) -> None:
    if turn.person is None or not may_sign_in(turn.grants):
        turn.say("sign_in.not_allowed")
        return None
    if not turn.public_url:
        turn.say("sign_in.not_set_up")
        return None
    token = await sign_in.create_link(turn.conn, turn.person.id, turn.now)
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="web.sign_in_link", entity="person", entity_id=turn.person.id)
    turn.say("sign_in.link", url=link_url(turn.public_url, token),
             minutes=int(LINK_TTL.total_seconds() // 60))
    return None


FLOW = Flow(
    name="sign_in",
    title_key="sign_in.title",
    menu=MenuEntry(frozenset({Role.CORE_TEAM, Role.TAO, Role.DISTRICT, Role.VIEWER}),
                   "sign_in.menu", 90),
    begin=begin,
    steps={},
)
