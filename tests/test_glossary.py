"""One name for each thing, polite particles, spacing: every user-visible string checked
against locales/glossary.json.

What is checked (each failure names the file, the key and the rule, so whoever added the
string can fix it):

- **Variants**: no string uses a variant the glossary forbids for its language (e.g. the
  tambon core team is กลุ่มแกนระดับตำบล, never ทีมแกน, กลุ่มแกนตำบล, ทีมงานตำบล, ทีมแกนตำบล).
  Checked: every value of locales/th*.json, locales/th/*.json, locales/en*.json,
  locales/en/*.json; the category labels in locales/problem_categories.json; the texts a
  person is shown in locales/intents.json (its "label", "reply" and "text" fields: its
  phrase lists are what people type, variants included on purpose); the demo tambon's
  names (storage/data/demo.json), which the console demo shows.
- **Spacing**: a term the glossary marks "spaced" (อบต.) has no Thai letter right before or
  after it; no line has two spaces in a row (indentation at the start of a line is
  allowed); ครับ never follows a space after a Thai letter ("ทำ ครับ").
- **Particles** (Thai): each key is a message, a terminal line, a fragment or a label by
  the patterns in glossary.json "politeness" (first match in that order; a key matching
  none is a message):
  - a label (button, title, name, column) never contains ครับ;
  - a fragment (a piece of another string) never ends with ครับ;
  - a message carries ครับ at the end of one of its sentences (followed by the end of
    the text, a space, a newline, a parenthesis, a quote or . ! ?), unless it ends with a
    list, a placeholder or examples. Read precisely: the lines after the first that hold
    a placeholder or start with a bullet (•, -, ↳) are data lines; trailing data lines are
    set aside, and if one of them is a placeholder alone ("{lines}") the message ends with
    a list. Of what is left, the last line is the message's end: it ends with a
    placeholder when its last character is "}", with examples when it contains เช่น and
    the examples run to the end (no ")" after the last เช่น). So 'ส่งรูปถ่ายได้ หรือกด
    "ข้าม"' fails and 'ส่งรูปถ่ายได้ หรือกด "ข้าม" ครับ' passes; "ปัญหาเรื่องอะไรครับ
    เลือกประเภท" passes (the question carries it; the instruction after it needs no
    second one).
  - ครับ is written onto the word before it ("แล้วครับ"), with a space only after a number,
    a placeholder, a quote, a parenthesis or ๆ.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.turn import Listing, Localized, render

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
GLOSSARY = json.loads((LOCALES / "glossary.json").read_text("utf-8"))
THAI_LETTER = "[\u0e01-\u0e4e]"
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
BULLETS = ("•", "-", "↳")
DOUBLE_SPACE = re.compile(r"(?<=\S) {2,}")
SPACE_BEFORE_PARTICLE = re.compile("[\u0e01-\u0e45\u0e47-\u0e4e] ครับ")  # not after ๆ


def _catalog_files(language: str) -> list[Path]:
    return sorted([*LOCALES.glob(f"{language}*.json"), *(LOCALES / language).glob("*.json")])


def strings(language: str) -> Iterator[tuple[str, str, str]]:
    """(where, key, text) for every user-visible string in `language`."""
    for path in _catalog_files(language):
        for key, value in json.loads(path.read_text("utf-8")).items():
            yield str(path.relative_to(ROOT)), key, value
    categories = json.loads((LOCALES / "problem_categories.json").read_text("utf-8"))
    for category in categories["categories"]:
        label = category["label"].get(language)
        if label:
            yield "locales/problem_categories.json", f"{category['key']}.label", label
    intents = LOCALES / "intents.json"
    if intents.exists():
        yield from _shown_in(json.loads(intents.read_text("utf-8")), language,
                             "locales/intents.json", "")
    demo = json.loads((ROOT / "storage/data/demo.json").read_text("utf-8"))
    for i, person in enumerate(demo["people"]):
        if language == "th":
            yield "storage/data/demo.json", f"people[{i}].name", person["name"]
    for i, village in enumerate(demo["villages"]):
        yield "storage/data/demo.json", f"villages[{i}].name_{language}", village[
            f"name_{language}"]


def _shown_in(node: object, language: str, where: str, path: str
              ) -> Iterator[tuple[str, str, str]]:
    """The fields of intents.json a person is shown (never the phrases people type)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("label", "reply", "text") and isinstance(value, dict):
                if isinstance(value.get(language), str):
                    yield where, f"{path}{key}.{language}", value[language]
            elif key in ("label", "reply", "text") and isinstance(value, str):
                if language == "th":
                    yield where, f"{path}{key}", value
            else:
                yield from _shown_in(value, language, where, f"{path}{key}.")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _shown_in(value, language, where, f"{path}[{i}].")


