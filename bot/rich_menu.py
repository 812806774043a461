"""The LINE rich menu: a one-row image the project draws itself, and the JSON that goes with it.

The image is drawn with Pillow in the Sarabun typeface (``fontpkg-sarabun``, OFL-1.1), one
rounded cell per button: a simple icon drawn with Pillow's shapes (no downloaded artwork)
above the label. A tap is a postback (`data`, e.g. ``r:problem_report``), which the engine
takes as navigation wherever it arrives, never as the answer to an open question. The labels
come from the caller (the locale catalogs), so this module holds no Thai text.

Thai has no spaces between words: a label too wide for its cell is split into two lines at
a word boundary found by pythainlp, and the type is made smaller only when that is not
enough (then a break between syllables is allowed; a label too long for the smallest type
is cut short with an ellipsis).

LINE's rules followed here: the compact full-width size is 2500 x 843, the image is a PNG of
at most 1 MB, the areas cover the image, an action's label is at most 20 characters and the
chat bar text at most 14, both counted in grapheme clusters (bot/line_text.py), as LINE does.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from bot.line_text import fit

WIDTH, HEIGHT = 2500, 843
MIN_BUTTONS, MAX_BUTTONS = 2, 6
MENU_NAME = "cercap-main"
MAX_ACTION_LABEL = 20
MAX_DISPLAY_TEXT = 300
MAX_CHAT_BAR_TEXT = 14
MAX_NAME = 300
MAX_IMAGE_BYTES = 1024 * 1024

# A calm civic scheme: deep blue cells on a pale blue-grey ground, white type.
BACKGROUND = (232, 238, 244)
CELL_FILLS = ((30, 78, 121), (35, 96, 128))
ACCENT = (242, 169, 59)
TEXT_COLOUR = (255, 255, 255)

GUTTER = 14  # half the gap between two cells, and the margin at the image's edges
RADIUS = 44
ACCENT_HEIGHT = 14
PADDING_X = 34  # inside a cell, around the text
PADDING_Y = 60
MAX_FONT_SIZE = 112
MIN_FONT_SIZE = 36
WORD_BREAK_MIN_SIZE = 88  # smallest type worth keeping a word whole for
FONT_STEP = 4
ELLIPSIS = "\u2026"
LINE_PITCH = 1.3  # distance between two baselines, in font sizes: room for stacked marks
ICON_TOP = 70  # from the card's top edge, below the accent bar
ICON_SIZE = 270
ICON_GAP = 24  # between the icon and the label

# Thai signs that sit on the consonant before them, and vowels written before their consonant.
_THAI_MARKS = frozenset(chr(c) for c in (0x0E31, *range(0x0E33, 0x0E3B), *range(0x0E47, 0x0E4F)))
_THAI_LEADING_VOWELS = frozenset(chr(c) for c in range(0x0E40, 0x0E45))
_THAI_BODY = "\u0e01\u0e02"  # two plain consonants: the height of a line's main body

Lines = tuple[str, ...]


@dataclass(frozen=True)
class RichMenuButton:
    label: str  # shown on the image, and in the chat as the person's message when tapped
    data: str  # the postback's data, e.g. "r:problem_report"
    icon: str | None = None  # one of ICONS, drawn above the label


@dataclass(frozen=True)
class _Cell:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class _TextLayout:
    lines: Lines
    font: ImageFont.FreeTypeFont


# ----------------------------------------------------------------------------- the font


def thai_font_path() -> Path:
    """The Sarabun file to draw with: Bold, else SemiBold, else Regular."""
    import fontpkg

    for weight in (700, 600, 400):
        try:
            path = fontpkg.path("Sarabun", weight=weight)
        except fontpkg.FontpkgError:
            continue
        if path.is_file():
            return path
    raise FileNotFoundError("the Sarabun font is not installed (pip install fontpkg-sarabun)")


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(thai_font_path()), size)


# ----------------------------------------------------------------------------- geometry


def _check_count(buttons: list[RichMenuButton]) -> None:
    if not MIN_BUTTONS <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(
            f"a rich menu row takes {MIN_BUTTONS} to {MAX_BUTTONS} buttons, got {len(buttons)}"
        )


def _cells(count: int) -> list[_Cell]:
    """One cell per button, side by side, exactly tiling the image."""
    edges = [round(i * WIDTH / count) for i in range(count + 1)]
    return [_Cell(left, 0, right - left, HEIGHT) for left, right in pairwise(edges)]


def _card_box(cell: _Cell) -> tuple[int, int, int, int]:
    """The rounded card drawn inside a cell: the gaps between cards are even."""
    return (
        cell.x + GUTTER,
        cell.y + 2 * GUTTER,
        cell.x + cell.width - GUTTER - 1,
        cell.y + cell.height - 2 * GUTTER - 1,
    )


def _text_box(card: tuple[int, int, int, int], with_icon: bool = False
              ) -> tuple[int, int, int, int]:
    left, top, right, bottom = card
    if with_icon:  # the label goes under the icon
        return (left + PADDING_X, _icon_box(card)[3] + ICON_GAP, right - PADDING_X,
                bottom - PADDING_Y // 2)
    return (left + PADDING_X, top + PADDING_Y, right - PADDING_X, bottom - PADDING_Y)


def _icon_box(card: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A square for the icon in the card's upper part, centred."""
    left, top, right, _ = card
    size = min(ICON_SIZE, right - left - 2 * PADDING_X)
    x = (left + right) // 2 - size // 2
    y = top + ICON_TOP
    return (x, y, x + size, y + size)


