"""The bot's HTTP side: the server (webhooks, `/healthz`) and, beside it, the web site."""

from bot.web.server import Handler, Health, WebServer

__all__ = ["Handler", "Health", "WebServer"]
