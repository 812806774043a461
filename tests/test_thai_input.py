"""Numbers and dates as Thai people type them (handlers/thai_input.py)."""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")

from handlers.thai_input import (
    BE_OFFSET,
    DATE_BAD_YEAR,
    DATE_NO_SUCH_DAY,
    DATE_NO_SUCH_MONTH,
    DATE_NOT_LEAP,
    DATE_UNREADABLE,
    NUMBER_EMPTY,
    NUMBER_SEVERAL,
    NUMBER_TOO_LONG,
    NUMBER_UNREADABLE,
    NUMBER_VAGUE,
    format_baht,
    is_skip_word,
    normalize_text,
    parse_date,
    parse_int,
    parse_number,
    read_date,
    read_number,
    to_arabic_digits,
    to_buddhist_year,
    warm_up,
)

TODAY = date(2025, 1, 10)  # B.E. 2568
ROOT = Path(__file__).resolve().parent.parent

NUMBERS: list[tuple[str, str | None]] = [
    # plain digits, Thai digits, separators, units
    ("45", "45"),
    ("๔๕", "45"),
    ("45 ครัวเรือน", "45"),
    ("45ครัวเรือน", "45"),
    ("๔๕ ครัวเรือน", "45"),
    ("1,200", "1200"),
    ("๑๒,๕๐๐", "12500"),
    ("12,500 บาท", "12500"),
    ("฿12,500", "12500"),
    ("1,234,567.50", "1234567.50"),
    ("ประมาณ 45 ครัวเรือนครับ", "45"),
    ("120 คน", "120"),
    ("3 หลัง", "3"),
    ("7 ราย", "7"),
    ("12 ครอบครัว", "12"),
    ("0", "0"),
    (" 7 ", "7"),
    ("007", "7"),
    ("-5", "-5"),
    ("ลบห้า", "-5"),
    ("0.5", "0.5"),
    ("12k", "12000"),
    ("2.5 million baht", "2500000"),
    ("k", None),
    ("ล้านk", None),
    ("５", "5"),  # full-width digit
    # digits with multiplier words (text_to_num drops the multiplier)
    ("2.5 ล้าน", "2500000"),
    ("2.5ล้าน", "2500000"),
    ("๒.๕ ล้านบาท", "2500000"),
    ("1.2 แสน", "120000"),
    ("3 หมื่น", "30000"),
    ("5 พัน", "5000"),
    ("1,200 ล้าน", "1200000000"),
    ("2 ล้าน 5 แสน", "2500000"),
    ("3หมื่น5พัน", "35000"),
    ("3 หมื่น 5", "35000"),
    # Thai number words, formal
    ("สามหมื่นห้าพัน", "35000"),
    ("สามหมื่นห้าพันบาท", "35000"),
    ("หนึ่งร้อยยี่สิบ", "120"),
    ("ยี่สิบเอ็ด", "21"),
    ("สิบ", "10"),
    ("สิบเอ็ด", "11"),
    ("สิบห้า", "15"),
    ("ศูนย์", "0"),
    ("หนึ่งร้อยห้า", "105"),  # after a hundred a bare digit is literal
    ("หนึ่งพันเอ็ด", "1001"),  # "ed" is always literal
    ("ล้าน", "1000000"),
    ("สองล้านล้าน", "2000000000000"),
    ("สาม หมื่น ห้า พัน", "35000"),
    # spoken shorthand (thaiword_to_num reads these wrongly)
    ("สามหมื่นห้า", "35000"),
    ("สองแสนห้า", "250000"),
    ("หนึ่งล้านสอง", "1200000"),
    ("พันห้า", "1500"),
    ("สามหมื่นห้าพันสอง", "35200"),
    # half
    ("ล้านครึ่ง", "1500000"),
    ("สองแสนครึ่ง", "250000"),
    ("ครึ่งล้าน", "500000"),
    ("สองครึ่ง", "2.5"),
    # not one number
    ("", None),
    ("   ", None),
    ("abc", None),
    ("1 2", None),
    ("12 500", None),
    ("12abc", None),
    ("1,2,3,4", None),
    ("1,2", None),
    ("12,50", None),
    ("1.2.3", None),
    ("😀", None),
    ("45 😀", None),
    ("1" * 10_000, None),
    ("1e400", None),
    ("nan", None),
    ("NaN", None),
    ("inf", None),
    ("-inf", None),
    ("5-", None),
    ("--5", None),
    ("ยี่", None),
    ("เอ็ด", None),
    ("ร้อยพัน", None),
    ("300 500", None),
    ("สิบครึ่ง", None),
    ("ล้าน 5 ล้าน", None),
    ("45 ครัวเรือน 3 คน", None),
    ("ห้าสิบกว่า", None),  # "more than fifty": not guessed
    ("สองจุดห้า", None),  # "two point five" in words: unsupported
    ("สามบาทห้า", None),
    ("หมู", None),
]


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_parse_number(text: str, expected: str | None) -> None:
    result = parse_number(text)
    if expected is None:
        assert result is None
    else:
        assert result == Decimal(expected)
        assert isinstance(result, Decimal)


