"""The LINE rich menu: the image is a real PNG that LINE accepts, the Thai is drawn (no tofu),
each cell has its icon, and the tap areas are postbacks that match the cells."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from bot.line_text import grapheme_len
from bot.rich_menu import (
    BACKGROUND,
    GUTTER,
    HEIGHT,
    ICONS,
    WIDTH,
    RichMenuButton,
    _card_box,
    _cells,
    _icon_box,
    _layout,
    areas,
    draw_image,
    rich_menu_request,
    thai_font_path,
)

LABELS = ["รายงานปัญหา", "แผนของหมู่บ้าน", "ความคืบหน้า", "สรุปผล", "ช่วยเหลือ"]
BUTTONS = [RichMenuButton(label=label, data=f"r:{i}") for i, label in enumerate(LABELS)]
MORE_LABELS = ["รายงานของหมู่บ้าน", "รายงานในพื้นที่", "ออกรหัสเชิญ", "ภาษา / Language"]
THAI = re.compile(r"[\u0E00-\u0E7F]")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def image() -> Image.Image:
    data = draw_image(BUTTONS)
    assert len(data) < 1024 * 1024
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture.convert("RGB")


def buttons(count: int) -> list[RichMenuButton]:
    labels = (LABELS + MORE_LABELS)[:count]
    icons = list(ICONS)
    return [RichMenuButton(label=label, data=f"r:{i}", icon=icons[i % len(icons)])
            for i, label in enumerate(labels)]


def ink(picture: Image.Image, box: tuple[int, int, int, int]) -> int:
    """How many pixels in the box are near white: the text's colour."""
    return sum(picture.crop(box).convert("L").histogram()[201:])


# ----------------------------------------------------------------------------- the image


def test_the_image_is_a_png_of_line_compact_size_under_1_mb() -> None:
    data = draw_image(BUTTONS)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) < 1024 * 1024
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "PNG"
        assert picture.size == (WIDTH, HEIGHT) == (2500, 843)


def test_the_font_is_sarabun_in_a_heavy_weight() -> None:
    path = thai_font_path()
    assert path.is_file()
    assert path.suffix == ".ttf"
    assert path.name in {"Sarabun-Bold.ttf", "Sarabun-SemiBold.ttf", "Sarabun-Regular.ttf"}


def test_the_font_has_a_glyph_for_every_thai_letter_in_the_labels() -> None:
    """A missing glyph is drawn as the font's box (.notdef), the same for every missing one."""
    font = ImageFont.truetype(str(thai_font_path()), 64, layout_engine=ImageFont.Layout.BASIC)
    tofu = bytes(font.getmask(chr(0x4E00)))  # a CJK letter Sarabun does not have
    letters = sorted({ch for label in LABELS + MORE_LABELS for ch in label if THAI.match(ch)})
    assert len(letters) > 20
    for letter in letters:
        mask = font.getmask(letter)
        assert mask.getbbox() is not None, f"U+{ord(letter):04X} draws nothing"
        assert bytes(mask) != tofu, f"U+{ord(letter):04X} is drawn as a box"


def test_every_cell_has_text_in_its_centre(image: Image.Image) -> None:
    for area in areas(BUTTONS):
        b = area["bounds"]
        centre = (
            b["x"] + b["width"] // 5,
            b["y"] + b["height"] // 4,
            b["x"] + b["width"] * 4 // 5,
            b["y"] + b["height"] * 3 // 4,
        )
        assert ink(image, centre) > 2000, area["action"]["label"]


def test_the_cells_are_drawn_on_the_background(image: Image.Image) -> None:
    assert image.getpixel((2, 2)) == BACKGROUND
    assert image.getpixel((WIDTH - 3, HEIGHT - 3)) == BACKGROUND
    for area in areas(BUTTONS):
        b = area["bounds"]
        middle = (b["x"] + b["width"] // 2, b["y"] + HEIGHT // 6)
        assert image.getpixel(middle) != BACKGROUND


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6])
def test_text_stays_inside_its_cell(count: int) -> None:
    """The gaps between the cards stay empty: no label spills into its neighbour."""
    chosen = buttons(count)
    picture = Image.open(io.BytesIO(draw_image(chosen))).convert("RGB")
    assert picture.size == (WIDTH, HEIGHT)
    for area in areas(chosen)[1:]:
        x = area["bounds"]["x"]
        for dx in range(-GUTTER + 2, GUTTER - 2):
            column = {picture.getpixel((x + dx, y)) for y in range(0, HEIGHT, 3)}
            assert column == {BACKGROUND}, (count, x + dx)
    for area in areas(chosen):
        b = area["bounds"]
        centre = (
            b["x"] + b["width"] // 5,
            HEIGHT // 4,
            b["x"] + b["width"] * 4 // 5,
            HEIGHT * 3 // 4,
        )
        assert ink(picture, centre) > 500, area["action"]["label"]


