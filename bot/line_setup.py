"""`cercap-bot line setup-richmenu`: installs the Thai rich menu as the LINE default."""

from __future__ import annotations

import logging

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    RichMenuRequest,
)

from bot.config import Settings
from bot.line_channel import TIMEOUT
from bot.rich_menu import RichMenuButton, draw_image, rich_menu_request
from locales import DEFAULT_LANGUAGE, t

log = logging.getLogger(__name__)

RICH_MENU_ITEMS = ("report", "plan", "progress", "summary", "help")


def rich_menu_buttons(language: str = DEFAULT_LANGUAGE) -> list[RichMenuButton]:
    return [RichMenuButton(t(language, f"richmenu.{item}"), t(language, f"richmenu.{item}.text"))
            for item in RICH_MENU_ITEMS]


async def install_rich_menu(settings: Settings) -> str:
    """Creates the rich menu, uploads its image and makes it everyone's default; returns its id."""
    if not settings.line_access_token:
        raise ValueError("LINE_CHANNEL_ACCESS_TOKEN is not set")
    buttons = rich_menu_buttons()
    image = draw_image(buttons)
    if settings.line_api_host:
        configuration = Configuration(host=settings.line_api_host.rstrip("/"),
                                      access_token=settings.line_access_token)
    else:
        configuration = Configuration(access_token=settings.line_access_token)
    async with AsyncApiClient(configuration) as client:
        api, blob = AsyncMessagingApi(client), AsyncMessagingApiBlob(client)
        request = rich_menu_request(buttons, t(DEFAULT_LANGUAGE, "richmenu.chat_bar"))
        created = await api.create_rich_menu(RichMenuRequest.from_dict(request),
                                             _request_timeout=TIMEOUT)
        # The SDK sends no image content type by itself.
        await blob.set_rich_menu_image(created.rich_menu_id, image,
                                       _headers={"Content-Type": "image/png"},
                                       _request_timeout=TIMEOUT)
        await api.set_default_rich_menu(created.rich_menu_id, _request_timeout=TIMEOUT)
    log.info("rich menu %s installed as the default", created.rich_menu_id)
    return str(created.rich_menu_id)