def _forbidden(language: str) -> list[tuple[re.Pattern[str], str, dict[str, str]]]:
    found = []
    for term in GLOSSARY["terms"]:
        for entry in term["forbidden"].get(language, []):
            flags = re.IGNORECASE if language == "en" else 0
            pattern = (re.compile(entry.removeprefix("re:"), flags) if entry.startswith("re:")
                       else re.compile(re.escape(entry), flags))
            found.append((pattern, entry, term))
    return found


@pytest.mark.parametrize("language", ["th", "en"])
def test_no_string_uses_a_forbidden_variant(language: str) -> None:
    problems = []
    for where, key, text in strings(language):
        for pattern, entry, term in _forbidden(language):
            if match := pattern.search(text):
                problems.append(
                    f"{where} {key}: {text!r} uses {match.group()!r} (forbidden {entry!r}), a"
                    f" variant of {term['key']}: write {term[language]!r}")
    assert problems == [], "\n" + "\n".join(problems)


def test_spaced_terms_are_apart_from_thai_words() -> None:
    problems = []
    for term in GLOSSARY["spaced"]["th"]:
        glued = re.compile(f"{THAI_LETTER}{re.escape(term)}|{re.escape(term)}{THAI_LETTER}")
        for where, key, text in strings("th"):
            if match := glued.search(text):
                problems.append(f"{where} {key}: {text!r} has {match.group()!r}: put a space"
                                f" between {term!r} and the Thai word next to it")
    assert problems == [], "\n" + "\n".join(problems)


@pytest.mark.parametrize("language", ["th", "en"])
def test_no_double_spaces(language: str) -> None:
    problems = [f"{where} {key}: {text!r} has two spaces in a row"
                for where, key, text in strings(language)
                if any(DOUBLE_SPACE.search(line) for line in text.split("\n"))]
    problems += [f"{where} {key}: {text!r} has a space between a Thai word and ครับ"
                 for where, key, text in strings(language) if SPACE_BEFORE_PARTICLE.search(text)]
    assert problems == [], "\n" + "\n".join(problems)


def kind_of(key: str) -> str:
    rules = GLOSSARY["politeness"]
    for kind, patterns in (("message", rules["messages"]), ("terminal", rules["terminal"]),
                           ("fragment", rules["fragments"]), ("label", rules["labels"])):
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns):
            return kind
    return "message"


def message_problem(text: str, particle: str) -> str | None:
    """Why a message is not polite (see the module's docstring), or None."""
    if re.search(re.escape(particle) + r"(?=$|[\s()\"'.!?])", text):
        return None
    lines = text.rstrip().split("\n")
    set_aside = []
    while len(lines) > 1 and (PLACEHOLDER.search(lines[-1])
                              or lines[-1].lstrip().startswith(BULLETS)):
        set_aside.append(lines.pop())
    if any(PLACEHOLDER.fullmatch(line.strip()) for line in set_aside):
        return None  # ends with a list
    end = lines[-1].rstrip()
    if end.endswith("}"):
        return None  # ends with a placeholder
    if "เช่น" in end and ")" not in end.rsplit("เช่น", 1)[1]:
        return None  # ends with examples, which run to its end
    return (f"has no {particle} (its end: {end[-40:]!r}); a message to the person carries"
            f" {particle} at the end of a sentence (after a quoted button label too:"
            f" 'กด \"ข้าม\" {particle}'); if it is a label or a fragment, add a pattern for"
            f" its key to locales/glossary.json politeness")