@pytest.mark.parametrize("count", [2, 6])
def test_a_very_long_label_is_shrunk_and_kept_in_its_cell(count: int) -> None:
    long_label = "รายงานปัญหาน้ำท่วมและถนนชำรุดในหมู่บ้านของเราทุกหมู่บ้านในตำบล"
    chosen = [RichMenuButton(long_label, "r:long", "report"), *buttons(count - 1)]
    picture = Image.open(io.BytesIO(draw_image(chosen))).convert("RGB")
    first, second = areas(chosen)[:2]
    edge = second["bounds"]["x"]
    for dx in range(-GUTTER + 2, GUTTER - 2):
        assert {picture.getpixel((edge + dx, y)) for y in range(HEIGHT)} == {BACKGROUND}
    for y in range(GUTTER):  # nor above or below the card
        assert {picture.getpixel((x, y)) for x in range(edge)} == {BACKGROUND}
        assert {picture.getpixel((x, HEIGHT - 1 - y)) for x in range(edge)} == {BACKGROUND}
    b = first["bounds"]
    assert ink(picture, (b["x"], 0, b["x"] + b["width"], HEIGHT)) > 500


def test_a_label_too_long_for_any_size_is_cut_short_with_an_ellipsis() -> None:
    box = (0, 0, 300, 600)
    layout = _layout("ก" * 80, box)
    assert layout.lines[-1].endswith("\u2026")
    assert all(layout.font.getlength(line) <= 300 for line in layout.lines)


def test_wide_thai_labels_wrap_between_words() -> None:
    box = (0, 0, 400, 600)
    layout = _layout("แผนของหมู่บ้าน", box)
    assert layout.lines == ("แผนของ", "หมู่บ้าน")
    assert _layout("สรุปผล", box).lines == ("สรุปผล",)
    assert "".join(_layout("ความคืบหน้า", box).lines) == "ความคืบหน้า"
    assert _layout("ภาษา / Language", box).lines == ("ภาษา /", "Language")


def test_the_example_image_can_be_saved(tmp_path: Path) -> None:
    out = tmp_path / "richmenu.png"
    out.write_bytes(draw_image(BUTTONS))
    with Image.open(out) as picture:
        assert picture.size == (WIDTH, HEIGHT)


@pytest.mark.parametrize("count", [0, 1, 7])
def test_a_row_takes_two_to_six_buttons(count: int) -> None:
    chosen = [RichMenuButton("ก", "r:x")] * count
    with pytest.raises(ValueError):
        draw_image(chosen)
    with pytest.raises(ValueError):
        areas(chosen)


# ----------------------------------------------------------------------------- the JSON


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6])
def test_areas_tile_the_image_without_gaps_or_overlaps(count: int) -> None:
    bounds = [area["bounds"] for area in areas(buttons(count))]
    assert len(bounds) == count
    x = 0
    for b in bounds:
        assert set(b) == {"x", "y", "width", "height"}
        assert all(isinstance(v, int) for v in b.values())
        assert (b["x"], b["y"], b["height"]) == (x, 0, HEIGHT)
        assert b["width"] > 0
        x += b["width"]
    assert x == WIDTH
    assert sum(b["width"] * b["height"] for b in bounds) == WIDTH * HEIGHT
    widths = [b["width"] for b in bounds]
    assert max(widths) - min(widths) <= 1


def test_areas_are_postbacks_never_message_text() -> None:
    """A tap sends data the engine takes as navigation: no text that an open question
    could take as its answer."""
    chosen = [RichMenuButton("รายงานปัญหา", "r:problem_report"), RichMenuButton("ช่วยเหลือ",
                                                                               "r:help")]
    actions = [area["action"] for area in areas(chosen)]
    assert actions == [
        {"type": "postback", "label": "รายงานปัญหา", "data": "r:problem_report",
         "displayText": "รายงานปัญหา"},
        {"type": "postback", "label": "ช่วยเหลือ", "data": "r:help", "displayText": "ช่วยเหลือ"},
    ]
    assert all("text" not in action for action in actions)