INTS: list[tuple[str, int | None]] = [
    ("45 ครัวเรือน", 45),
    ("สามหมื่นห้า", 35000),
    ("2.5 ล้าน", 2_500_000),
    ("2.0", 2),
    ("2.5", None),
    ("สองครึ่ง", None),
    ("-5", -5),
    ("abc", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), INTS)
def test_parse_int(text: str, expected: int | None) -> None:
    result = parse_int(text)
    assert result == expected
    assert result is None or type(result) is int


def test_integral_results_have_no_exponent() -> None:
    assert str(parse_number("2.5 ล้าน")) == "2500000"
    assert str(parse_number("1,234.50")) == "1234.50"


DATES: list[tuple[str, date | None]] = [
    ("15 ม.ค. 68", date(2025, 1, 15)),
    ("15 ม.ค.68", date(2025, 1, 15)),
    ("15ม.ค.68", date(2025, 1, 15)),
    ("15 มค 68", date(2025, 1, 15)),
    ("15 มกราคม 2568", date(2025, 1, 15)),
    ("15 มกรา 68", date(2025, 1, 15)),
    ("15 มกราคม พ.ศ. 2568", date(2025, 1, 15)),
    ("วันที่ 15 ม.ค. 68", date(2025, 1, 15)),
    ("๑ มีนาคม ๒๕๖๘", date(2025, 3, 1)),
    ("๑/๓/๒๕๖๘", date(2025, 3, 1)),
    ("1/3/2568", date(2025, 3, 1)),
    ("01/03/68", date(2025, 3, 1)),
    ("1-3-2568", date(2025, 3, 1)),
    ("1.3.2568", date(2025, 3, 1)),
    ("1 / 3 / 2568", date(2025, 3, 1)),
    ("2025-03-01", date(2025, 3, 1)),
    ("2568-03-01", date(2025, 3, 1)),
    ("1/3/2025", date(2025, 3, 1)),
    ("1/3", date(2025, 3, 1)),
    ("15 ม.ค.", date(2025, 1, 15)),
    ("28 ก.พ. 68", date(2025, 2, 28)),
    ("29 ก.พ. 67", date(2024, 2, 29)),
    ("5 ธ.ค. 67", date(2024, 12, 5)),
    ("15 กรกฎาคม 2568", date(2025, 7, 15)),
    ("15 กรกฏาคม 2568", date(2025, 7, 15)),  # the common misspelling
    ("1 ต.ค. ค.ศ. 2024", date(2024, 10, 1)),
    ("1 ต.ค. ค.ศ. 24", date(2024, 10, 1)),
    ("วันนี้", date(2025, 1, 10)),
    ("พรุ่งนี้", date(2025, 1, 11)),
    ("มะรืนนี้", date(2025, 1, 12)),
    ("เมื่อวาน", date(2025, 1, 9)),
    ("เมื่อวานซืน", date(2025, 1, 8)),
    (" วันนี้ ", date(2025, 1, 10)),
    ("today", date(2025, 1, 10)),
    ("Tomorrow", date(2025, 1, 11)),
    ("yesterday", date(2025, 1, 9)),
    ("15 Jan 2025", date(2025, 1, 15)),
    ("15 January 2568", date(2025, 1, 15)),
    ("15-Jan-2025", date(2025, 1, 15)),
    ("1 sept 2025", date(2025, 9, 1)),
    # impossible or not a date
    ("31 ก.พ. 68", None),
    ("29 ก.พ. 68", None),
    ("30/2/2568", None),
    ("0/1/2568", None),
    ("32/1/2568", None),
    ("1/13/2568", None),
    ("1/0/2568", None),
    ("1/3/256", None),
    ("1/3-2568", None),
    ("1/3/0000", None),
    ("15 ม.ค. 2", None),
    ("มกราคม 2568", None),
    ("15 มกราคม พ.ศ.", None),
    ("Jan 15, 2025", None),  # month first is never read
    ("15 บาท", None),
    ("2025-13-01", None),
    ("", None),
    ("abc", None),
    ("😀", None),
    ("1 2", None),
    ("เดือนหน้า", None),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text, TODAY) == expected


