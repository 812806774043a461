"""The signed-in pages (issue 15): for core teams, TAOs, districts and viewers, what their
role and area allow in chat, decided by handlers/permissions.py (WEB_PAGES, `allowed`).
Reading and downloading only: every decision stays in the chat.

URL paths (contracts, README "Signing in to the web site"):
- `GET /sign-in/<token>`: the one-time link sent in the chat shows a "Sign in" button (a
  GET never uses the link, so a chat app's link preview cannot spend it);
  `POST /sign-in/<token>` uses it (once, within 10 minutes) and opens an 8-hour session
  (cookie `cercap_session`: HttpOnly, SameSite=Lax, Secure when CERCAP_PUBLIC_URL is https);
- `POST /sign-out`: ends the session;
- `GET /my`: the person's areas and the pages each allows;
- `GET /my/<area>/review` (core team), `/my/<area>/submissions` (core team, TAO, district:
  photos through signed media links), `/my/<area>/villages` (last activity of each
  village), `/my/<area>/support` (support requests with the time spent at each step),
  `/my/<area>/exports` (the summary as .xlsx / .csv: `exports/summary.xlsx?days=90`).
Not signed in: 401 with how to sign in; another area's URL (or an unknown one): 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot import export
from bot.summary_renderer import join_csv
from bot.web.site import Site, language_of, link, render, site_of
from handlers import area_names
from handlers.clock import BANGKOK, local_date
from handlers.permissions import WEB_PAGES, Action, allowed, may_sign_in, web_pages
from handlers.summaries import compute_summary
from handlers.summary_model import Period
from locales import category_label, format_date, t
from storage import areas, people, reviews, sign_in, support_requests
from storage.areas import Area
from storage.people import Grant, Person

SESSION_COOKIE = "cercap_session"
LIST_LIMIT = 100
VILLAGES_LIMIT = 300
EXPORT_DAYS = (30, 90, 365)
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY"}
TEXT_SHOWN = 300


@dataclass(frozen=True)
class Viewer:
    person: Person
    grants: list[Grant]
    token: str


def _secure(site: Site) -> bool:
    return site.public_url.lower().startswith("https://")


async def viewer_of(request: web.Request) -> Viewer | None:
    """The signed-in person of this request, or None."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > 200:
        return None
    site = site_of(request)
    async with site.db.read() as conn:
        found = await sign_in.session(conn, token, site.clock.now())
        if found is None:
            return None
        person = await people.person(conn, found.person_id)
        grants = await people.grants_of(conn, found.person_id)
    if person is None or not may_sign_in(grants):
        return None
    return Viewer(person, grants, token)


def _lang(request: web.Request, viewer: Viewer | None = None) -> str:
    """The page's language: the site's switch (Thai unless ?lang=en), as on public pages."""
    return language_of(request)


def _page(request: web.Request, template: str, context: dict[str, Any], *,
          status: int = 200) -> web.Response:
    return render(request, template, context, status=status, headers=PRIVATE)


def _message(request: web.Request, status: int, key: str, **context: Any) -> web.Response:
    return _page(request, "signed_in/message.html",
                 {"status": status, "key": key, **context}, status=status)


# --- the one-time link and the session ----------------------------------------------------

async def link_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    site = site_of(request)
    async with site.db.read() as conn:
        state = await sign_in.link_state(conn, token, site.clock.now())
    if state != sign_in.VALID:
        return _message(request, 410, f"signed_in.link_{state}")
    return _page(request, "signed_in/link.html", {"token": token})


