"""The public pages: Home, Implementation Status, Impact Monitor, Results Monitor, Map and
Open data. No sign-in; counts and published stories only (see README, "Web site")."""

from __future__ import annotations

from aiohttp import web

from bot.web.server import WebServer
from bot.web.site import Site, render


async def home(request: web.Request) -> web.Response:
    return render(request, "home.html", {})


def register(server: WebServer, site: Site) -> None:
    server.add_get("/", home)
