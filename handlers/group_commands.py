"""What the bot does in group chats: only commands. Data entry belongs in private chats;
a core-team member may link a group to receive the tambon's notifications."""

from __future__ import annotations

from datetime import datetime

from handlers import area_names
from handlers.messages import Incoming, Reply
from handlers.permissions import Role, areas_with_role
from locales import DEFAULT_LANGUAGE, t
from storage import areas, audit, groups, outbox, people
from storage.connection import Connection

LINK_COMMANDS = ("/link", "/linkgroup")
UNLINK_COMMANDS = ("/unlink", "/unlinkgroup")
GREETING_COMMANDS = ("/start",)  # also what the LINE adapter sends when added to a group


def _command(text: str) -> str:
    """"/link@cercap_bot now" -> "/link"."""
    return text.strip().split()[0].split("@")[0].casefold() if text.strip() else ""


async def handle(conn: Connection, incoming: Incoming, now: datetime) -> None:
    identity = await people.identity(conn, incoming.channel, incoming.user_id)
    person = await people.person(conn, identity.person_id) if identity and identity.person_id \
        else None
    language = person.language if person else DEFAULT_LANGUAGE
    command = _command(incoming.text or "")
    tambons = areas_with_role(await people.grants_of(conn, person.id), Role.CORE_TEAM) \
        if person else []
    if command in LINK_COMMANDS and person and tambons:
        for tambon in tambons:
            await groups.link(conn, incoming.channel, incoming.chat_id, tambon, person.id, now)
        await audit.record(conn, now=now, person_id=person.id, action="group.link",
                           entity="chat", entity_id=f"{incoming.channel}:{incoming.chat_id}",
                           detail={"areas": tambons})
        names = [area_names.title(await areas.lineage(conn, code), language, depth=2)
                 for code in tambons]
        text = t(language, "group.linked", areas=", ".join(names))
    elif command in LINK_COMMANDS:
        text = t(language, "group.link_not_allowed")
    elif command in UNLINK_COMMANDS and person and tambons:
        await groups.unlink(conn, incoming.channel, incoming.chat_id)
        await audit.record(conn, now=now, person_id=person.id, action="group.unlink",
                           entity="chat", entity_id=f"{incoming.channel}:{incoming.chat_id}")
        text = t(language, "group.unlinked")
    elif command in GREETING_COMMANDS:
        text = t(language, "group.greeting")
    else:
        text = t(language, "group.private_only")
    await outbox.enqueue(conn, channel=incoming.channel, chat_id=incoming.chat_id,
                         person_id=person.id if person else None, priority=outbox.LIVE_REPLY,
                         payload=Reply(text).to_payload(), now=now,
                         reply_token=incoming.reply_token,
                         dedupe_key=f"{incoming.channel}:{incoming.update_id}:r0")
