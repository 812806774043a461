"""`cercap-bot line setup-richmenu`: installs the Thai rich menus, one per role.

One menu for each role (village committee, core team, TAO, district, viewer) and the
default, shown to everyone not linked to another (people who have not joined: join, help).
Each button is a postback `r:<action>` (handlers/engine.py: navigation wherever it arrives)
with an icon drawn by the project. The ids are stored in the database
(storage/rich_menus.py); every joined LINE user is linked to the menu of their role through
the outbox (the running bot sends the links), and the menus installed before are deleted.
A person who joins later is linked when the role is granted (handlers/line_menus.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    RichMenuRequest,
)

from bot.config import Settings
from bot.line_channel import TIMEOUT
from bot.rich_menu import RichMenuButton, draw_image, rich_menu_request
from handlers import line_menus
from handlers.clock import SystemClock
from handlers.engine import RICH_MENU_PREFIX
from locales import DEFAULT_LANGUAGE, t
from storage import rich_menus
from storage.db import Database

log = logging.getLogger(__name__)

# (label key under richmenu., action, icon): the action is a flow, a menu action or a
# navigation word, as the engine's rich-menu tap takes it.
REPORT = ("report", "problem_report", "report")
PLAN = ("plan", "plan", "plan")
PROGRESS = ("progress", "progress", "progress")
SUMMARY = ("summary", "summary", "summary")
MENU = ("menu", "menu", "menu")
HELP = ("help", "help", "help")
REVIEW = ("review", "review_inbox", "review")
AREA_REPORTS = ("area_reports", "area_reports", "reports")
INVITE = ("invite", "issue_invite", "invite")
TAO_QUEUE = ("tao_queue", "tao_queue", "decide")
DISTRICT_QUEUE = ("district_queue", "district_queue", "forwarded")
JOIN = ("join", "join", "join")

RICH_MENUS: dict[str, tuple[tuple[str, str, str], ...]] = {
    line_menus.DEFAULT_MENU: (JOIN, HELP),
    "village_committee": (REPORT, PLAN, PROGRESS, SUMMARY, MENU),
    "core_team": (REVIEW, AREA_REPORTS, INVITE, SUMMARY, MENU),
    "tao": (TAO_QUEUE, AREA_REPORTS, SUMMARY, MENU),
    "district": (DISTRICT_QUEUE, INVITE, SUMMARY, MENU),
    "viewer": (SUMMARY, HELP, MENU),
}


@dataclass(frozen=True)
class Installed:
    menus: dict[str, str]  # menu key -> rich menu id
    linked: int  # links queued for people who had joined already
    deleted: int  # menus of an earlier install removed


def rich_menu_buttons(menu_key: str = "village_committee",
                      language: str = DEFAULT_LANGUAGE) -> list[RichMenuButton]:
    return [RichMenuButton(t(language, f"richmenu.{label}"), f"{RICH_MENU_PREFIX}{action}",
                           icon)
            for label, action, icon in RICH_MENUS[menu_key]]


def _configuration(settings: Settings) -> Configuration:
    if not settings.line_access_token:
        raise ValueError("LINE_CHANNEL_ACCESS_TOKEN is not set")
    if settings.line_api_host:
        return Configuration(host=settings.line_api_host.rstrip("/"),
                             access_token=settings.line_access_token)
    return Configuration(access_token=settings.line_access_token)


async def _create(api: AsyncMessagingApi, blob: AsyncMessagingApiBlob, key: str) -> str:
    buttons = rich_menu_buttons(key)
    request = rich_menu_request(buttons, t(DEFAULT_LANGUAGE, "richmenu.chat_bar"),
                                name=f"cercap-{key}")
    created = await api.create_rich_menu(RichMenuRequest.from_dict(request),
                                         _request_timeout=TIMEOUT)
    # The SDK sends no image content type by itself.
    await blob.set_rich_menu_image(created.rich_menu_id, draw_image(buttons),
                                   _headers={"Content-Type": "image/png"},
                                   _request_timeout=TIMEOUT)
    return str(created.rich_menu_id)


async def install_rich_menus(settings: Settings) -> Installed:
    """Creates every role's rich menu with its image, makes the join/help one the default,
    stores the ids, queues a link for everyone who joined, and deletes the menus of the
    install before."""
    configuration = _configuration(settings)
    now = SystemClock().now()
    async with AsyncApiClient(configuration) as client:
        api, blob = AsyncMessagingApi(client), AsyncMessagingApiBlob(client)
        menus = {key: await _create(api, blob, key) for key in RICH_MENUS}
        await api.set_default_rich_menu(menus[line_menus.DEFAULT_MENU],
                                        _request_timeout=TIMEOUT)
        async with Database(settings.db_path) as db, db.transaction() as conn:
            old = await rich_menus.replace_all(conn, menus, now)
            linked = 0
            for person_id in await rich_menus.joined_line_people(conn):
                linked += await line_menus.queue_link(
                    conn, person_id, now, dedupe=f"richmenu:{now.isoformat()}:{person_id}")
        deleted = 0
        for menu_id in old:
            try:
                await api.delete_rich_menu(menu_id, _request_timeout=TIMEOUT)
                deleted += 1
            except ApiException as exc:  # deleted by hand meanwhile: nothing left to do
                log.info("rich menu %s not deleted: %s", menu_id, exc.status)
    log.info("rich menus installed: %s", menus)
    return Installed(menus, linked, deleted)
