"""The LINE rich menu: a one-row image the project draws itself, and the JSON that goes with it.

The image is drawn with Pillow in the Sarabun typeface (``fontpkg-sarabun``, OFL-1.1), one
rounded cell per button. The labels come from the caller (the locale catalogs), so this module
holds no Thai text. Thai has no spaces between words: a label too wide for its cell is split
into two lines at a word boundary found by pythainlp, and the type is made smaller only when
that is not enough (then a break between syllables is allowed; a label too long for the smallest
type is cut short with an ellipsis).

LINE's rules followed here: the compact full-width size is 2500 x 843, the image is a PNG of
at most 1 MB, the areas cover the image, an action's label is at most 20 characters and the
chat bar text at most 14.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 2500, 843
MIN_BUTTONS, MAX_BUTTONS = 2, 6
MENU_NAME = "cercap-main"
MAX_ACTION_LABEL = 20
MAX_CHAT_BAR_TEXT = 14
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

# Thai signs that sit on the consonant before them, and vowels written before their consonant.
_THAI_MARKS = frozenset(chr(c) for c in (0x0E31, *range(0x0E33, 0x0E3B), *range(0x0E47, 0x0E4F)))
_THAI_LEADING_VOWELS = frozenset(chr(c) for c in range(0x0E40, 0x0E45))
_THAI_BODY = "\u0e01\u0e02"  # two plain consonants: the height of a line's main body

Lines = tuple[str, ...]


@dataclass(frozen=True)
class RichMenuButton:
    label: str  # shown on the image
    text: str  # sent as a message when the button is tapped


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


def _text_box(card: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    left, top, right, bottom = card
    return (left + PADDING_X, top + PADDING_Y, right - PADDING_X, bottom - PADDING_Y)


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


def _draw_cell(draw: ImageDraw.ImageDraw, cell: _Cell, label: str, index: int) -> None:
    card = _card_box(cell)
    draw.rounded_rectangle(card, radius=RADIUS, fill=CELL_FILLS[index % len(CELL_FILLS)])
    left, top, right, _ = card
    draw.rectangle(
        (left + RADIUS, top + 24, right - RADIUS, top + 24 + ACCENT_HEIGHT - 1), fill=ACCENT
    )
    box = _text_box(card)
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
        _draw_cell(draw, cell, button.label, index)
    return _png(image)


# ----------------------------------------------------------------------------- JSON


def areas(buttons: list[RichMenuButton]) -> list[dict[str, Any]]:
    """The tap areas: one per cell, each sending its button's text as a message."""
    _check_count(buttons)
    return [
        {
            "bounds": {"x": cell.x, "y": cell.y, "width": cell.width, "height": cell.height},
            "action": {
                "type": "message",
                "label": _cut(button.label.replace("\n", " "), MAX_ACTION_LABEL),
                "text": button.text,
            },
        }
        for cell, button in zip(_cells(len(buttons)), buttons, strict=True)
    ]


def rich_menu_request(buttons: list[RichMenuButton], chat_bar_text: str) -> dict[str, Any]:
    """The body for POST /v2/bot/richmenu."""
    return {
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": True,
        "name": MENU_NAME,
        "chatBarText": _cut(chat_bar_text, MAX_CHAT_BAR_TEXT),
        "areas": areas(buttons),
    }
