"""Numbers and dates as Thai people type them, read into Decimal and date.

All Thai words live in ``locales/input_vocabulary.json``; this file holds none.

pythainlp is imported lazily (its first import is slow) and used where it is right:
``thai_digit_to_arabic_digit``. Its number readers are wrong for spoken Thai
(``thaiword_to_num`` reads "three ten-thousand five" as 30005, not 35,000;
``text_to_num("2.5 <million>")`` drops the multiplier) and ``thai_strptime`` raises
IndexError/KeyError on Thai digits and '/', so numbers and dates are read by the small
parsers below. Their number reading agrees with ``pythainlp.util.num_to_thaiword`` except
for the spoken shorthand (see ``parse_number``); the tests check that.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache
from importlib.resources import files
from typing import Any, Literal

BE_OFFSET = 543
MAX_NUMBER_INPUT = 120  # characters after normalizing; longer text is not "one number"
MAX_DATE_INPUT = 60
_BE_THRESHOLD = 2400  # a four-digit year at or above this is Buddhist Era, below it CE
_SHORT_BE_CENTURY = 2500  # "68" is B.E. 2568
_SHORT_CE_CENTURY = 2000  # "C.E. 25" is 2025
_SPOKEN_FROM = Decimal(1000)  # "<digit><thousand><digit>" and up: the last digit is the next unit
_HALF_FROM = Decimal(100)  # "<hundred><half>" = 150; "<ten><half>" is not a number
_MILLION = Decimal(1_000_000)
_BARE_DIGITS = frozenset(Decimal(d) for d in range(1, 10))
_PRECISION = 400

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff\u2060"))
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_LITERAL = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_NUMERIC_DATE = re.compile(
    r"([0-9]{1,2}) ?([/.\-]) ?([0-9]{1,2})(?: ?\2 ?([0-9]{4}|[0-9]{2}))?"
)
_NAMED_DATE = re.compile(r"([0-9]{1,2}) ?([^0-9]+?) ?([0-9]{4}|[0-9]{2})?")
# The same shapes with a year of any length: to say that a year needs 2 or 4 digits.
_NUMERIC_ANY_YEAR = re.compile(r"([0-9]{1,2}) ?([/.\-]) ?([0-9]{1,2}) ?\2 ?([0-9]+)")
_NAMED_ANY_YEAR = re.compile(r"([0-9]{1,2}) ?([^0-9]+?) ?([0-9]+)")
_DIGIT_RUN = re.compile(r"[0-9]+(?:[.,][0-9]+)*")
_MONTH_KEY_DROP = dict.fromkeys(map(ord, " .,-/"))
_MINUS_SIGNS = dict.fromkeys(map(ord, "\u2212\u2013\uff0d"), "-")

Era = Literal["be", "ce"] | None


# ----------------------------------------------------------------------------- pythainlp


def _offline_environment() -> None:
    os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")


@cache
def _thai_digit_converter() -> Callable[[str], str]:
    _offline_environment()
    from pythainlp.util import thai_digit_to_arabic_digit

    return thai_digit_to_arabic_digit


def warm_up() -> None:
    """Import pythainlp and load the vocabulary once (the app calls this in a thread)."""
    _thai_digit_converter()("\u0e51")
    _vocabulary()
    parse_number("1")
    parse_date("1/1/2568", date(2025, 1, 1))


# ----------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class _Vocabulary:
    number_words: dict[str, tuple[str, Decimal]]  # word -> (kind, value)
    longest_number_word: int
    months: dict[str, int]  # key without dots/spaces/commas, case-folded -> 1..12
    relative: dict[str, int]  # key without spaces -> days from today
    era_be: tuple[str, ...]
    era_ce: tuple[str, ...]
    prefixes: tuple[str, ...]  # longest first
    vague: tuple[str, ...]  # "more than", "almost", "many": a count that is not one number
    skip_words: frozenset[str]  # "none", "no", "skip": an optional question left out
    skip_particles: tuple[str, ...]  # polite endings that may follow a skip word


def _key(word: str) -> str:
    return word.casefold().translate(_MONTH_KEY_DROP)


def _number_words(data: dict[str, Any]) -> dict[str, tuple[str, Decimal]]:
    words: dict[str, tuple[str, Decimal]] = {}
    for word in data["ignore"]:
        words[word.casefold()] = ("ignore", Decimal(0))
    for word in data["negative"]:
        words[word] = ("sign", Decimal(-1))
    for word, value in data["digits"].items():
        words[word] = ("digit", Decimal(value))
    for word, value in data["multipliers"].items():
        words[word.casefold()] = ("mult", Decimal(value))
    for word, value in data["multipliers_after_a_number"].items():
        words[word.casefold()] = ("suffix", Decimal(value))  # "12k" yes, "k" alone no
    for kind in ("ed", "yi", "half"):
        for word in data[kind]:
            words[word] = (kind, Decimal(0))
    return words


@cache
def _vocabulary() -> _Vocabulary:
    raw = files("locales").joinpath("input_vocabulary.json").read_text("utf-8")
    data = json.loads(raw)
    numbers = _number_words(data["number"])
    dates = data["date"]
    months = {_key(name): int(month) for month, names in dates["months"].items() for name in names}
    return _Vocabulary(
        number_words=numbers,
        longest_number_word=max(map(len, numbers)),
        months=months,
        relative={_key(word): int(days) for word, days in dates["relative"].items()},
        era_be=tuple(_key(word) for word in dates["era_be"]),
        era_ce=tuple(_key(word) for word in dates["era_ce"]),
        prefixes=tuple(sorted((p.casefold() for p in dates["prefixes"]), key=len, reverse=True)),
        vague=tuple(word.casefold() for word in data["number"]["vague"]),
        skip_words=frozenset(word.casefold() for word in data["skip"]["words"]),
        skip_particles=tuple(sorted((p.casefold() for p in data["skip"]["particles"]),
                                    key=len, reverse=True)),
    )


# ----------------------------------------------------------------------------- text


def normalize_text(text: str) -> str:
    """NFC; drop zero-width and control characters (newlines stay); one space for each run
    of spaces/tabs (no space next to a newline); strip. Thai digits are kept as they are."""
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) != "Cc")
    text = _SPACES.sub(" ", text)
    return _SPACE_AROUND_NEWLINE.sub("\n", text).strip()


def to_arabic_digits(text: str) -> str:
    """Thai digits to 0-9; nothing else changes."""
    if not isinstance(text, str):
        return ""
    return _thai_digit_converter()(text)


def _ascii_digits(text: str) -> str:
    """Any Unicode decimal digit (Thai, full-width, ...) to 0-9."""
    text = to_arabic_digits(text)
    return "".join(
        str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch for ch in text
    )


def _prepare(text: str, limit: int) -> str | None:
    """Normalized, ASCII digits, case-folded, one line; None when empty or too long."""
    if not isinstance(text, str) or len(text) > limit * 4:
        return None
    text = normalize_text(text).replace("\n", " ")
    text = _ascii_digits(text).translate(_MINUS_SIGNS).casefold()
    return text if 0 < len(text) <= limit else None


def to_buddhist_year(ce_year: int) -> int:
    return ce_year + BE_OFFSET


def format_baht(amount: Decimal | int | float) -> str:
    """'12,500', '2,500,000'; '1,234.50' when not integral (two decimals, half up).
    Raises ValueError for NaN or infinity."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    if value == value.to_integral_value():
        return f"{int(value):,}"
    with localcontext() as context:
        context.prec = max(context.prec, value.adjusted() + 4)  # room for the two decimals
        return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


