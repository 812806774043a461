"""The onboarding sheet from the chat: a tambon core team gets one printable page per
village of its tambon (a QR code to join on Telegram, one for LINE, the code, its expiry),
as a PDF. The codes are issued here, in the handling transaction, with the chat's own
invite rules (handlers/invites.py); the PDF is drawn by the outbox sender from the reply's
`render` spec (bot/invite_sheet.py), outside the transaction.

`issue_sheet` is shared with `cercap-bot invite sheet` (bot/cli.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from handlers import area_names, invites
from handlers.clock import local_date
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.messages import Reply
from handlers.permissions import Role, areas_with_role
from handlers.turn import Answer, Invalid, Turn
from locales import format_date, t
from storage import areas
from storage.connection import Connection
from storage.people import Grant

# The invite sheet's JSON spec, drawn by bot/invite_sheet.py (kept here as plain data, so
# the flows do not import the PDF library).
SHEET_KIND = "invite_sheet"
DEFAULT_USES = 10  # a village committee is several people: each scans the same page
DEFAULT_TTL = invites.DEFAULT_TTL
VILLAGE_ROLES = (Role.VILLAGE_COMMITTEE,)
TAMBON_ROLES = (Role.CORE_TEAM, Role.TAO)


def telegram_link(bot_username: str | None, code: str) -> str | None:
    return invites.deep_link(bot_username, code)


def line_link(basic_id: str | None, code: str) -> str | None:
    """LINE's link that opens the chat with the official account, the code typed in."""
    from urllib.parse import quote

    if not basic_id:
        return None
    return f"https://line.me/R/oaMessage/{quote(basic_id, safe='@')}/?{quote(code, safe='')}"


class NoVillages(ValueError):
    """The tambon has no villages to invite (import them first)."""


async def issue_sheet(conn: Connection, *, tambon_code: str, role: Role,
                      issuer_id: int | None, issuer_grants: list[Grant], now: datetime,
                      language: str, bot_username: str | None, line_basic_id: str | None,
                      uses: int = DEFAULT_USES, ttl: timedelta = DEFAULT_TTL,
                      is_admin_cli: bool = False) -> dict[str, Any]:
    """Issue one code per village of the tambon (a village role) or one for the tambon
    (core team, TAO), and return the sheet's render spec (bot/invite_sheet.Sheet)."""
    tambon = await areas.get(conn, tambon_code)
    if tambon is None or tambon.level != "tambon":
        raise ValueError(f"unknown tambon {tambon_code}")
    if role in VILLAGE_ROLES:
        targets = await areas.children(conn, tambon_code)
        if not targets:
            raise NoVillages(f"tambon {tambon_code} has no villages: import them with"
                             " cercap-bot areas import-villages")
    elif role in TAMBON_ROLES:
        targets = [tambon]
    else:
        roles = ", ".join(r.value for r in (*VILLAGE_ROLES, *TAMBON_ROLES))
        raise ValueError(f"an invite sheet is for {roles} (got {role.value})")
    lineage = await areas.lineage(conn, tambon_code)
    entries = []
    expires = now + ttl
    for area in targets:
        invite = await invites.issue(conn, issuer_id=issuer_id, issuer_grants=issuer_grants,
                                     role=role, area_code=area.code, now=now, ttl=ttl,
                                     max_uses=uses, is_admin_cli=is_admin_cli)
        expires = invite.expires_at
        entries.append({"area": area_names.title([area], language, depth=1),
                        "code": invite.code,
                        "telegram": telegram_link(bot_username, invite.code),
                        "line": line_link(line_basic_id, invite.code)})
    return {"kind": SHEET_KIND, "language": language, "tambon_code": tambon_code,
            "place": area_names.title(lineage, language, depth=3),
            "role": t(language, f"role.{role.value}"),
            "expires": format_date(local_date(expires), language), "uses": uses,
            "entries": entries}


# --- the chat ------------------------------------------------------------------------------

def _tambons(turn: Turn) -> list[str]:
    return areas_with_role(turn.grants, Role.CORE_TEAM)


async def _tambon_title(turn: Turn, code: str) -> str:
    return area_names.title(await areas.lineage(turn.conn, code), turn.language, depth=1)


async def begin(turn: Turn) -> str | None:
    tambons = _tambons(turn)
    if not tambons:
        turn.say("onboarding.sheet.not_allowed")
        return None
    if len(tambons) == 1:
        return await _chosen(turn, tambons[0])
    return "tambon"


async def _chosen(turn: Turn, tambon: str) -> str | None:
    if not await areas.children(turn.conn, tambon):
        turn.say("onboarding.sheet.no_villages", tambon=await _tambon_title(turn, tambon))
        return None
    turn.data["tambon"] = tambon
    return "confirm"


async def ask_tambon(turn: Turn) -> None:
    turn.ask(turn.t("onboarding.sheet.ask_tambon"),
             [(await _tambon_title(turn, code), code) for code in _tambons(turn)])


async def answer_tambon(turn: Turn, answer: Answer) -> str:
    if answer.choice not in _tambons(turn):
        raise Invalid("input.use_buttons")
    chosen = await _chosen(turn, answer.choice)
    if chosen is None:
        return END
    return chosen


async def ask_confirm(turn: Turn) -> None:
    tambon = turn.data["tambon"]
    villages = await areas.children(turn.conn, tambon)
    turn.ask(turn.t("onboarding.sheet.confirm", villages=len(villages),
                    tambon=await _tambon_title(turn, tambon), uses=DEFAULT_USES,
                    expires=format_date(local_date(turn.now + DEFAULT_TTL), turn.language)),
             [(turn.t("onboarding.sheet.make"), "make")], nav=True)


async def answer_confirm(turn: Turn, answer: Answer) -> str:
    if answer.choice != "make":
        raise Invalid("input.use_buttons")
    tambon = turn.data["tambon"]
    if tambon not in _tambons(turn):
        raise Invalid("input.use_buttons")
    spec = await issue_sheet(
        turn.conn, tambon_code=tambon, role=Role.VILLAGE_COMMITTEE,
        issuer_id=turn.person.id if turn.person else None, issuer_grants=turn.grants,
        now=turn.now, language=turn.language, bot_username=turn.bot_username,
        line_basic_id=turn.line_basic_id)
    turn.say_reply(Reply(turn.t("onboarding.sheet.rendering", villages=len(spec["entries"])),
                         extra={"render": spec}))
    return END


FLOW = Flow(
    name="invite_sheet",
    title_key="onboarding.sheet.title",
    menu=MenuEntry(frozenset({Role.CORE_TEAM}), "onboarding.sheet.menu", 71,
                   then=("issue_invite",)),
    begin=begin,
    steps={"tambon": Step(ask_tambon, answer_tambon), "confirm": Step(ask_confirm, answer_confirm)},
)
