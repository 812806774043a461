"""The onboarding sheet: one printable A4 page per village (issue 16), as a PDF.

Each page names the village in Thai, carries two QR codes that join it (Telegram's deep link
`https://t.me/<bot>?start=<code>`, LINE's `https://line.me/R/oaMessage/<basic id>/?<code>`
which opens the chat with the code typed in), the code in large type and its expiry date in
the Buddhist Era. The codes are issued by `handlers/flows/invite_sheet.py`; this module only
draws what it is given (a `Sheet`, also carried as JSON in a queued reply's `render` spec, so
the chat's sheet is drawn by the outbox sender, outside the handling transaction).

QR codes: segno (each code a PNG it writes). PDF: fpdf2 with the project's Sarabun font and
text shaping on (HarfBuzz, through uharfbuzz), so Thai marks sit where they belong (a tone
mark above an upper vowel, marks moved clear of the tall PO PLA). One fix to fpdf2's output:
a glyph HarfBuzz adds to a character (SARA AM drawn as NIKHAHIT + SARA AA) is written with no
text of its own in the font's ToUnicode map, so text extraction and search read the word as
typed, not with an unknown character after SARA AM.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.rich_menu import thai_font_path
from handlers.messages import Reply
from locales import t

if TYPE_CHECKING:
    from fpdf import FPDF

KIND = "invite_sheet"  # the render spec's kind (bot/summary_renderer.py hands it here)
FAMILY = "Sarabun"
PAGE_WIDTH, MARGIN = 210.0, 15.0  # A4 portrait, millimetres
QR_SIZE = 72.0
QR_SCALE = 10  # pixels a module in the embedded PNG: sharp when printed
INK, MUTED, BLUE = (31, 41, 51), (82, 96, 109), (30, 78, 121)


@dataclass(frozen=True)
class Entry:
    """One page: the area joined, its code and the links that join with it."""

    area: str  # as people read it: the village's number and Thai name
    code: str
    telegram: str | None
    line: str | None


@dataclass(frozen=True)
class Sheet:
    language: str
    tambon_code: str
    place: str  # the tambon, district and province
    role: str  # the role's name
    expires: str  # the expiry date as people read it (B.E.)
    uses: int
    entries: tuple[Entry, ...]

    def to_spec(self) -> dict[str, Any]:
        return {"kind": KIND, **asdict(self)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Sheet:
        fields = {k: v for k, v in spec.items() if k != "kind"}
        return cls(**{**fields, "entries": tuple(Entry(**e) for e in spec["entries"])})


def grouped(code: str) -> str:
    """The code in two halves, easier to read aloud and to type (spaces are ignored)."""
    half = (len(code) + 1) // 2
    return f"{code[:half]} {code[half:]}"


class _NoText(int):
    """A ToUnicode destination written as nothing: fpdf2 formats each code with
    `f"{code:04X}"`, and this one formats as the empty string."""

    def __format__(self, spec: str) -> str:
        return ""


def _no_text_for_added_glyphs(pdf: FPDF) -> None:
    """A glyph the shaper added to a character (fpdf2 gives it no characters) maps to no
    text, rather than being left out of ToUnicode (then readers show it as an unknown)."""
    for font in pdf.fonts.values():
        subset = getattr(font, "subset", None)
        if subset is None:
            continue
        for glyph, _ in subset.items():
            if glyph is not None and glyph.unicode == ():
                glyph.unicode = (_NoText(0),)


def _qr_png(link: str) -> io.BytesIO:
    import segno  # imported when a sheet is drawn: the command line starts without it

    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="png", scale=QR_SCALE, border=4)
    out.seek(0)
    return out


class _Page:
    def __init__(self, pdf: FPDF, language: str) -> None:
        self.pdf = pdf
        self.language = language

    def text(self, y: float, text: str, size: float, *, bold: bool = False,
             colour: tuple[int, int, int] = INK, x: float = MARGIN,
             width: float = PAGE_WIDTH - 2 * MARGIN, min_size: float = 10.0) -> None:
        """One centred line, made smaller until it fits the width (long village names)."""
        pdf = self.pdf
        style = "B" if bold else ""
        pdf.set_font(FAMILY, style, size)
        while size > min_size and pdf.get_string_width(text) > width:
            size -= 1
            pdf.set_font(FAMILY, style, size)
        pdf.set_text_color(*colour)
        pdf.set_xy(x, y)
        pdf.cell(width, size * 0.45, text, align="C")

    def qr(self, x: float, y: float, title: str, link: str, how: str) -> None:
        self.text(y, title, 18, bold=True, colour=BLUE, x=x, width=QR_SIZE)
        self.pdf.image(_qr_png(link), x=x, y=y + 9, w=QR_SIZE, h=QR_SIZE)
        self.text(y + QR_SIZE + 12, how, 12, colour=MUTED, x=x - 8, width=QR_SIZE + 16)


def _page(page: _Page, sheet: Sheet, entry: Entry) -> None:
    language = sheet.language
    page.pdf.add_page()
    page.text(16, t(language, "onboarding.sheet.heading"), 14, colour=MUTED)
    page.text(26, sheet.place, 16)
    page.text(40, entry.area, 30, bold=True)
    page.text(56, t(language, "onboarding.sheet.for_role", role=sheet.role, uses=sheet.uses),
              15)
    codes = [(title, link, how) for title, link, how in (
        ("Telegram", entry.telegram, t(language, "onboarding.sheet.scan_telegram")),
        ("LINE", entry.line, t(language, "onboarding.sheet.scan_line"))) if link]
    y = 72.0
    if len(codes) == 2:
        for (title, link, how), x in zip(codes, (MARGIN + 7, PAGE_WIDTH - MARGIN - 7 - QR_SIZE),
                                         strict=True):
            page.qr(x, y, title, link, how)
    elif codes:
        title, link, how = codes[0]
        page.qr((PAGE_WIDTH - QR_SIZE) / 2, y, title, link, how)
    after = y + QR_SIZE + 26 if codes else y
    page.text(after, t(language, "onboarding.sheet.or_type" if codes
                       else "onboarding.sheet.type_only"), 16)
    page.text(after + 14, grouped(entry.code), 54, bold=True, colour=BLUE)
    page.text(after + 38, t(language, "onboarding.sheet.expires", date=sheet.expires), 20,
              bold=True)
    page.text(after + 52, t(language, "onboarding.sheet.once_each"), 12, colour=MUTED)


def pdf_bytes(sheet: Sheet) -> bytes:
    """The sheet as a PDF: one A4 page per entry."""
    from fpdf import FPDF

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    font = str(thai_font_path())  # Sarabun Bold: the font the charts and rich menus draw with
    regular = str(Path(font).with_name("Sarabun-Regular.ttf"))
    pdf.add_font(FAMILY, "", regular if Path(regular).is_file() else font)
    pdf.add_font(FAMILY, "B", font)
    pdf.set_text_shaping(True)
    pdf.set_title(t(sheet.language, "onboarding.sheet.heading"))
    pdf.set_creator("cercap-bot")
    pdf.set_creation_date(datetime(2000, 1, 1))  # the same sheet gives the same bytes
    page = _Page(pdf, sheet.language)
    for entry in sheet.entries:
        _page(page, sheet, entry)
    _no_text_for_added_glyphs(pdf)
    return bytes(pdf.output())


def file_name(sheet: Sheet, stamp: str) -> str:
    return f"invite-sheet-{sheet.tambon_code}-{stamp}.pdf"


async def render_reply(spec: dict[str, Any], write: Callable[[str, bytes], str]) -> Reply:
    """The queued request for a sheet as the reply that carries its PDF (in the outbox
    sender; `write` stores the file in the media folder and returns its relative path)."""
    import asyncio

    sheet = Sheet.from_spec(spec)
    data = await asyncio.to_thread(pdf_bytes, sheet)
    stamp = datetime.now().strftime("%Y%m%d%H%M%S%f")
    path = await asyncio.to_thread(write, file_name(sheet, stamp), data)
    return Reply(t(sheet.language, "onboarding.sheet.ready", name=Path(path).name,
                   pages=len(sheet.entries)), file=path, extra={"language": sheet.language})


# --- cercap-bot invite sheet ------------------------------------------------------------------

def add_parser(invite: Any) -> None:
    """`cercap-bot invite sheet --tambon CODE [--role village_committee] --out sheet.pdf`."""
    sub = invite.add_subparsers(dest="invite_command")
    sheet = sub.add_parser("sheet", help="issue a tambon's codes as a printable PDF: one A4 page"
                           " per village with its Telegram and LINE QR codes")
    sheet.add_argument("--tambon", required=True, help="tambon code (6 digits)")
    sheet.add_argument("--role", dest="sheet_role", default="village_committee",
                       choices=["village_committee", "core_team", "tao"],
                       help="village_committee (a page per village, the default), or core_team"
                       " / tao (one page for the tambon)")
    sheet.add_argument("--out", required=True, help="the PDF file to write")
    sheet.add_argument("--uses", dest="sheet_uses", type=int, default=10,
                       help="how many people may join with each code (10)")
    sheet.add_argument("--days", dest="sheet_days", type=int, default=7,
                       help="days until the codes expire (7)")
    sheet.add_argument("--language", dest="sheet_language", choices=["th", "en"], default="th")


async def run_cli(settings: Any, args: Any, say: Callable[[str], None],
                  warn: Callable[[str], None]) -> int:
    import asyncio
    from datetime import timedelta

    from handlers.clock import SystemClock
    from handlers.flows.invite_sheet import issue_sheet
    from handlers.permissions import Role
    from storage.db import Database

    out = Path(args.out)
    if not out.parent.absolute().is_dir():
        raise ValueError(f"--out: no folder {out.parent.absolute()}")
    if args.sheet_uses < 1 or args.sheet_days < 1:
        raise ValueError("--uses and --days must be at least 1")
    if not settings.telegram_bot_username:
        warn("note: TELEGRAM_BOT_USERNAME is not set: the sheet has no Telegram QR code")
    if not settings.line_basic_id:
        warn("note: LINE_BOT_BASIC_ID is not set: the sheet has no LINE QR code")
    async with Database(settings.db_path) as db, db.transaction() as conn:
        spec = await issue_sheet(
            conn, tambon_code=args.tambon, role=Role(args.sheet_role), issuer_id=None,
            issuer_grants=[], now=SystemClock().now(), language=args.sheet_language,
            bot_username=settings.telegram_bot_username, line_basic_id=settings.line_basic_id,
            uses=args.sheet_uses, ttl=timedelta(days=args.sheet_days), is_admin_cli=True)
    sheet = Sheet.from_spec(spec)
    data = await asyncio.to_thread(pdf_bytes, sheet)
    out.write_bytes(data)
    say(f"wrote {out} ({len(data):,} bytes): {len(sheet.entries)} pages, {sheet.role}, "
        f"{sheet.uses} uses each, expiring {sheet.expires}")
    for entry in sheet.entries:
        say(f"{entry.code}\t{entry.area}")
    return 0