# ----------------------------------------------------------------------------- text layout


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, never leaving a Thai mark without its consonant."""
    if len(text) <= limit:
        return text
    end = limit
    while end > 0 and text[end] in _THAI_MARKS:
        end -= 1
    while end > 0 and text[end - 1] in _THAI_LEADING_VOWELS:
        end -= 1
    return text[:end] if end > 0 else text[:limit]


def _break_points(label: str) -> tuple[list[str], list[str]]:
    """The label cut into pieces where a line may break: between words, and between syllables.

    A label with spaces breaks only at them. Thai has none: pythainlp finds its words, and its
    syllables for a label that is one long word.
    """
    if " " in label:
        return [f"{word} " for word in label.split()], []
    from pythainlp.tokenize import syllable_tokenize, word_tokenize

    return word_tokenize(label, engine="newmm"), syllable_tokenize(label, engine="dict")


def _two_line_splits(pieces: list[str]) -> list[Lines]:
    """Every way of breaking the pieces into two lines, most even first."""
    splits = [
        ("".join(pieces[:i]).strip(), "".join(pieces[i:]).strip()) for i in range(1, len(pieces))
    ]
    splits = [(first, second) for first, second in splits if first and second]
    return sorted(splits, key=lambda pair: abs(len(pair[0]) - len(pair[1])))


def _arrangements(label: str) -> tuple[list[Lines], list[Lines]]:
    """The line arrangements to try: the preferred ones (the caller's own line breaks, else one
    line, then two lines broken between words), and the fallbacks (broken between syllables)."""
    if "\n" in label:
        return [tuple(line.strip() for line in label.splitlines() if line.strip())], []
    label = label.strip()
    words, syllables = _break_points(label)
    preferred: list[Lines] = [(label,), *_two_line_splits(words)]
    fallback = [lines for lines in _two_line_splits(syllables) if lines not in preferred]
    return preferred, fallback


def _line_centres(box: tuple[int, int, int, int], count: int, size: int) -> list[float]:
    middle = (box[1] + box[3]) / 2
    pitch = size * LINE_PITCH
    return [middle + (i - (count - 1) / 2) * pitch for i in range(count)]


def _baseline(font: ImageFont.FreeTypeFont, centre: float) -> float:
    """The baseline that puts a line's consonant body (not its marks) on ``centre``."""
    _, top, _, bottom = font.getbbox(_THAI_BODY, anchor="ls")
    return centre - (top + bottom) / 2


def _placed_lines(
    layout: _TextLayout, box: tuple[int, int, int, int]
) -> list[tuple[tuple[float, float], str]]:
    """Where each line is drawn: its centre x and its baseline y (anchor "ms")."""
    x = (box[0] + box[2]) / 2
    centres = _line_centres(box, len(layout.lines), int(layout.font.size))
    return [
        ((x, _baseline(layout.font, c)), line)
        for c, line in zip(centres, layout.lines, strict=True)
    ]


def _fits(layout: _TextLayout, box: tuple[int, int, int, int]) -> bool:
    for (x, y), line in _placed_lines(layout, box):
        left, top, right, bottom = layout.font.getbbox(line, anchor="ms")
        if x + left < box[0] or x + right > box[2] or y + top < box[1] or y + bottom > box[3]:
            return False
    return True