def test_relative_dates_at_the_edge_of_the_calendar() -> None:
    assert parse_date("พรุ่งนี้", date.max) is None
    assert parse_date("เมื่อวาน", date.min) is None
    assert parse_date("today", datetime(2025, 1, 1, 23, 0)) == date(2025, 1, 1)


def test_date_without_year_is_this_year() -> None:
    assert parse_date("5 ธ.ค.", date(2030, 6, 1)) == date(2030, 12, 5)


def test_normalize_text_removes_zero_width_and_controls() -> None:
    assert normalize_text("\u200bสวัสดี\u200c\u200dครับ\ufeff\u2060") == "สวัสดีครับ"
    assert normalize_text("  ๔๕\t\t ครัวเรือน  ") == "๔๕ ครัวเรือน"  # Thai digits kept
    assert normalize_text("a\x00b\x07c") == "abc"
    assert normalize_text("one  \r\n  two\n\nthree") == "one\ntwo\n\nthree"
    assert normalize_text("น้ำท่วม 😀🙏🏽 ช่วยด้วย") == "น้ำท่วม 😀🙏🏽 ช่วยด้วย"
    assert normalize_text("\u0041\u030a") == "\u00c5"  # NFC
    assert normalize_text("\u200b \u200b") == ""


def test_zero_width_inside_a_number() -> None:
    assert parse_number("12\u200b,500 บาท") == Decimal(12500)
    assert parse_date("15\u200b ม.ค. 68", TODAY) == date(2025, 1, 15)


def test_to_arabic_digits_changes_only_thai_digits() -> None:
    assert to_arabic_digits("๐๑๒๓๔๕๖๗๘๙") == "0123456789"
    assert to_arabic_digits("เลขที่ ๑๒/๓ หมู่ ๔") == "เลขที่ 12/3 หมู่ 4"
    assert to_arabic_digits("") == ""
    assert to_arabic_digits("abc 12") == "abc 12"


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (12500, "12,500"),
        (Decimal("2500000"), "2,500,000"),
        (Decimal("2500000.0"), "2,500,000"),
        (Decimal("1234.5"), "1,234.50"),
        (1234.5, "1,234.50"),
        (Decimal("1234.505"), "1,234.51"),
        (0, "0"),
        (-5, "-5"),
        (Decimal("0.1"), "0.10"),
        (Decimal("1E+3"), "1,000"),
        (Decimal("1" * 40 + ".5"), f"{int('1' * 40):,}.50"),
    ],
)
def test_format_baht(amount: Decimal | int | float, expected: str) -> None:
    assert format_baht(amount) == expected


def test_format_baht_refuses_nan() -> None:
    with pytest.raises(ValueError):
        format_baht(float("nan"))


def test_buddhist_year() -> None:
    assert BE_OFFSET == 543
    assert to_buddhist_year(2025) == 2568


def test_warm_up_runs() -> None:
    warm_up()