def test_action_labels_are_measured_in_grapheme_clusters_as_line_does() -> None:
    """LINE counts a rich menu action's label in grapheme clusters: a Thai consonant with
    its vowel and tone marks is one character. 'แผนของหมู่บ้านที่ยั่งยืน' is 24 code points
    but 18 characters to LINE: kept whole."""
    label = "แผนของหมู่บ้านที่ยั่งยืน"
    assert len(label) > 20 and grapheme_len(label) <= 20
    [first, _] = (area["action"] for area in areas([RichMenuButton(label, "r:plan")] * 2))
    assert first["label"] == label and first["displayText"] == label


def test_action_labels_are_cut_to_20_clusters_without_orphan_marks() -> None:
    long_label = "รายงานปัญหาน้ำท่วมและถนนชำรุดในหมู่บ้าน"
    chosen = [RichMenuButton(long_label, "r:x"), RichMenuButton("ab" * 15, "r:y")]
    first, second = (area["action"] for area in areas(chosen))
    assert grapheme_len(first["label"]) == 20 and first["label"].endswith("\u2026")
    assert long_label.startswith(first["label"][:-1])
    assert first["displayText"] == long_label
    assert second["label"] == ("ab" * 15)[:19] + "\u2026"
    # Wherever the cut falls, no vowel or tone mark is cut from its consonant.
    for start in range(len(long_label) - 20):
        label = long_label[start:]
        cut = areas([RichMenuButton(label, "r:x")] * 2)[0]["action"]["label"]
        kept = cut.removesuffix("\u2026")
        assert grapheme_len(cut) <= 20 and label.startswith(kept)
        assert not re.match(r"[\u0E31\u0E33-\u0E3A\u0E47-\u0E4E]", label[len(kept) :])


def test_the_request_body() -> None:
    body = rich_menu_request(BUTTONS, "เมนูหลักของหมู่บ้านเรา (กดที่นี่)")
    assert body["size"] == {"width": 2500, "height": 843}
    assert body["selected"] is True
    assert body["name"] == "cercap-main"
    assert 0 < grapheme_len(body["chatBarText"]) <= 14
    assert "เมนูหลักของหมู่บ้านเรา".startswith(body["chatBarText"].removesuffix("\u2026"))
    assert body["areas"] == areas(BUTTONS)
    assert all(grapheme_len(area["action"]["label"]) <= 20 for area in body["areas"])
    assert rich_menu_request(BUTTONS, "เมนู", name="cercap-tao")["name"] == "cercap-tao"
    assert json.loads(json.dumps(body, ensure_ascii=False)) == body


def test_a_short_chat_bar_text_is_kept() -> None:
    assert rich_menu_request(BUTTONS, "เมนู")["chatBarText"] == "เมนู"
    assert rich_menu_request(BUTTONS, "Menu")["chatBarText"] == "Menu"


def test_no_thai_in_the_module() -> None:
    source = (ROOT / "bot" / "rich_menu.py").read_text("utf-8")
    assert not THAI.search(source)


# ----------------------------------------------------------------------------- icons


@pytest.mark.parametrize("icon", sorted(ICONS))
def test_every_icon_is_drawn_inside_its_box_above_the_label(icon: str) -> None:
    """Each icon leaves ink in its own box (white on the cell's blue), where a cell without
    an icon has hardly any (the top of its label)."""
    chosen = [RichMenuButton("สรุปผล", "r:a", icon), RichMenuButton("สรุปผล", "r:b")]
    picture = Image.open(io.BytesIO(draw_image(chosen))).convert("RGB")
    with_icon, without = (_icon_box(_card_box(cell)) for cell in _cells(2))
    assert ink(picture, with_icon) > 3000, icon
    assert ink(picture, with_icon) > 10 * ink(picture, without), icon
    # The label is still drawn, below the icon.
    left, _, right, bottom = _card_box(_cells(2)[0])
    assert ink(picture, (left, with_icon[3], right, bottom)) > 2000


def test_each_role_menu_draws_and_fits_line_s_rules() -> None:
    from bot.line_setup import RICH_MENUS, rich_menu_buttons

    for key in RICH_MENUS:
        chosen = rich_menu_buttons(key)
        assert all(b.icon in ICONS for b in chosen), key
        data = draw_image(chosen)
        assert len(data) < 1024 * 1024
        body = rich_menu_request(chosen, "เมนู CERCAP", name=f"cercap-{key}")
        assert all(a["action"]["type"] == "postback" and a["action"]["data"].startswith("r:")
                   for a in body["areas"])