# ----------------------------------------------------------------------------- numbers

Token = tuple[str, Decimal]


def _tokens(text: str) -> list[Token] | None:
    """Split into literals, vocabulary words and signs; None if anything else is there."""
    vocab = _vocabulary()

    @cache
    def split(start: int) -> tuple[Token, ...] | None:
        if start == len(text):
            return ()
        if text[start] == " ":
            return split(start + 1)
        literal = _LITERAL.match(text, start)
        if literal:
            rest = split(literal.end())
            value = Decimal(literal.group().replace(",", ""))
            return None if rest is None else (("literal", value), *rest)
        if text[start] in "+-":
            rest = split(start + 1)
            sign = Decimal(-1 if text[start] == "-" else 1)
            return None if rest is None else (("sign", sign), *rest)
        return split_word(start)

    def split_word(start: int) -> tuple[Token, ...] | None:
        longest = min(vocab.longest_number_word, len(text) - start)
        for end in range(start + longest, start, -1):
            word = vocab.number_words.get(text[start:end])
            if word is not None:
                rest = split(end)
                if rest is not None:
                    return (word, *rest)
        return None

    result = split(0)
    return None if result is None else list(result)


def _number_part(tokens: list[Token]) -> tuple[Decimal, list[Token]] | None:
    """(sign, the number's tokens): ignorable words only around, a sign only in front."""
    kinds = [kind for kind, _ in tokens]
    start = 0
    while start < len(kinds) and kinds[start] == "ignore":
        start += 1
    sign = Decimal(1)
    if start < len(kinds) and kinds[start] == "sign":
        sign = tokens[start][1]
        start += 1
    end = len(kinds)
    while end > start and kinds[end - 1] == "ignore":
        end -= 1
    body = tokens[start:end]
    if not body or any(kind in ("ignore", "sign") for kind, _ in body):
        return None
    return sign, body


