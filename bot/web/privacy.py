"""`GET /privacy`: the privacy notice in full (PDPA B.E. 2562), the page the notice given at
joining links to when the bot has a public address (CERCAP_PUBLIC_URL). Thai by default,
`?lang=en` in English; inside the site's frame (templates/privacy.html, extending base.html)
when the web site is set up on the server, plain HTML otherwise."""

from __future__ import annotations

import html

from aiohttp import web

from bot.config import Settings
from bot.web.server import WebServer
from handlers.privacy import PRIVACY_PATH, PrivacyTerms, full_text
from locales import DEFAULT_LANGUAGE, LANGUAGES, t


def terms_of(settings: Settings) -> PrivacyTerms:
    """What the notice says of the bot as configured."""
    return PrivacyTerms(public_url=settings.public_url,
                        photo_days=settings.retention_photo_days,
                        identity_days=settings.retention_identity_days,
                        outbox_days=settings.outbox_retention_days,
                        dedupe_days=settings.dedupe_window_days,
                        audit_detail_days=settings.retention_audit_detail_days)


def paragraphs(terms: PrivacyTerms, language: str) -> list[str]:
    return [p.strip() for p in full_text(terms, language).split("\n\n") if p.strip()]


def page(terms: PrivacyTerms, language: str) -> str:
    title = html.escape(t(language, "privacy.label.page_title"))
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs(terms, language))
    other = "en" if language == "th" else "th"
    switch = PRIVACY_PATH + ("?lang=en" if other == "en" else "")
    return (f'<!doctype html>\n<html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head><body><main><h1>{title}</h1>\n{body}\n"
            f'<p><a href="{switch}" hreflang="{other}">{t(other, f"language.name.{other}")}'
            "</a></p></main></body></html>")


def register(server: WebServer, terms: PrivacyTerms) -> None:
    async def privacy_page(request: web.Request) -> web.StreamResponse:
        language = request.query.get("lang", DEFAULT_LANGUAGE)
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        from bot.web import site

        if site.SITE_KEY in request.app:
            return site.render(request, "privacy.html", {
                "title": t(language, "privacy.label.page_title"),
                "paragraphs": paragraphs(terms, language)})
        return web.Response(text=page(terms, language), content_type="text/html",
                            charset="utf-8", headers={"Content-Language": language})

    server.add_get(PRIVACY_PATH, privacy_page)
