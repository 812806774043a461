"""Issuing and redeeming invite codes. Used by the chat and by the command line."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.permissions import PermissionDenied, Role, may_invite
from storage import areas, audit, invites, people
from storage.connection import Connection
from storage.invites import Invite
from storage.people import Grant, Identity

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed on phones
CODE_LENGTH = 10
DEFAULT_TTL = timedelta(days=7)
MAX_FAILED_TRIES = 5
THROTTLE_WINDOW = timedelta(hours=1)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def clean_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum() and ch.isascii())


def looks_like_code(text: str) -> bool:
    cleaned = clean_code(text)
    return len(cleaned) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in cleaned)


def deep_link(bot_username: str | None, code: str) -> str | None:
    return f"https://t.me/{bot_username}?start={code}" if bot_username else None


async def issue(conn: Connection, *, issuer_id: int | None,
                issuer_grants: Iterable[Grant],
                role: Role, area_code: str, now: datetime, ttl: timedelta = DEFAULT_TTL,
                max_uses: int = 1, is_admin_cli: bool = False) -> Invite:
    area = await areas.get(conn, area_code)
    if area is None:
        raise ValueError(f"unknown area {area_code}")
    lineage = [a.code for a in await areas.lineage(conn, area_code)]
    if not may_invite(issuer_grants, role, area.level, lineage, is_admin_cli=is_admin_cli):
        raise PermissionDenied(f"may not invite {role} for {area_code}")
    invite = await invites.create(conn, new_code(), role, area_code, issuer_id, now + ttl,
                                  max_uses, now)
    await audit.record(conn, now=now, person_id=issuer_id, action="invite.issue",
                       entity="invite", entity_id=invite.id, to_state="issued",
                       detail={"role": role.value, "area": area_code, "max_uses": max_uses})
    return invite


@dataclass(frozen=True)
class Redeemed:
    invite: Invite
    person_id: int
    new_person: bool


class RedeemError(Exception):
    """Why a code was refused: `reason` is one of throttled, unknown, expired, used."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def redeem(conn: Connection, identity: Identity, text: str, language: str,
                 now: datetime) -> Redeemed:
    failed = await invites.failed_attempts_since(conn, identity.id, now - THROTTLE_WINDOW)
    if failed >= MAX_FAILED_TRIES:
        raise RedeemError("throttled")
    invite = await invites.find(conn, clean_code(text))
    reason = None
    if invite is None:
        reason = "unknown"
    elif invite.expires_at <= now:
        reason = "expired"
    elif invite.uses >= invite.max_uses:
        reason = "used"
    await invites.record_attempt(conn, identity.id, reason is None, now)
    if reason is not None or invite is None:
        raise RedeemError(reason or "unknown")
    person_id = identity.person_id
    new_person = person_id is None
    if person_id is None:
        person_id = await people.create_person(conn, "", language, now)
        await people.link_identity(conn, identity.id, person_id)
    await people.add_grant(conn, person_id, Grant(invite.role, invite.area_code), invite.id, now)
    await invites.use(conn, invite.id)
    await audit.record(conn, now=now, person_id=person_id, action="invite.redeem",
                       entity="invite", entity_id=invite.id, from_state="issued",
                       to_state="used", detail={"role": invite.role, "area": invite.area_code})
    return Redeemed(invite, person_id, new_person)