class _NotANumber(Exception):
    pass


class _Reader:
    """Reads number tokens left to right, Thai style: digits before multipliers, groups of
    up to a million, the million word multiplying everything before it."""

    def __init__(self) -> None:
        self.total = Decimal(0)  # whole millions read so far (already multiplied)
        self.group = Decimal(0)  # the part below a million
        self.pending: Decimal | None = None  # a digit waiting for its multiplier
        self.pending_kind = ""
        self.smallest: Decimal | None = None  # smallest multiplier used in this group
        self.seen_million = False
        self.previous: Token | None = None
        self.after_multiplier: Decimal | None = None  # the multiplier right before `pending`
        self.closed = False  # after "<multiplier> half" nothing more may come

    def feed(self, token: Token) -> None:
        kind, value = token
        if self.closed:
            raise _NotANumber
        if self.pending_kind == "yi" and not (kind == "mult" and value == 10):
            raise _NotANumber
        if kind == "suffix":
            if self.pending is None:
                raise _NotANumber
            kind, token = "mult", ("mult", value)
        if kind in ("digit", "literal"):
            self._digit(value, kind)
        elif kind == "yi":
            self._digit(Decimal(2), kind)
        elif kind == "ed":
            self._ed()
        elif kind == "half":
            self._half()
        elif value >= _MILLION:
            self._million(value)
        else:
            self._multiplier(value)
        self.previous = token

    def _digit(self, value: Decimal, kind: str) -> None:
        if self.pending is not None:
            raise _NotANumber
        self.pending, self.pending_kind = value, kind
        previous = self.previous
        self.after_multiplier = previous[1] if previous and previous[0] == "mult" else None

    def _ed(self) -> None:
        if self.pending is not None or self.previous is None or self.previous[0] != "mult":
            raise _NotANumber
        self.pending, self.pending_kind = Decimal(1), "ed"

    def _half(self) -> None:
        previous = self.previous
        if previous is not None and previous[0] == "mult":
            if previous[1] < _HALF_FROM:
                raise _NotANumber
            if previous[1] >= _MILLION:
                self.total += previous[1] / 2
            else:
                self.group += previous[1] / 2
            self.closed = True
        elif self.pending is None:
            self.pending, self.pending_kind = Decimal("0.5"), "half"
        elif self.pending_kind in ("digit", "literal") and self.pending == int(self.pending):
            self.pending += Decimal("0.5")
            self.pending_kind = "half"
        else:
            raise _NotANumber

    def _multiplier(self, value: Decimal) -> None:
        if self.smallest is not None and value >= self.smallest:
            raise _NotANumber
        self.group += (Decimal(1) if self.pending is None else self.pending) * value
        self.pending, self.pending_kind, self.smallest = None, "", value

    def _million(self, value: Decimal) -> None:
        if self.pending is None and self.smallest is None:
            # nothing in this group: a bare "million", or "million million"
            self.total = self.total * value if self.seen_million else value
        elif self.seen_million:
            raise _NotANumber  # "1 million 2 million"
        else:
            self.total = (self.group + (self.pending or 0)) * value
        self.group, self.pending, self.pending_kind, self.smallest = Decimal(0), None, "", None
        self.seen_million = True

    def result(self) -> Decimal:
        if self.pending_kind == "yi":
            raise _NotANumber
        if self.pending is not None:
            self.group += self._last_digit(self.pending)
        return self.total + self.group

    def _last_digit(self, value: Decimal) -> Decimal:
        previous = self.after_multiplier
        spoken = self.pending_kind in ("digit", "literal") and value in _BARE_DIGITS
        if spoken and previous is not None and previous >= _SPOKEN_FROM:
            return value * previous / 10  # spoken shorthand: "thirty-thousand five" = 35,000
        floor = self.smallest if self.smallest is not None else previous
        if floor is not None and value >= floor:
            raise _NotANumber  # "300 and then 500"
        return value