async def use_link(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    site = site_of(request)
    now = site.clock.now()
    async with site.db.transaction() as conn:
        opened = await sign_in.use_link(conn, token, now)
        if opened is not None:
            from storage import audit

            await audit.record(conn, now=now, person_id=opened[1], action="web.sign_in",
                               entity="person", entity_id=opened[1])
    if opened is None:
        async with site.db.read() as conn:
            state = await sign_in.link_state(conn, token, now)
        return _message(request, 410, f"signed_in.link_{state}")
    response = web.Response(status=303, headers={**PRIVATE,
                                                 "Location": link(_lang(request), "/my")})
    response.set_cookie(SESSION_COOKIE, opened[0],
                        max_age=int(sign_in.SESSION_TTL.total_seconds()), path="/",
                        httponly=True, samesite="Lax", secure=_secure(site))
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token and len(token) <= 200:
        async with site.db.transaction() as conn:
            await sign_in.end_session(conn, token, site.clock.now())
    response = web.Response(status=303, headers={**PRIVATE,
                                                 "Location": link(_lang(request), "/")})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- the pages ------------------------------------------------------------------------------

async def home(request: web.Request) -> web.Response:
    viewer = await viewer_of(request)
    if viewer is None:
        return _message(request, 401, "signed_in.need_sign_in")
    lang = _lang(request, viewer)
    site = site_of(request)
    entries = []
    async with site.db.read() as conn:
        for grant in viewer.grants:
            lineage = await areas.lineage(conn, grant.area_code)
            codes = [a.code for a in lineage]
            pages = web_pages(viewer.grants, codes)
            if not pages:
                continue
            entries.append({"role": t(lang, f"role.{grant.role}"), "code": grant.area_code,
                            "area": area_names.title(lineage, lang), "pages": pages})
    return _page(request, "signed_in/home.html", {"viewer": viewer, "entries": entries})


async def _area_page(request: web.Request, page: str
                     ) -> tuple[Viewer, list[Area], str] | web.Response:
    """The viewer, the area's lineage and the language, or the refusal (401, 403)."""
    viewer = await viewer_of(request)
    if viewer is None:
        return _message(request, 401, "signed_in.need_sign_in")
    code = request.match_info["area"]
    site = site_of(request)
    async with site.db.read() as conn:
        lineage = await areas.lineage(conn, code) if code.isascii() and len(code) <= 12 else []
    if not lineage or not allowed(viewer.grants, WEB_PAGES[page], [a.code for a in lineage]):
        return _message(request, 403, "signed_in.forbidden")
    return viewer, lineage, _lang(request, viewer)


AreaHandler = Callable[[web.Request, Viewer, list[Area], str], Awaitable[web.StreamResponse]]


def area_page(page: str) -> Callable[[AreaHandler], Callable[[web.Request],
                                                              Awaitable[web.StreamResponse]]]:
    """A page of one area: the handler gets the viewer, the area's lineage and the
    language, or the request is refused (401, 403) before it runs."""
    def wrap(handler: AreaHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            found = await _area_page(request, page)
            if isinstance(found, web.Response):
                return found
            return await handler(request, *found)
        return run
    return wrap


def _when(moment: datetime | str | None, lang: str) -> str:
    if moment is None:
        return t(lang, "signed_in.never")
    instant = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    local = instant.astimezone(BANGKOK)
    return f"{format_date(local.date(), lang)} {local:%H:%M}"


def duration_text(span: timedelta, lang: str) -> str:
    """"2 days 3 hours", "45 minutes": the time a request spent at one step."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return t(lang, "signed_in.duration.days_hours", days=days, hours=hours)
    if hours:
        return t(lang, "signed_in.duration.hours_minutes", hours=hours, minutes=mins)
    return t(lang, "signed_in.duration.minutes", minutes=mins)


def _context(viewer: Viewer, lineage: list[Area], lang: str, page: str) -> dict[str, Any]:
    return {"viewer": viewer, "area": area_names.title(lineage, lang), "code": lineage[0].code,
            "page": page, "pages": web_pages(viewer.grants, [a.code for a in lineage])}


def _photo_url(site: Site, ref: str | None) -> str | None:
    links = getattr(site, "media_links", None)
    return links.url(ref) if ref and links is not None else None


@area_page("review")
async def review_page(request: web.Request, viewer: Viewer, lineage: list[Area],
                      lang: str) -> web.Response:
    site = site_of(request)
    code = lineage[0].code
    rows = []
    async with site.db.read() as conn:
        if lineage[0].level in ("tambon", "village"):
            today = local_date(site.clock.now())
            for sub in sorted(await reviews.inbox(conn, code[:6], today), key=reviews.priority):
                if not sub.village_code.startswith(code):
                    continue
                village_lineage = await areas.lineage(conn, sub.village_code)
                if not allowed(viewer.grants, Action.REVIEW,
                               [a.code for a in village_lineage]):
                    continue
                row = await reviews.details(conn, sub.entity, sub.id) or {}
                rows.append({"ref": t(lang, f"id.{sub.entity}", id=sub.id),
                             "kind": t(lang, f"review.kind.{sub.entity}"),
                             "village": area_names.title(village_lineage, lang, depth=1),
                             "when": _when(sub.created_at, lang), "stalled": sub.stalled,
                             "overdue": sub.overdue, "version": sub.version,
                             "text": _summary_text(sub.entity, row, lang),
                             "photo": _photo_url(site, row.get("photo_ref"))})
    return _page(request, "signed_in/review.html",
                 {**_context(viewer, lineage, lang, "review"), "rows": rows})


def _summary_text(entity: str, row: dict[str, Any], lang: str) -> str:
    if entity == "problem":
        text = f"{category_label(row.get('category', ''), lang)}: {row.get('description', '')}"
    elif entity == "forum":
        text = row.get("notes") or ""
    elif entity in ("plan_item",):
        text = row.get("title") or ""
    elif entity == "progress":
        text = f"{(row.get('item') or {}).get('title', '')} · {row.get('percent', 0)}%" + (
            f" · {row['note']}" if row.get("note") else "")
    else:
        text = row.get("what_worked") or ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= TEXT_SHOWN else flat[:TEXT_SHOWN - 1] + "…"


@area_page("submissions")
async def submissions_page(request: web.Request, viewer: Viewer, lineage: list[Area],
                           lang: str) -> web.Response:
    site = site_of(request)
    rows = []
    async with site.db.read() as conn:
        names: dict[str, str] = {}
        for sub in await sign_in.recent_submissions(conn, lineage[0].code, LIST_LIMIT):
            if sub.village_code not in names:
                names[sub.village_code] = area_names.title(
                    await areas.lineage(conn, sub.village_code), lang, depth=2)
            detail = (category_label(sub.detail, lang) if sub.entity == "problem"
                      else sub.detail)
            rows.append({"ref": t(lang, f"id.{sub.entity}", id=sub.id),
                         "kind": t(lang, f"review.kind.{sub.entity}"),
                         "village": names[sub.village_code], "when": _when(sub.created_at, lang),
                         "detail": detail, "number": sub.number,
                         "number_label": t(lang, f"signed_in.number.{sub.entity}"),
                         "text": sub.text, "status": t(lang, f"review.{sub.review_status}")
                         if sub.review_status in (*reviews.VERDICTS, reviews.NEW)
                         else sub.review_status,
                         "photo": _photo_url(site, sub.photo_ref)})
    return _page(request, "signed_in/submissions.html",
                 {**_context(viewer, lineage, lang, "submissions"), "rows": rows})


@area_page("villages")
async def villages_page(request: web.Request, viewer: Viewer, lineage: list[Area],
                        lang: str) -> web.Response:
    site = site_of(request)
    async with site.db.read() as conn:
        villages, total = await sign_in.village_activity(conn, lineage[0].code, VILLAGES_LIMIT)
    now = site.clock.now()
    rows = [{"name": t(lang, "area.village", no=v.village_no,
                       name=v.name_en if lang == "en" and v.name_en else v.name_th),
             "code": v.code, "when": _when(v.last_at, lang),
             "days": (now - datetime.fromisoformat(v.last_at)).days if v.last_at else None}
            for v in villages]
    return _page(request, "signed_in/villages.html",
                 {**_context(viewer, lineage, lang, "villages"), "rows": rows, "total": total})


@area_page("support")
async def support_page(request: web.Request, viewer: Viewer, lineage: list[Area],
                       lang: str) -> web.Response:
    site = site_of(request)
    now = site.clock.now()
    rows = []
    async with site.db.read() as conn:
        for request_id in await sign_in.support_requests_under(conn, lineage[0].code,
                                                               LIST_LIMIT):
            req = await support_requests.get(conn, request_id)
            if req is None:
                continue
            events = await support_requests.history(conn, request_id)
            steps = []
            for i, event in enumerate(events):
                final = event.to_status in ("funded",) and i == len(events) - 1
                until = events[i + 1].at if i + 1 < len(events) else (None if final else now)
                steps.append({
                    "status": t(lang, f"support.status.{event.to_status}"),
                    "level": t(lang, f"signed_in.level.{event.level}"),
                    "when": _when(event.at, lang),
                    "spent": duration_text(until - event.at, lang) if until else "",
                    "open": until is now})
            rows.append({"ref": t(lang, "id.support_request", id=req.id),
                         "village": area_names.title(await areas.lineage(conn, req.village_code),
                                                     lang, depth=2),
                         "amount": req.amount_requested, "granted": req.amount_granted,
                         "purpose": req.purpose,
                         "status": t(lang, f"support.status.{req.status}"), "steps": steps})
    return _page(request, "signed_in/support.html",
                 {**_context(viewer, lineage, lang, "support"), "rows": rows})


def _export_days(request: web.Request) -> int:
    raw = request.query.get("days", "90")
    return int(raw) if raw in {str(d) for d in EXPORT_DAYS} else 90


@area_page("exports")
async def exports_page(request: web.Request, viewer: Viewer, lineage: list[Area],
                       lang: str) -> web.Response:
    return _page(request, "signed_in/exports.html",
                 {**_context(viewer, lineage, lang, "exports"), "choices": EXPORT_DAYS})


@area_page("exports")
async def export_file(request: web.Request, _: Viewer, lineage: list[Area],
                      lang: str) -> web.StreamResponse:
    fmt = request.match_info["format"]
    site = site_of(request)
    today = local_date(site.clock.now())
    days = _export_days(request)
    period = Period(today - timedelta(days=days - 1), today, "custom")
    summary = await compute_summary(await site.db.reader(), lineage[0].code, period, today)
    if fmt == "xlsx":
        body = export.workbook(summary, lang)
        kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = join_csv(export.csv_files(summary, lang))
        kind = "text/csv; charset=utf-8"
    name = export.export_filename(summary, fmt)
    return web.Response(body=body, headers={
        **PRIVATE, "Content-Type": kind,
        "Content-Disposition": f"attachment; filename=\"{name}\""})


def register(server: Any, site: Site) -> None:
    """The sign-in and signed-in routes, on the site's server (called from bot.web.site)."""
    router = server.app.router
    router.add_get("/sign-in/{token}", link_page)
    router.add_post("/sign-in/{token}", use_link)
    router.add_post("/sign-out", sign_out)
    router.add_get("/my", home)
    router.add_get("/my/{area}/review", review_page)
    router.add_get("/my/{area}/submissions", submissions_page)
    router.add_get("/my/{area}/villages", villages_page)
    router.add_get("/my/{area}/support", support_page)
    router.add_get("/my/{area}/exports", exports_page)
    router.add_get("/my/{area}/exports/summary.{format:xlsx|csv}", export_file)