def test_polite_particles() -> None:
    particle = GLOSSARY["politeness"]["particle"]["th"]
    problems = []
    for where, key, text in strings("th"):
        if not where.startswith("locales/th"):
            continue
        kind = kind_of(key)
        if kind == "label" and particle in text:
            problems.append(f"{where} {key}: {text!r} is a label (button, title, name) and"
                            f" carries {particle}: labels never do")
        elif kind == "fragment" and text.rstrip().endswith(particle):
            problems.append(f"{where} {key}: {text!r} is a fragment and ends with {particle}:"
                            f" the sentence it goes into carries it")
        elif kind == "message" and (why := message_problem(text, particle)):
            problems.append(f"{where} {key}: {text!r} {why}")
    assert problems == [], "\n" + "\n".join(problems)


def test_the_rule_reads_messages_as_described() -> None:
    """The particle rule on examples of each case, so that it is what the docstring says."""
    ok = ["บันทึกแล้วครับ", "มีกี่ครัวเรือนครับ (พิมพ์ตัวเลข)", 'หรือกด "ข้าม" ครับ',
          "รายงานล่าสุดของหมู่บ้าน\n{lines}", "ยินดีต้อนรับ {name}",
          "พิมพ์จำนวน เช่น 45 หรือ ๔๕", "ตรวจสอบก่อนบันทึกครับ\nหมู่บ้าน: {village}",
          "ปัญหาเรื่องอะไรครับ เลือกประเภท", "พิมพ์ (ถ้ามี) เช่น 45, ๔๕ หรือ สี่สิบห้า"]
    bad = ["บันทึกแล้ว", 'ส่งรูปถ่ายได้ หรือกด "ข้าม"', "ตรวจสอบก่อนส่ง\nผลการตรวจ: {verdict}",
           "มีคำขอรอ {count} เรื่อง", "ขอบคุณครับผม ลาก่อน",
           'หมายเหตุ (เช่น เหตุผล) พิมพ์ได้เลย หรือกด "ข้าม"']
    assert [text for text in ok if message_problem(text, "ครับ")] == []
    assert [text for text in bad if not message_problem(text, "ครับ")] == []
    assert kind_of("report.ask_photo") == "message" and kind_of("report.edit.photo") == "label"
    assert kind_of("delivery.reached") == "fragment" and kind_of("brand.new.key") == "message"


ROLES = ("core_team", "tao", "district", "village_committee")


@pytest.mark.parametrize("language", ["th", "en"])
def test_composed_lists_keep_their_spacing(language: str) -> None:
    """Whom a submission reached, in every order and number of roles: "ส่งถึง อบต. แล้ว",
    "กลุ่มแกนระดับตำบล, อบต. และอำเภอ", never "ส่งถึงอบต.แล้ว" or two spaces."""
    glued = re.compile(f"{THAI_LETTER}อบต\\.|อบต\\.{THAI_LETTER}")
    for count in range(1, len(ROLES) + 1):
        for start in range(len(ROLES)):
            roles = [ROLES[(start + i) % len(ROLES)] for i in range(count)]
            who = Listing(tuple(Localized(f"delivery.to.{role}") for role in roles))
            missing = Listing(tuple(Localized(f"delivery.role.{role}") for role in roles),
                              "list.or")
            for key in ("delivery.reached", "delivery.partly", "delivery.nobody.district"):
                text = render(language, key, {"who": who, "missing": missing})
                assert not DOUBLE_SPACE.search(text), (roles, text)
                assert not glued.search(text), (roles, text)
                assert " ," not in text, (roles, text)