def _first_fit(
    arrangements: list[Lines], sizes: range, box: tuple[int, int, int, int]
) -> _TextLayout | None:
    for size in sizes:
        for lines in arrangements:
            layout = _TextLayout(lines, _font(size))
            if _fits(layout, box):
                return layout
    return None


def _shortened(line: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """The line cut short with an ellipsis so that it is at most ``width`` wide."""
    kept = line
    while kept and font.getlength(line) > width:
        kept = _cut(kept, len(kept) - 1).rstrip()
        line = f"{kept}{ELLIPSIS}"
    return line


def _last_resort(label: str, box: tuple[int, int, int, int]) -> _TextLayout:
    """For a label too long even for the smallest type: the first line as full as a break
    allows, and the rest on a second line cut short with an ellipsis."""
    font = _font(MIN_FONT_SIZE)
    width = box[2] - box[0]
    preferred, fallback = _arrangements(label)
    splits = [
        lines
        for lines in preferred + fallback
        if len(lines) == 2 and font.getlength(lines[0]) <= width
    ]
    if not splits:
        return _TextLayout((_shortened(label.strip(), font, width),), font)
    first, rest = max(splits, key=lambda lines: len(lines[0]))
    return _TextLayout((first, _shortened(rest, font, width)), font)


def _layout(label: str, box: tuple[int, int, int, int]) -> _TextLayout:
    """The largest type that fits: one line, else two broken between words, shrinking a little
    if need be; only then a break between syllables, and then smaller type."""
    preferred, fallback = _arrangements(label)
    everything = preferred + fallback
    layout = _first_fit(
        preferred, range(MAX_FONT_SIZE, WORD_BREAK_MIN_SIZE - 1, -FONT_STEP), box
    ) or _first_fit(everything, range(MAX_FONT_SIZE, MIN_FONT_SIZE - 1, -FONT_STEP), box)
    return layout or _last_resort(label, box)


# ----------------------------------------------------------------------------- drawing


def _draw_cell(draw: ImageDraw.ImageDraw, cell: _Cell, button: RichMenuButton,
               index: int) -> None:
    card = _card_box(cell)
    fill = CELL_FILLS[index % len(CELL_FILLS)]
    draw.rounded_rectangle(card, radius=RADIUS, fill=fill)
    left, top, right, _ = card
    draw.rectangle(
        (left + RADIUS, top + 24, right - RADIUS, top + 24 + ACCENT_HEIGHT - 1), fill=ACCENT
    )
    if button.icon:
        ICONS[button.icon](draw, _icon_box(card), fill)
    label = button.label
    box = _text_box(card, with_icon=bool(button.icon))
    layout = _layout(label, box)
    for position, line in _placed_lines(layout, box):
        draw.text(position, line, font=layout.font, fill=TEXT_COLOUR, anchor="ms")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    data = out.getvalue()
    if len(data) > MAX_IMAGE_BYTES:
        out = io.BytesIO()
        image.quantize(colors=64).save(out, format="PNG", optimize=True)
        data = out.getvalue()
    return data


def draw_image(buttons: list[RichMenuButton]) -> bytes:
    """The rich menu image: a WIDTH x HEIGHT PNG, one labelled cell per button."""
    _check_count(buttons)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for index, (cell, button) in enumerate(zip(_cells(len(buttons)), buttons, strict=True)):
        _draw_cell(draw, cell, button, index)
    return _png(image)


# ----------------------------------------------------------------------------- JSON


def areas(buttons: list[RichMenuButton]) -> list[dict[str, Any]]:
    """The tap areas: one per cell, each a postback with its button's data; the label shows
    in the chat as what the person tapped."""
    _check_count(buttons)
    return [
        {
            "bounds": {"x": cell.x, "y": cell.y, "width": cell.width, "height": cell.height},
            "action": {
                "type": "postback",
                "label": fit(" ".join(button.label.split()), MAX_ACTION_LABEL),
                "data": button.data,
                "displayText": fit(" ".join(button.label.split()), MAX_DISPLAY_TEXT),
            },
        }
        for cell, button in zip(_cells(len(buttons)), buttons, strict=True)
    ]


def rich_menu_request(buttons: list[RichMenuButton], chat_bar_text: str,
                      name: str = MENU_NAME) -> dict[str, Any]:
    """The body for POST /v2/bot/richmenu."""
    return {
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": True,
        "name": fit(name, MAX_NAME),
        "chatBarText": fit(chat_bar_text, MAX_CHAT_BAR_TEXT),
        "areas": areas(buttons),
    }


# ----------------------------------------------------------------------------- icons
# Each draws inside a square box in white and the accent colour on the cell's fill, with
# Pillow's shapes only: a few strokes that read at a glance on a phone.

Box = tuple[int, int, int, int]


def _stroke(box: Box) -> int:
    return max(6, (box[2] - box[0]) // 14)


def _at(box: Box, fx: float, fy: float) -> tuple[float, float]:
    """The point at fractions (fx, fy) of the box."""
    return (box[0] + fx * (box[2] - box[0]), box[1] + fy * (box[3] - box[1]))


def _rect(box: Box, fx0: float, fy0: float, fx1: float, fy1: float) -> tuple[float, ...]:
    return (*_at(box, fx0, fy0), *_at(box, fx1, fy1))


def _icon_report(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """A warning sign: a triangle with an exclamation mark."""
    draw.polygon([_at(box, 0.5, 0.05), _at(box, 0.97, 0.92), _at(box, 0.03, 0.92)],
                 fill=TEXT_COLOUR)
    draw.rounded_rectangle(_rect(box, 0.45, 0.32, 0.55, 0.68), radius=6, fill=fill)
    draw.ellipse(_rect(box, 0.44, 0.73, 0.56, 0.85), fill=fill)


def _icon_plan(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """A clipboard with ticked lines."""
    w = _stroke(box)
    draw.rounded_rectangle(_rect(box, 0.15, 0.1, 0.85, 0.97), radius=w * 2, fill=TEXT_COLOUR)
    draw.rounded_rectangle(_rect(box, 0.35, 0.02, 0.65, 0.18), radius=w, fill=ACCENT)
    for fy in (0.38, 0.58, 0.78):
        draw.line([_at(box, 0.26, fy), _at(box, 0.32, fy + 0.06), _at(box, 0.42, fy - 0.06)],
                  fill=fill, width=w, joint="curve")
        draw.line([_at(box, 0.5, fy), _at(box, 0.76, fy)], fill=fill, width=w)


def _icon_progress(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """Three rising bars and an arrow."""
    w = _stroke(box)
    for i, height in enumerate((0.3, 0.5, 0.72)):
        x0 = 0.12 + i * 0.28
        draw.rectangle(_rect(box, x0, 0.95 - height, x0 + 0.2, 0.95), fill=TEXT_COLOUR)
    draw.line([_at(box, 0.1, 0.5), _at(box, 0.45, 0.25), _at(box, 0.8, 0.1)], fill=ACCENT,
              width=w, joint="curve")
    draw.polygon([_at(box, 0.92, 0.03), _at(box, 0.7, 0.05), _at(box, 0.86, 0.22)],
                 fill=ACCENT)


def _icon_summary(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """A pie chart with one slice lifted out."""
    draw.pieslice(_rect(box, 0.05, 0.08, 0.9, 0.93), 0, 270, fill=TEXT_COLOUR)
    draw.pieslice(_rect(box, 0.12, 0.02, 0.97, 0.87), 270, 360, fill=ACCENT)


def _icon_menu(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """Three lines: everything else is in here."""
    for fy in (0.2, 0.5, 0.8):
        draw.rounded_rectangle(_rect(box, 0.1, fy - 0.07, 0.9, fy + 0.07), radius=12,
                               fill=TEXT_COLOUR)


def _icon_help(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """A question mark in a circle."""
    w = _stroke(box)
    draw.ellipse(_rect(box, 0.05, 0.05, 0.95, 0.95), fill=TEXT_COLOUR)
    draw.arc(_rect(box, 0.32, 0.2, 0.68, 0.52), 180, 90, fill=fill, width=w)
    draw.line([_at(box, 0.5, 0.52), _at(box, 0.5, 0.64)], fill=fill, width=w)
    draw.ellipse(_rect(box, 0.44, 0.72, 0.56, 0.84), fill=fill)


def _icon_review(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """A magnifying glass over a page."""
    w = _stroke(box)
    draw.rectangle(_rect(box, 0.1, 0.05, 0.62, 0.75), fill=TEXT_COLOUR)
    for fy in (0.22, 0.37, 0.52):
        draw.line([_at(box, 0.2, fy), _at(box, 0.52, fy)], fill=fill, width=w // 2 + 2)
    draw.ellipse(_rect(box, 0.42, 0.42, 0.8, 0.8), outline=ACCENT, width=w)
    draw.line([_at(box, 0.76, 0.76), _at(box, 0.95, 0.95)], fill=ACCENT, width=w * 2)


def _icon_reports(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """Two pages, one behind the other."""
    w = _stroke(box)
    draw.rectangle(_rect(box, 0.3, 0.03, 0.9, 0.75), fill=ACCENT)
    draw.rectangle(_rect(box, 0.1, 0.22, 0.7, 0.97), fill=TEXT_COLOUR)
    for fy in (0.42, 0.6, 0.78):
        draw.line([_at(box, 0.2, fy), _at(box, 0.6, fy)], fill=fill, width=w // 2 + 2)


def _icon_invite(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """An envelope with a plus."""
    w = _stroke(box)
    draw.rectangle(_rect(box, 0.03, 0.22, 0.8, 0.82), fill=TEXT_COLOUR)
    draw.line([_at(box, 0.03, 0.22), _at(box, 0.415, 0.55), _at(box, 0.8, 0.22)], fill=fill,
              width=w, joint="curve")
    draw.ellipse(_rect(box, 0.62, 0.55, 0.98, 0.91), fill=ACCENT)
    draw.line([_at(box, 0.8, 0.62), _at(box, 0.8, 0.84)], fill=fill, width=w)
    draw.line([_at(box, 0.69, 0.73), _at(box, 0.91, 0.73)], fill=fill, width=w)


def _icon_decide(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """An in-tray with a tick: requests waiting for a decision."""
    w = _stroke(box)
    draw.polygon([_at(box, 0.05, 0.55), _at(box, 0.3, 0.55), _at(box, 0.38, 0.68),
                  _at(box, 0.62, 0.68), _at(box, 0.7, 0.55), _at(box, 0.95, 0.55),
                  _at(box, 0.95, 0.95), _at(box, 0.05, 0.95)], fill=TEXT_COLOUR)
    draw.line([_at(box, 0.28, 0.25), _at(box, 0.45, 0.42), _at(box, 0.75, 0.05)], fill=ACCENT,
              width=w * 2, joint="curve")


def _icon_forwarded(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """An arrow into an in-tray: requests forwarded up."""
    w = _stroke(box)
    draw.polygon([_at(box, 0.05, 0.55), _at(box, 0.3, 0.55), _at(box, 0.38, 0.68),
                  _at(box, 0.62, 0.68), _at(box, 0.7, 0.55), _at(box, 0.95, 0.55),
                  _at(box, 0.95, 0.95), _at(box, 0.05, 0.95)], fill=TEXT_COLOUR)
    draw.line([_at(box, 0.5, 0.02), _at(box, 0.5, 0.35)], fill=ACCENT, width=w * 2)
    draw.polygon([_at(box, 0.32, 0.3), _at(box, 0.68, 0.3), _at(box, 0.5, 0.5)], fill=ACCENT)


def _icon_join(draw: ImageDraw.ImageDraw, box: Box, fill: tuple[int, int, int]) -> None:
    """A key: the invite code."""
    w = _stroke(box)
    draw.ellipse(_rect(box, 0.03, 0.3, 0.43, 0.7), fill=TEXT_COLOUR)
    draw.ellipse(_rect(box, 0.15, 0.42, 0.31, 0.58), fill=fill)
    draw.rectangle(_rect(box, 0.4, 0.45, 0.97, 0.55), fill=TEXT_COLOUR)
    draw.rectangle(_rect(box, 0.72, 0.55, 0.8, 0.72), fill=ACCENT)
    draw.rectangle(_rect(box, 0.86, 0.55, 0.94, 0.66), fill=ACCENT)
    del w


ICONS = {
    "report": _icon_report,
    "plan": _icon_plan,
    "progress": _icon_progress,
    "summary": _icon_summary,
    "menu": _icon_menu,
    "help": _icon_help,
    "review": _icon_review,
    "reports": _icon_reports,
    "invite": _icon_invite,
    "decide": _icon_decide,
    "forwarded": _icon_forwarded,
    "join": _icon_join,
}
