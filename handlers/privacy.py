"""Personal data (PDPA B.E. 2562): the notice given at joining, and the terms it states.

The bot keeps people's data for the public task of the TAO and the district (s.24(4)):
the notice is given, not asked for. `give_notice` gives it, in the joining transaction
and before the role is granted, to whoever has not been given its current version
(recorded in `notice_acceptances` with `NOTICE_VERSION`). The short notice goes with a
link to the full text (`GET /privacy` on the bot's web server) when the bot has a public
address; otherwise the full text follows in the chat.

Bump `NOTICE_VERSION` whenever the text changes in substance: everyone is given the new
one the next time they join a role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from locales import t
from storage import privacy

if TYPE_CHECKING:
    from handlers.turn import Turn

NOTICE_VERSION = "1"
PRIVACY_PATH = "/privacy"

# Retention defaults (days), also the defaults of the CERCAP_RETENTION_* settings.
PHOTO_DAYS = 1095
IDENTITY_DAYS = 180
OUTBOX_DAYS = 30
DEDUPE_DAYS = 7
AUDIT_DETAIL_DAYS = 1825


@dataclass(frozen=True)
class PrivacyTerms:
    """What the notice says of the bot as configured: where the full text is, how long
    each kind of data is kept."""

    public_url: str | None = None
    photo_days: int = PHOTO_DAYS
    identity_days: int = IDENTITY_DAYS
    outbox_days: int = OUTBOX_DAYS
    dedupe_days: int = DEDUPE_DAYS
    audit_detail_days: int = AUDIT_DETAIL_DAYS

    @property
    def url(self) -> str | None:
        return f"{self.public_url.rstrip('/')}{PRIVACY_PATH}" if self.public_url else None

    def params(self) -> dict[str, object]:
        return {"version": NOTICE_VERSION, "photo_days": f"{self.photo_days:,}",
                "identity_days": f"{self.identity_days:,}",
                "outbox_days": f"{self.outbox_days:,}", "dedupe_days": f"{self.dedupe_days:,}",
                "audit_days": f"{self.audit_detail_days:,}"}


def full_text(terms: PrivacyTerms, language: str) -> str:
    return t(language, "privacy.full_text", **terms.params())


def short_notice(terms: PrivacyTerms, language: str) -> str:
    text = t(language, "privacy.notice", **terms.params())
    if terms.url:
        return f"{text}\n{t(language, 'privacy.notice_link', url=terms.url)}"
    return f"{text}\n\n{full_text(terms, language)}"


async def notice_due(turn: Turn) -> bool:
    return not await privacy.notice_given(
        turn.conn, identity_id=turn.identity.id,
        person_id=turn.person.id if turn.person else None, version=NOTICE_VERSION)


async def give_notice(turn: Turn) -> int | None:
    """Give the notice (say it, record it) unless this person was given its version;
    returns the record's id when given now."""
    if not await notice_due(turn):
        return None
    turn.say_text(short_notice(turn.privacy, turn.language))
    return await privacy.record_notice(
        turn.conn, identity_id=turn.identity.id,
        person_id=turn.person.id if turn.person else None, version=NOTICE_VERSION,
        channel=turn.identity.channel, now=turn.now)


def former_name(role: str | None) -> str:
    """The generic name an erased person's records carry, by the role they held (Thai:
    the village's records are kept in Thai)."""
    return t("th", f"privacy.label.former.{role or 'none'}")


def name_titles() -> set[str]:
    return {word for language in ("th", "en")
            for word in t(language, "privacy.label.name_titles").split("|") if word}


async def before_grant(turn: Turn, code_text: str) -> int | None:
    """In the joining transaction, before `handlers.invites.redeem` grants the role of
    `code_text`: give the notice when that code will be taken (a code refused gives no
    notice: nothing is granted). Returns the record to link to the person afterwards."""
    from handlers import invites as invite_rules
    from storage import invites

    failed = await invites.failed_attempts_since(
        turn.conn, turn.identity.id, turn.now - invite_rules.THROTTLE_WINDOW)
    invite = await invites.find(turn.conn, invite_rules.clean_code(code_text))
    if (failed >= invite_rules.MAX_FAILED_TRIES or invite is None
            or invite.expires_at <= turn.now or invite.uses >= invite.max_uses):
        return None
    return await give_notice(turn)


async def after_grant(turn: Turn, notice_id: int | None, person_id: int) -> None:
    if notice_id is not None:
        await privacy.link_notice(turn.conn, notice_id, person_id)
