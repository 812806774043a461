"""The success board's public side (issue 15): What's New as an Atom feed, a page per
published story, and its chosen photo. Only stories the village consented to publish
(storage.stories `published_*`, status 'published') are ever read here: a withdrawn one
answers 404 everywhere at once and leaves the feed.

URL paths (contracts, README "Success stories"): `GET /feed.atom`, `GET /stories/<id>`,
`GET /stories/<id>/photo`. The Results Monitor (bot/web/public.py) lists the same stories
through `storage.stories.published_stories`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

from bot.web.site import Site, language_of, render, site_of
from handlers import area_names
from handlers.clock import local_date
from locales import category_label, t
from storage import areas, stories
from storage.stories import NATION_CODE, PublishedStory

FEED_ENTRIES = 50
ATOM = "http://www.w3.org/2005/Atom"
ID_DIGITS_MAX = 12


def _origin(request: web.Request, site: Site) -> str:
    return (site.public_url or f"{request.scheme}://{request.host}").rstrip("/")


def _story_id(request: web.Request) -> int | None:
    raw = request.match_info["id"]
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= ID_DIGITS_MAX else None


def _outcome(lang: str, story: PublishedStory) -> str:
    return t(lang, f"progress.outcome.{story.outcome}") if story.outcome else ""


async def _place(site: Site, story: PublishedStory, lang: str) -> str:
    async with site.db.read() as conn:
        return area_names.title(await areas.lineage(conn, story.village_code), lang)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def feed(request: web.Request) -> web.Response:
    """Atom 1.0 (RFC 4287): the latest published stories of the nation."""
    site = site_of(request)
    lang = language_of(request)
    origin = _origin(request, site)
    async with site.db.read() as conn:
        found = await stories.published_stories(conn, NATION_CODE, FEED_ENTRIES)
        changed = await stories.feed_updated(conn)
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": lang})
    ET.SubElement(root, f"{{{ATOM}}}title").text = t(lang, "stories.web.feed_title")
    ET.SubElement(root, f"{{{ATOM}}}subtitle").text = t(lang, "stories.web.feed_subtitle")
    ET.SubElement(root, f"{{{ATOM}}}id").text = f"{origin}/feed.atom"
    ET.SubElement(root, f"{{{ATOM}}}link", {"rel": "self", "href": f"{origin}/feed.atom"})
    ET.SubElement(root, f"{{{ATOM}}}link", {"rel": "alternate", "href": f"{origin}/results"})
    updated = changed or datetime(2025, 1, 1, tzinfo=UTC)
    ET.SubElement(root, f"{{{ATOM}}}updated").text = _stamp(updated)
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = t(lang, "stories.web.feed_author")
    for story in found:
        entry = ET.SubElement(root, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = story.title
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"{origin}{story.path}"
        ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate",
                                                 "href": f"{origin}{story.path}"})
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(story.published_at)
        ET.SubElement(entry, f"{{{ATOM}}}published").text = _stamp(story.published_at)
        ET.SubElement(entry, f"{{{ATOM}}}category", {
            "term": story.category, "label": category_label(story.category, lang)})
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = t(
            lang, "stories.web.feed_summary", place=await _place(site, story, lang),
            outcome=_outcome(lang, story), households=f"{story.households_helped:,}",
            worked=story.what_worked or "-")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


async def story_page(request: web.Request) -> web.Response:
    site = site_of(request)
    story_id = _story_id(request)
    async with site.db.read() as conn:
        story = await stories.published_story(conn, story_id) if story_id else None
    if story is None:
        raise web.HTTPNotFound(text=t(language_of(request), "stories.web.not_found"))
    lang = language_of(request)
    context: dict[str, Any] = {
        "story": story, "place": await _place(site, story, lang),
        "outcome": _outcome(lang, story),
        "category": category_label(story.category, lang),
        "approach": t(lang, f"plan.approach.{story.approach}") if story.approach else "",
        "ask": await _tambon(site, story, lang), "published": local_date(story.published_at)}
    return render(request, "signed_in/story.html", context,
                  headers={"Cache-Control": "no-cache"})


async def _tambon(site: Site, story: PublishedStory, lang: str) -> str:
    async with site.db.read() as conn:
        return area_names.title(await areas.lineage(conn, story.tambon_code), lang, depth=3)


async def story_photo(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    story_id = _story_id(request)
    media_dir: Path | None = getattr(site, "media_dir", None)
    async with site.db.read() as conn:
        ref = await stories.published_photo(conn, story_id) if story_id else None
    if ref is None or media_dir is None:
        raise web.HTTPNotFound()
    root = Path(media_dir).resolve()
    target = (root / ref).resolve()
    if root not in target.parents or not target.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(target, headers={"Cache-Control": "no-cache"})


def register(server: Any, site: Site) -> None:
    router = server.app.router
    router.add_get("/feed.atom", feed)
    router.add_get("/stories/{id}", story_page)
    router.add_get("/stories/{id}/photo", story_photo)
