"""The web site's frame: Jinja2 templates (aiohttp-jinja2), the static files (vendored
Leaflet, the CSS, the Sarabun font served from the fontpkg-sarabun package), the language
switch and the page cache. The pages themselves are added by `bot.web.public` (public
monitors, open data) and by the modules of the signed-in pages, each through `register`.

For other page modules (signed-in pages, stories): call `site_of(request)` for the `Site`
(database, clock, cache), `language_of(request)` for "th" / "en", and
`render(request, "your/template.html", {...})` (it adds the names below); a template
extends "base.html" and fills the blocks `title`, `content` (and optionally `head`,
`scripts`, `nav_extra`). In a template,
`t("key")`, `url("/path")` (keeps the language), `lang`, `number(n)`, `thai_date(d)` are at
hand.

Languages: Thai by default; `?lang=en` gives English. Every link the site makes keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.web.server import WebServer
from handlers.clock import Clock, SystemClock, local_date
from locales import DEFAULT_LANGUAGE, LANGUAGES, format_date, t

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PREFIX = "/static"
FONT_PREFIX = "/static/fonts"
FONT_FILES = {"Sarabun-Regular.ttf": 400, "Sarabun-Bold.ttf": 700}
CACHE_ENTRIES = 256


@dataclass
class PageCache:
    """Computed page data kept under the database's data version: every committed write
    advances the version, so an entry is served only while nothing has been written since
    it was computed (the version is read before computing: a write while computing makes
    the entry look older than it is, never newer)."""

    entries: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    version: object = None

    def get(self, version: object, key: tuple[Any, ...]) -> Any:
        if version != self.version:
            self.entries.clear()
            self.version = version
            return None
        return self.entries.get(key)

    def put(self, version: object, key: tuple[Any, ...], value: Any) -> None:
        if version != self.version:
            return
        self.entries[key] = value
        while len(self.entries) > CACHE_ENTRIES:
            self.entries.pop(next(iter(self.entries)))


@dataclass
class PartCache:
    """The provinces' shares of the nation's and the learning networks' pages
    (handlers.summaries.SummaryPart and funnel values), each kept under its province's
    version (storage.area_versions: every write to a row of the province advances it), for
    one day: a write in one village recomputes only its province's share. `computed`
    counts the shares computed (the tests watch it)."""

    entries: dict[tuple[Any, ...], tuple[int, Any]] = field(default_factory=dict)
    day: date | None = None
    computed: int = 0


class CachedParts:
    """handlers.summaries.Parts over a PartCache, for one period and day. The versions are
    read before computing (a write meanwhile makes a share look older, never newer)."""

    def __init__(self, cache: PartCache, conn: Any, period: Any, today: date,
                 versions: dict[str, int]) -> None:
        self.cache, self.conn, self.period, self.today = cache, conn, period, today
        self.versions = versions

    async def _get(self, kind: str, province: str,
                   compute: Callable[..., Awaitable[Any]]) -> Any:
        key = (kind, province, self.period.start, self.period.end)
        version = self.versions.get(province, 0)
        found = self.cache.entries.get(key)
        if found is not None and found[0] == version:
            return found[1]
        value = await compute(self.conn, province, self.period, self.today)
        self.cache.computed += 1
        if self.cache.day == self.today:
            self.cache.entries[key] = (version, value)
        return value

    async def summary(self, province: str) -> Any:
        from handlers.summaries import compute_part

        return await self._get("summary", province, compute_part)

    async def funnel(self, province: str) -> tuple[int, ...]:
        from handlers.summaries import funnel_part

        return await self._get("funnel", province, funnel_part)  # type: ignore[no-any-return]


@dataclass
class Site:
    db: Any  # storage.db.Database
    clock: Clock
    public_url: str = ""
    cache: PageCache = field(default_factory=PageCache)
    parts_cache: PartCache = field(default_factory=PartCache)
    # Set by the service (bot/service.py): the media folder (a published story's photo,
    # bot/web/stories.py) and the signed links to it (submission photos on signed-in pages).
    media_dir: Path | None = None
    media_links: Any = None  # bot.media_links.MediaLinks

    def today(self) -> date:
        return local_date(self.clock.now())

    async def data_version(self) -> object:
        """A value that changes with every committed write (storage.db.data_version)."""
        from storage.db import data_version

        return await data_version(self.db)

    async def parts(self, conn: Any, period: Any) -> CachedParts:
        """The provinces' shares for `period` as of today, kept across writes elsewhere."""
        from storage.area_versions import province_versions

        today = self.today()
        if self.parts_cache.day != today:
            self.parts_cache.entries.clear()
            self.parts_cache.day = today
        return CachedParts(self.parts_cache, conn, period, today,
                           await province_versions(conn))

    async def cached(self, key: tuple[Any, ...],
                     compute: Callable[[Any], Awaitable[Any]]) -> Any:
        """`compute(reader connection)`, or its value from the cache while the data
        version has not moved."""
        version = await self.data_version()
        full_key = (*key, self.today())
        found = self.cache.get(version, full_key)
        if found is not None:
            return found
        value = await compute(await self.db.reader())
        self.cache.put(version, full_key, value)
        return value