def test_vocabulary_is_complete() -> None:
    data = json.loads(files("locales").joinpath("input_vocabulary.json").read_text("utf-8"))
    assert sorted(int(m) for m in data["date"]["months"]) == list(range(1, 13))
    assert sorted(data["number"]["digits"].values()) == list(range(10))
    words = [w for group in ("digits", "multipliers") for w in data["number"][group]]
    assert not set(words) & set(data["number"]["ignore"])


def test_no_thai_in_the_module() -> None:
    source = (ROOT / "handlers" / "thai_input.py").read_text("utf-8")
    assert not re.search(r"[\u0E00-\u0E7F]", source)


# ----------------------------------------------------------------------------- properties

PIECES = [
    "๑", "๒", "๕", "๙", "๐", "0", "1", "5", "9", ",", ".", "-", "/", " ", "+",
    "หนึ่ง", "สอง", "สาม", "ห้า", "เก้า", "ศูนย์", "เอ็ด", "ยี่", "สิบ", "ร้อย", "พัน",
    "หมื่น", "แสน", "ล้าน", "ครึ่ง", "ลบ", "บาท", "ครัวเรือน", "คน", "k",
    "ม.ค.", "มกราคม", "ก.พ.", "พ.ศ.", "ค.ศ.", "วันที่", "วันนี้", "พรุ่งนี้", "เมื่อวาน",
    "jan", "today", "\u200b", "\t", "\n", "😀", "e", "nan",
]
MIXES = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=80), MIXES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, today=st.dates())
def test_public_functions_never_raise(text: str, today: date) -> None:
    normalized = normalize_text(text)
    assert normalized == normalized.strip()
    assert normalize_text(normalized) == normalized
    to_arabic_digits(text)
    number = parse_number(text)
    assert number is None or number.is_finite()
    whole = parse_int(text)
    assert whole is None or whole == number
    parse_date(text, today)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(min_value=0, max_value=10**12 - 1))
def test_agrees_with_pythainlp_words_except_spoken_shorthand(n: int) -> None:
    """num_to_thaiword writes 30005 as "three ten-thousand five", which people read as
    35,000: those numbers (a thousand or more ending in a bare digit 2-9) are left out."""
    from pythainlp.util import num_to_thaiword

    words = num_to_thaiword(n)
    if n >= 1000 and 2 <= n % 1000 <= 9:
        assert parse_number(words) != n
    else:
        assert parse_number(words) == n


@settings(max_examples=150, deadline=None)
@given(n=st.integers(min_value=-(10**9), max_value=10**12), cents=st.integers(0, 99))
def test_formatted_amounts_read_back(n: int, cents: int) -> None:
    amount = Decimal(n) + Decimal(cents) / 100 if n >= 0 else Decimal(n)
    assert parse_number(format_baht(amount)) == amount
    assert parse_number(format_baht(amount) + " บาท") == amount


# --- why a text is not a date or a number (read_date, read_number) ----------------------------

