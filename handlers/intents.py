"""What a person means by free text or a photo sent at the menu (outside any question).

Nothing a person sends is dropped: every message gets an answer, and the menu with it.

- A photo or a shared location from a village committee member starts a problem report
  with it attached (handlers/flows/problem_report.py reads it from `_opening`).
- Text is split into words by pythainlp (the tokenizer of handlers/category_suggestion.py)
  and read against the phrase lists of locales/intents.json (data, not code): a greeting,
  a question or a cry for help, thanks, the wish to report, filler (polite particles, 555,
  ok). What is left once those are taken out is the text's content. A content long enough
  to describe something (intents.json `description`), or one that names a problem or a
  category, is a problem: a village committee member's starts a report with it.
- Deleting, cancelling, approving or changing anything is never guessed from free text:
  no intent does any of it, and a sentence that opens with such a command word is not
  taken as a problem's description either (the person is told it was not understood).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from handlers.category_suggestion import (
    category_named_in,
    is_greeting_or_test,
    rank,
    suggest,
    tokens,
)
from handlers.permissions import Role, areas_with_role
from handlers.thai_input import normalize_text
from handlers.turn import Answer, Turn, label_key
from locales import LANGUAGES, catalog, intent_words

if TYPE_CHECKING:
    from handlers.engine import Engine

SHORT = "short"  # nothing to read: a letter, digits (555), emoji, only filler words
PROBLEM = "problem"  # describes or names a problem
REPORT = "report"  # wants to report, without saying what
HELP = "help"  # a question or a cry for help
GREETING = "greeting"  # a greeting or a test
THANKS = "thanks"
UNCLEAR = "unclear"  # words, but none of the above (or a command, never guessed)

READ_MAX = 2000  # characters read of a long paste
CATEGORY_WORD = 1.0  # a category's score (category_suggestion.rank) from one of its words
_THAI = re.compile(r"[\u0e00-\u0e7f]")
_RUNS = re.compile(r"[\u0e00-\u0e7f]+|[^\W\u0e00-\u0e7f]+|[^\w\s]")
_META = ("greeting", "help", "thanks", "report", "filler")


@dataclass(frozen=True)
class Reading:
    intent: str
    described: bool = False  # the content is long enough to be a problem's description
    category: str | None = None  # the category the content suggests
    content: tuple[str, ...] = field(default=())  # the words left without the meta words


@cache
def _phrases() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each list's phrases as runs of words, split as the text is split; longest first."""
    found: dict[str, tuple[tuple[str, ...], ...]] = {}
    for name, phrases in intent_words()["phrases"].items():
        runs = {tuple(_words(p)) for p in phrases}
        found[name] = tuple(sorted((r for r in runs if r), key=len, reverse=True))
    return found


def _limits() -> tuple[int, int]:
    description = intent_words()["description"]
    return int(description["min_chars"]), int(description["min_words"])


