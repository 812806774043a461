"""`GET /media/<path>?exp=…&sig=…` through the real aiohttp server: a link the bot made
serves its file; any other query is refused with 403 (never a 500, whatever the bytes);
a signed path outside the media folder or that cannot exist is 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from aiohttp import ClientSession, web
from yarl import URL

from bot.media_links import LINK_TTL_SECONDS, MediaLinks

NOW = 1_736_478_000.0  # 10 Jan 2025, 10:00 in Bangkok
FILE = "exports/cercap-350101.xlsx"
SECRET = b"k" * 32


@pytest.fixture
def links(tmp_path: Path) -> MediaLinks:
    media = tmp_path / "media"
    (media / "exports").mkdir(parents=True)
    (media / FILE).write_bytes(b"the export")
    (tmp_path / "secret.txt").write_text("outside the media folder")
    return MediaLinks("https://bot.example.org", SECRET, media, clock=lambda: NOW)


@pytest.fixture
async def origin(links: MediaLinks) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/media/{path:.*}", links.handle)  # as bot/service.py registers it
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _valid(links: MediaLinks, path: str = FILE) -> tuple[str, str]:
    query = parse_qs(urlsplit(links.url(path)).query)
    return query["exp"][0], query["sig"][0]


async def _get(origin: str, path: str, query: str) -> int:
    """The request exactly as written: path and query already percent-encoded."""
    async with ClientSession() as session, session.get(
            URL(f"{origin}/media/{path}?{query}", encoded=True)) as response:
        await response.read()
        return response.status


async def test_a_link_the_bot_made_serves_the_file(links: MediaLinks, origin: str) -> None:
    url = links.url(FILE)
    assert url.startswith("https://bot.example.org/media/exports/")
    local = origin + url.removeprefix("https://bot.example.org")
    async with ClientSession() as session, session.get(URL(local, encoded=True)) as response:
        assert response.status == 200
        assert await response.read() == b"the export"


# (what is wrong, exp, sig): exp/sig as they appear in the URL; None = the valid value,
# "-" = the parameter left out.
BAD_QUERIES = [
    ("superscript two", "%C2%B2", "00"),
    ("superscript digits before a valid sig", "%C2%B9%C2%B2", None),
    ("Thai digits", "{thai}", None),  # the valid expiry, in other digits
    ("Arabic-Indic digits", "{arabic}", None),
    ("full-width digits", "{wide}", None),
    ("empty", "", None),
    ("left out", "-", None),
    ("negative", "-1", None),
    ("plus sign", "%2B{exp}", None),
    ("leading space", "%20{exp}", None),
    ("trailing newline", "{exp}%0A", None),
    ("underscores", "1_736_478_000", None),
    ("leading zero", "0{exp}", None),
    ("5,000 digits", "9" * 5000, None),
    ("13 digits", "9" * 13, None),
    ("expired", str(int(NOW) - 1), None),
    ("twice", "{exp}&exp={exp}", None),
    ("sig 00", None, "00"),
    ("sig upper-case", None, "{SIG}"),
    ("sig non-ASCII", None, quote("é" * 64)),
    ("sig non-ASCII, 32 characters", None, quote("é" * 32)),
    ("sig 65 hex digits", None, "{sig}0"),
    ("sig trailing newline", None, "{sig}%0A"),
    ("sig wrong", None, "0" * 64),
    ("sig left out", None, "-"),
    ("sig twice", None, "{sig}&sig={sig}"),
    ("sig of another expiry", str(int(NOW) + 60), None),
]


@pytest.mark.parametrize(("what", "exp", "sig"), BAD_QUERIES, ids=[q[0] for q in BAD_QUERIES])
async def test_a_bad_query_is_refused_never_an_error(links: MediaLinks, origin: str, what: str,
                                                     exp: str | None, sig: str | None) -> None:
    good_exp, good_sig = _valid(links)
    values = {"exp": good_exp, "sig": good_sig, "SIG": good_sig.upper()}
    for name, zero in (("thai", "๐"), ("arabic", "٠"), ("wide", "０")):
        values[name] = quote(good_exp.translate({ord("0") + d: ord(zero) + d
                                                 for d in range(10)}))
    parts = []
    for name, value in (("exp", exp), ("sig", sig)):
        value = values[name] if value is None else value.format(**values)
        if value != "-":
            parts.append(f"{name}={value}")
    assert await _get(origin, quote(FILE), "&".join(parts)) == 403


@pytest.mark.parametrize("path", [
    "%ED%A0%80",  # a surrogate: not UTF-8, stays percent-encoded
    "%FF%FE",  # not UTF-8
    quote("exports/" + "ก" * 300),  # a name no file system takes
    "exports/%00.xlsx",
])
async def test_an_unsigned_odd_path_is_refused(links: MediaLinks, origin: str,
                                               path: str) -> None:
    exp, sig = _valid(links)
    assert await _get(origin, path, f"exp={exp}&sig={sig}") == 403


@pytest.mark.parametrize("path", ["../secret.txt", "exports/\x00.xlsx",
                                  "exports/" + "ก" * 300, "exports", "exports/none.xlsx"])
async def test_a_signed_path_that_is_not_a_media_file_is_404(links: MediaLinks, origin: str,
                                                             path: str) -> None:
    exp, sig = _valid(links, path)
    assert await _get(origin, quote(path), f"exp={exp}&sig={sig}") == 404


async def test_a_link_expires_after_its_week(links: MediaLinks, origin: str) -> None:
    exp, sig = _valid(links)
    assert int(exp) == int(NOW) + LINK_TTL_SECONDS
    later = MediaLinks(links.public_url, SECRET, links.media_dir,
                       clock=lambda: NOW + LINK_TTL_SECONDS + 1)
    assert later.verify(FILE, exp, sig) is False
    assert links.verify(FILE, exp, sig) is True


def test_verify_refuses_a_path_that_cannot_be_encoded(links: MediaLinks) -> None:
    """aiohttp leaves bytes that are not UTF-8 percent-encoded, so no request brings a
    lone surrogate; a caller of verify() might, and gets False, not an exception."""
    exp, sig = _valid(links)
    assert links.verify("exports/\ud800.xlsx", exp, sig) is False