def _read(body: list[Token]) -> Decimal:
    reader = _Reader()
    for token in body:
        reader.feed(token)
    return reader.result()


# Why a text is not one number (NumberReading.reason).
NUMBER_EMPTY = "empty"
NUMBER_TOO_LONG = "too_long"
NUMBER_VAGUE = "vague"  # "more than fifty", "almost", "many": not one number
NUMBER_SEVERAL = "several"  # "45 households 3 people", "50-60": more than one number
NUMBER_UNREADABLE = "unreadable"


@dataclass(frozen=True)
class NumberReading:
    """A typed number as read: its value, or None and why (one of the NUMBER_ reasons)."""

    value: Decimal | None
    reason: str | None = None


def read_number(text: str) -> NumberReading:
    """`parse_number`, saying why when the text is not one number."""
    value = parse_number(text)
    if value is not None:
        return NumberReading(value)
    return NumberReading(None, _why_not_a_number(text))


def _why_not_a_number(text: str) -> str:
    if not isinstance(text, str) or not normalize_text(text):
        return NUMBER_EMPTY
    prepared = _prepare(text, MAX_NUMBER_INPUT)
    if prepared is None:
        return NUMBER_TOO_LONG
    if any(word in prepared for word in _vocabulary().vague if not word.isascii()) or any(
            word in prepared.split() for word in _vocabulary().vague if word.isascii()):
        return NUMBER_VAGUE
    if len(_DIGIT_RUN.findall(prepared)) > 1:
        return NUMBER_SEVERAL
    return NUMBER_UNREADABLE


def parse_number(text: str) -> Decimal | None:
    """One number typed by a person, or None (`read_number` also says why).

    Reads Arabic and Thai digits (any Unicode decimal digit), thousands separators that
    group by three ("1,200"; "1,2" and "1,2,3,4" are None), decimals ("2.5"), a leading
    sign ("-5", or the Thai word for minus), Thai number words, and digits or words followed
    by multiplier words ("2.5 <million>" = 2,500,000, "3 <ten-thousand>" = 30,000, "12k" =
    12,000).
    Unit words, particles and "about" words listed in the vocabulary may stand before or
    after the number and are ignored.

    Odd cases, decided:
    - Spoken shorthand: a bare digit right after a multiplier of a thousand or more means
      the next lower unit ("thirty-thousand five" = 35,000; "one-million two" = 1,200,000;
      also "3 <ten-thousand> 5"). After a hundred it is read literally (105), as pythainlp
      and formal Thai write it; the word for "one" in final position (ed) is always literal.
    - "half" after a multiplier of a hundred or more adds half of it ("<million> half" =
      1,500,000); after a digit it adds 0.5 ("two half" = 2.5); alone it is 0.5 and may be
      multiplied ("half <million>" = 500,000).
    - Two numbers ("1 2", "12 500", "45 <households> 3 <people>"), any unknown word or letter
      ("12abc", "1e400", "nan", "inf"), the Thai word "point" (jor-dot, unsupported), and
      "more than"/"almost" words give None rather than a guess.
    - Multipliers must fall within a group ("<hundred><thousand>" is None); a trailing number
      must be smaller than the multiplier before it ("300 then 500" is None).
    - Text longer than MAX_NUMBER_INPUT characters gives None.
    The result is exact (Decimal); integral results carry no exponent or fraction digits.
    """
    prepared = _prepare(text, MAX_NUMBER_INPUT)
    tokens = _tokens(prepared) if prepared is not None else None
    part = _number_part(tokens) if tokens else None
    if part is None:
        return None
    sign, body = part
    with localcontext() as context:
        context.prec = _PRECISION
        try:
            value = sign * _read(body)
        except _NotANumber:
            return None
        return Decimal(int(value)) if value == value.to_integral_value() else value