@cache
def _phrases_by_first_word(name: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for run in _phrases()[name]:
        if run:
            by_first.setdefault(run[0], []).append(run)
    return {first: tuple(runs) for first, runs in by_first.items()}


def _matches(words: list[str], name: str) -> set[int]:
    """The positions of `words` covered by a phrase of the list `name`."""
    covered: set[int] = set()
    phrases = _phrases_by_first_word(name)
    for start, word in enumerate(words):
        for run in phrases.get(word, ()):
            if tuple(words[start:start + len(run)]) == run:
                covered.update(range(start, start + len(run)))
    return covered


def _has_category_word(text: str) -> bool:
    """A word of some category, even where no category is sure (a flood that also ruined
    the rice): the text is about a problem."""
    ranked = rank(text)
    return bool(ranked) and ranked[0][1] >= CATEGORY_WORD


def _opening_greeting(words: list[str], greeting: set[int], filler: set[int]) -> set[int]:
    """The greeting words that open the text (after filler): "good" greets at the start,
    not in "the system is not good"."""
    kept: set[int] = set()
    for i in range(len(words)):
        if i in greeting:
            kept.add(i)
        elif i not in filler:
            break
    return kept


def _letters(text: str) -> int:
    return sum(unicodedata.category(ch).startswith("L") for ch in text)


def _is_word(word: str) -> bool:
    return _letters(word) > 0


def _chars(words: tuple[str, ...]) -> int:
    return sum(unicodedata.category(ch)[0] in "LMN" for word in words for ch in word)


def _words(text: str) -> list[str]:
    """The words of `text`: Thai split by pythainlp, other scripts at spaces, each mark of
    punctuation on its own."""
    text = normalize_text(text)[:READ_MAX].casefold()
    words: list[str] = []
    for run in _RUNS.finditer(text):
        piece = run.group()
        words += tokens(piece) if _THAI.match(piece) else [piece]
    return words


@lru_cache(maxsize=1024)
def read(text: str) -> Reading:
    """What `text`, sent outside a question, means (remembered for the last texts: the
    menu reads a message, then the report it starts reads it again)."""
    words = _words(text)
    if _letters("".join(words)) < 2:
        return Reading(SHORT)
    marks = {name: _matches(words, name)
             for name in (*_META, "problem", "command")}
    marks["greeting"] = _opening_greeting(words, marks["greeting"], marks["filler"])
    meta = set().union(*(marks[name] for name in _META))
    if all(i in marks["filler"] for i in range(len(words))):
        return Reading(SHORT)
    content = tuple(w for i, w in enumerate(words) if i not in meta)
    min_chars, min_words = _limits()
    described = _chars(content) >= min_chars and sum(map(_is_word, content)) >= min_words
    category = suggest(" ".join(content)) if content else None
    leading = [i for i in range(len(words)) if i not in marks["filler"]
               and i not in marks["greeting"]][:2]
    if any(i in marks["command"] for i in leading):
        return Reading(UNCLEAR, content=content)
    named = category is not None or bool(marks["problem"] - meta) or (
        bool(content) and _has_category_word(" ".join(content)) and not is_greeting_or_test(text))
    flagged = any(marks[name] for name in ("greeting", "help", "thanks", "report"))
    if content and (named or (described and not flagged)):
        return Reading(PROBLEM, described, category, content)
    for intent in (HELP, REPORT, GREETING, THANKS):
        if marks[intent]:
            return Reading(intent, content=content)
    if is_greeting_or_test(text):  # the category suggestion's own greetings and tests
        return Reading(GREETING, content=content)
    return Reading(UNCLEAR, content=content)


def category_named(text: str) -> str | None:
    """The category `text` names or suggests ("it is about debt", "flood"), if one."""
    return category_named_in(text) or suggest(text)


def _said_only(text: str, name: str) -> bool:
    words = _words(text)
    said = _matches(words, name)
    rest = [i for i in range(len(words)) if i not in said and i not in _matches(words, "filler")]
    return bool(said) and not rest


def says_yes(text: str) -> bool:
    """"yes", "ok", "yes" with a polite particle: agreeing, and nothing else."""
    return not says_no(text)[0] and _said_only(text, "yes")


def says_none(text: str) -> bool:
    """"none", "skip", "no" (intents.json `none`): nothing to give for an optional
    question."""
    return _said_only(text, "none")


def says_no(text: str) -> tuple[bool, str]:
    """Whether `text` opens with "no" ("no, it is about debt"), and what follows it."""
    words = _words(text)
    filler = _matches(words, "filler")
    start = next((i for i in range(len(words)) if i not in filler), len(words))
    for run in _phrases()["no"]:
        if tuple(words[start:start + len(run)]) == run:
            return True, " ".join(words[start + len(run):])
    return False, ""


async def understand(engine: Engine, turn: Turn, answer: Answer) -> None:
    from handlers import menu  # menu imports the flows, which read text with this module

    villager = bool(areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE))
    if answer.photo or answer.photo_id or answer.location:
        if villager:
            await engine.start_flow(turn, "problem_report", answer)
            return
        turn.say("intent.attachment_village_only")
        await menu.show(turn)
        return
    if _menu_label(answer.text):  # another role's menu item, or one not offered now
        turn.say("intent.not_in_your_menu")
        await menu.show(turn)
        return
    reading = read(answer.text)
    if reading.intent == PROBLEM and villager:
        await engine.start_flow(turn, "problem_report", answer)
        return
    if reading.intent == REPORT and villager:
        await engine.start_flow(turn, "problem_report")
        return
    if reading.intent in (PROBLEM, REPORT):
        turn.say("intent.report_village_only")
    elif reading.intent == GREETING:
        turn.say("intent.greeting", name=_first_name(turn))
    elif reading.intent == HELP:
        turn.say("intent.help")
    elif reading.intent == THANKS:
        turn.say("intent.thanks")
    elif reading.intent == SHORT:
        turn.say("intent.too_short")
    else:
        turn.say("intent.unclear")
    if villager and reading.intent in (GREETING, HELP, SHORT, UNCLEAR):
        turn.say("intent.village_hint")
    await menu.show(turn)


@cache
def _menu_labels() -> frozenset[str]:
    """Every menu item's label and every flow's title, in every language, as typed."""
    from handlers.flows import FLOWS

    keys = {k for f in FLOWS.values() for k in (f.title_key, f.menu and f.menu.label_key) if k}
    labels: set[str] = set()
    for language in LANGUAGES:
        texts = catalog(language)
        labels |= {label_key(texts[k]) for k in keys if k in texts}
        labels |= {label_key(v) for k, v in texts.items() if k.startswith("menu.")
                   and "{" not in v}
    return frozenset(label for label in labels if label)


def _menu_label(text: str) -> bool:
    return label_key(text) in _menu_labels()


def _first_name(turn: Turn) -> str:
    name = turn.person.display_name if turn.person else ""
    return (name.split() or [""])[0]