SITE_KEY = web.AppKey("cercap_site", Site)


def site_of(request: web.Request) -> Site:
    return request.app[SITE_KEY]


def language_of(request: web.Request) -> str:
    lang = request.query.get("lang", DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def link(lang: str, path: str, **params: Any) -> str:
    """`path` with its query, keeping the language (Thai, the default, adds nothing)."""
    query = {k: v for k, v in params.items() if v is not None and v != ""}
    if lang != DEFAULT_LANGUAGE:
        query["lang"] = lang
    return f"{path}?{urlencode(query)}" if query else path


def number(value: int | float) -> str:
    """Digits with thousands separators (Arabic digits: what Thai official tables use)."""
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _context(request: web.Request) -> dict[str, Any]:
    lang = language_of(request)
    other = "en" if lang == "th" else "th"
    switch_params = {k: v for k, v in request.query.items() if k != "lang"}
    if other != DEFAULT_LANGUAGE:
        switch_params["lang"] = other
    switch = request.path + ("?" + urlencode(switch_params) if switch_params else "")
    return {
        "lang": lang,
        "other_lang": other,
        "switch_url": switch,
        "current_path": request.path,
        "t": lambda key, **params: t(lang, key, **params),
        "url": lambda path, **params: link(lang, path, **params),
        "number": number,
        "thai_date": lambda day: format_date(day, lang),
        "static": lambda name: f"{STATIC_PREFIX}/{name}",
        "font_prefix": FONT_PREFIX,
    }


def render(request: web.Request, template: str, context: dict[str, Any], *,
           status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, _context(request) | context,
                                              status=status)
    response.headers.setdefault("Content-Language", language_of(request))
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def _font(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in FONT_FILES:
        raise web.HTTPNotFound()
    import fontpkg

    path = fontpkg.path("Sarabun", weight=FONT_FILES[name])
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


def register(server: WebServer, db: Any, *, clock: Clock | None = None,
             public_url: str = "") -> Site:
    """Set up templates, static files and every public page on `server`; returns the Site
    (other page modules find it again with `site_of(request)`)."""
    site = Site(db=db, clock=clock or SystemClock(), public_url=public_url)
    app = server.app
    app[SITE_KEY] = site
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        trim_blocks=True, lstrip_blocks=True)
    env.filters["json"] = json_text
    app.router.add_get(FONT_PREFIX + "/{name}", _font)
    app.router.add_static(STATIC_PREFIX, STATIC, append_version=False)
    from bot.web import public

    public.register(server, site)
    from bot.web import signed_in, stories  # sign-in, signed-in pages, feed (issue 15)

    signed_in.register(server, site)
    stories.register(server, site)
    return site


def local_url(host: str, port: int) -> str:
    """The site's address on this machine (the wildcard host shown as 127.0.0.1)."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://{shown}:{port}/"


async def start_demo_site(settings: Any, db: Any, clock: Clock,
                          say: Callable[[str], None]) -> WebServer | None:
    """The console demo's web site on CERCAP_HTTP_HOST:CERCAP_HTTP_PORT; says its URL, or
    why it could not listen (the chat goes on without it)."""
    from bot.config import StartupError

    server = WebServer(settings.http_host, settings.http_port)
    site = register(server, db, clock=clock, public_url=settings.public_url or "")
    site.media_dir = settings.media_dir
    try:
        await server.start()
    except StartupError as exc:
        say(t(DEFAULT_LANGUAGE, "site.demo_unavailable", reason=str(exc)))
        return None
    say(t(DEFAULT_LANGUAGE, "site.demo_url",
          url=local_url(settings.http_host, server.bound_port or settings.http_port)))
    return server