def parse_int(text: str) -> int | None:
    """parse_number, when the number is whole ("2.0" is 2; "2.5" is None)."""
    value = parse_number(text)
    if value is None or value != value.to_integral_value():
        return None
    return int(value)


# ----------------------------------------------------------------------------- dates


def _relative_date(text: str, today: date) -> date | None:
    days = _vocabulary().relative.get(_key(text))
    return None if days is None else today + timedelta(days=days)


def _without_prefix(text: str) -> str:
    for prefix in _vocabulary().prefixes:
        rest = text[len(prefix) :].lstrip()
        if text.startswith(prefix) and rest[:1].isdigit():
            return rest
    return text


def _year(digits: str | None, era: Era, today: date) -> int | None:
    """The CE year: none is this year; two digits are short B.E. (68 -> 2568) unless marked
    C.E.; four digits are B.E. from 2400 up, C.E. below, unless an era word says which."""
    if digits is None:
        return None if era else today.year
    year = int(digits)
    if len(digits) == 2:
        return year + _SHORT_CE_CENTURY if era == "ce" else year + _SHORT_BE_CENTURY - BE_OFFSET
    if era == "be" or (era is None and year >= _BE_THRESHOLD):
        return year - BE_OFFSET
    return year


def _month_and_era(words: str) -> tuple[int, Era] | None:
    vocab = _vocabulary()
    key = _key(words)
    era: Era = None
    markers: list[tuple[str, Era]] = [(m, "be") for m in vocab.era_be]
    markers += [(m, "ce") for m in vocab.era_ce]
    for marker, name in markers:
        if key.endswith(marker) and len(key) > len(marker):
            key, era = key[: -len(marker)], name
            break
    month = vocab.months.get(key)
    return None if month is None else (month, era)


# Why a text is not a date (DateReading.reason).
DATE_UNREADABLE = "unreadable"
DATE_NO_SUCH_DAY = "no_such_day"  # "31 Feb", "32 Jan", "31 Apr", "0 Jan"
DATE_NOT_LEAP = "not_leap_year"  # "29 Feb" in a year without one
DATE_NO_SUCH_MONTH = "no_such_month"  # "1/13/2568"
DATE_BAD_YEAR = "bad_year"  # a year of 1, 3 or more than 4 digits, or year 0


@dataclass(frozen=True)
class DateReading:
    """A typed date as read: the day, or None and why (one of the DATE_ reasons), with
    what was understood of it: the day of the month and the month as typed, the year
    (Christian Era) and how many days that month has."""

    day: date | None
    reason: str | None = None
    day_of_month: int | None = None
    month: int | None = None
    year: int | None = None
    month_days: int | None = None


_UNREADABLE = DateReading(None, DATE_UNREADABLE)