DATE_REASONS: list[tuple[str, str, tuple[int | None, int | None, int | None, int | None]]] = [
    # text, reason, (day of month, month, CE year, days in that month)
    ("31 ก.พ.", DATE_NO_SUCH_DAY, (31, 2, 2025, 28)),  # this year, 2568, has 28
    ("30 ก.พ. 2567", DATE_NO_SUCH_DAY, (30, 2, 2024, 29)),  # 2567 = 2024, a leap year
    ("29 ก.พ. 2566", DATE_NOT_LEAP, (29, 2, 2023, 28)),  # 2566 = 2023 is not
    ("29 ก.พ. 68", DATE_NOT_LEAP, (29, 2, 2025, 28)),
    ("32 ม.ค.", DATE_NO_SUCH_DAY, (32, 1, 2025, 31)),
    ("31 เม.ย.", DATE_NO_SUCH_DAY, (31, 4, 2025, 30)),
    ("31/6/2568", DATE_NO_SUCH_DAY, (31, 6, 2025, 30)),
    ("๓๑/๙/๒๕๖๘", DATE_NO_SUCH_DAY, (31, 9, 2025, 30)),
    ("0/1/2568", DATE_NO_SUCH_DAY, (0, 1, 2025, 31)),
    ("2025-02-30", DATE_NO_SUCH_DAY, (30, 2, 2025, 28)),
    ("1/13/2568", DATE_NO_SUCH_MONTH, (1, 13, 2025, None)),
    ("1/0/2568", DATE_NO_SUCH_MONTH, (1, 0, 2025, None)),
    ("2025-13-01", DATE_NO_SUCH_MONTH, (1, 13, 2025, None)),
    ("1/3/256", DATE_BAD_YEAR, (1, 3, None, None)),
    ("1/3/25680", DATE_BAD_YEAR, (1, 3, None, None)),
    ("15 ม.ค. 2", DATE_BAD_YEAR, (15, 1, None, None)),
    ("1/3/0000", DATE_BAD_YEAR, (1, 3, None, None)),
    ("abc", DATE_UNREADABLE, (None, None, None, None)),
    ("15 บาท", DATE_UNREADABLE, (None, None, None, None)),
    ("1/3-2568", DATE_UNREADABLE, (None, None, None, None)),
    ("", DATE_UNREADABLE, (None, None, None, None)),
    ("Jan 15, 2025", DATE_UNREADABLE, (None, None, None, None)),
]


@pytest.mark.parametrize(("text", "reason", "parts"), DATE_REASONS)
def test_read_date_says_why_it_is_not_a_date(
        text: str, reason: str, parts: tuple[int | None, ...]) -> None:
    reading = read_date(text, TODAY)
    assert reading.day is None
    assert reading.reason == reason
    assert (reading.day_of_month, reading.month, reading.year, reading.month_days) == parts


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_read_date_agrees_with_parse_date(text: str, expected: date | None) -> None:
    reading = read_date(text, TODAY)
    assert reading.day == expected
    assert (reading.reason is None) == (expected is not None)


@pytest.mark.parametrize(("text", "reason"), [
    ("ห้าสิบกว่า", NUMBER_VAGUE),  # "more than fifty"
    ("เกือบร้อย", NUMBER_VAGUE),
    ("หลายคนมาก", NUMBER_VAGUE),
    ("more than 50", NUMBER_VAGUE),
    ("45 ครัวเรือน 3 คน", NUMBER_SEVERAL),
    ("50-60", NUMBER_SEVERAL),
    ("12 500", NUMBER_SEVERAL),
    ("", NUMBER_EMPTY),
    ("\u200b ", NUMBER_EMPTY),
    ("1" * 1000, NUMBER_TOO_LONG),
    ("abc", NUMBER_UNREADABLE),
    ("1,2", NUMBER_UNREADABLE),
    ("🙏", NUMBER_UNREADABLE),
])
def test_read_number_says_why_it_is_not_one_number(text: str, reason: str) -> None:
    reading = read_number(text)
    assert reading.value is None and reading.reason == reason


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_read_number_agrees_with_parse_number(text: str, expected: str | None) -> None:
    reading = read_number(text)
    assert reading.value == (None if expected is None else Decimal(expected))
    assert (reading.reason is None) == (expected is not None)


@pytest.mark.parametrize(("text", "skips"), [
    ("ไม่มี", True), ("ไม่มีครับ", True), ("ไม่มีค่ะ", True), ("ไม่", True), ("ข้าม", True),
    ("ข้ามครับ", True), ("-", True), ("No", True), ("none.", True), ("SKIP", True),
    ("ไม่มีรูป", True), ("ไม่มีรูปครับ", True), (" ไม่มี ", True), ("n/a", True),
    ("ไม่มีปัญหา", False), ("ไม่มีน้ำใช้", False), ("ครับ", False), ("", False),
    ("no water", False), ("0", False), ("ไม่มี" * 20, False),
])
def test_skip_words(text: str, skips: bool) -> None:
    assert is_skip_word(text) is skips


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80))
def test_readings_never_raise_and_agree(text: str) -> None:
    assert read_date(text, TODAY).day == parse_date(text, TODAY)
    assert read_number(text).value == parse_number(text)
    is_skip_word(text)