def _make_date(year: int | None, month: int, day: int) -> DateReading:
    if year is None:
        return _UNREADABLE
    if not 1 <= month <= 12:
        return DateReading(None, DATE_NO_SUCH_MONTH, day, month, year)
    if not date.min.year <= year <= date.max.year:
        return DateReading(None, DATE_BAD_YEAR, day, month)
    length = calendar.monthrange(year, month)[1]
    if 1 <= day <= length:
        return DateReading(date(year, month, day))
    reason = DATE_NOT_LEAP if (month, day) == (2, 29) else DATE_NO_SUCH_DAY
    return DateReading(None, reason, day, month, year, length)


def _absolute_date(text: str, today: date) -> DateReading:
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
        return _make_date(_year(year, None, today), int(month), int(day))
    if match := _NUMERIC_DATE.fullmatch(text):
        day, _, month, year = match.groups()
        return _make_date(_year(year, None, today), int(month), int(day))
    if match := _NAMED_DATE.fullmatch(text):
        day, words, year = match.groups()
        month_era = _month_and_era(words)
        if month_era is None:
            return _UNREADABLE
        return _make_date(_year(year, month_era[1], today), month_era[0], int(day))
    return _bad_year(text)


def _bad_year(text: str) -> DateReading:
    """A day and a month that are fine, with a year that has the wrong number of digits."""
    if match := _NUMERIC_ANY_YEAR.fullmatch(text):
        day, _, month, _year_digits = match.groups()
        if 1 <= int(month) <= 12:
            return DateReading(None, DATE_BAD_YEAR, int(day), int(month))
    elif (match := _NAMED_ANY_YEAR.fullmatch(text)) and (
            month_era := _month_and_era(match.group(2))):
        return DateReading(None, DATE_BAD_YEAR, int(match.group(1)), month_era[0])
    return _UNREADABLE


def parse_date(text: str, today: date) -> date | None:
    """A date typed by a person, or None (`read_date` also says why). Never raises.

    - Relative words from the vocabulary: today, tomorrow, the day after, yesterday, the
      day before yesterday (Thai and English), counted from `today`.
    - Day first, always (Thai convention): "15 <Jan> 68", "15 <January> 2568", "1/3/2568",
      "01/03/68", "1-3-2568", "1.3.2568" (one separator throughout), "15-jan-2025". Month
      names: Thai full, short ("<Jan>" without the -kom ending) and abbreviated, with or
      without dots, and English full or three-letter names. "<month> 15" and "Jan 15, 2025"
      are None. An optional "date" prefix word ("on") is skipped.
    - ISO "2025-03-01" (year first).
    - Years: none is this year (also for "1/3"); two digits are short B.E. ("68" = 2568,
      also after English month names); four digits are B.E. from 2400 up, C.E. below; a
      B.E./C.E. era word before the year decides instead ("C.E. 25" = 2025).
    - Impossible dates ("31 <Feb> 68", "0/1/2568", "1/13/2568") and 1- or 3-digit years
      are None. Range checks (past/future) are the caller's job.
    """
    return read_date(text, today).day


def read_date(text: str, today: date) -> DateReading:
    """`parse_date`, saying why when the text is not a date ("31 <Feb>": February has no
    31st; "29 <Feb> 2566": not a leap year; "1/13/2568": no 13th month). Never raises."""
    if isinstance(today, datetime):
        today = today.date()
    prepared = _prepare(text, MAX_DATE_INPUT) if isinstance(today, date) else None
    if prepared is None:
        return _UNREADABLE
    try:
        relative = _relative_date(prepared, today)
        if relative is not None:
            return DateReading(relative)
        return _absolute_date(_without_prefix(prepared), today)
    except OverflowError:  # today +- days past date.min/date.max
        return _UNREADABLE


def is_skip_word(text: str) -> bool:
    """Whether a person typed "none", "no", "skip" (or the like, with a polite ending)
    to leave out an optional question."""
    if not isinstance(text, str) or len(text) > 40:
        return False
    typed = normalize_text(text).casefold().rstrip(" .!")
    vocab = _vocabulary()
    for particle in vocab.skip_particles:
        if typed.endswith(particle) and len(typed) > len(particle):
            typed = typed[: -len(particle)].rstrip(" .!")
            break
    return typed in vocab.skip_words
