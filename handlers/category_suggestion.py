"""Suggests a problem category from a free-text description.

The words are data (locales/problem_categories.json): for each category, "strong" words that
say it on their own, "keywords" that say it with less weight, and "weak" common words that
only add to others. How a description is read:

1. Cleaned as people type on phones: NFC, zero-width characters gone, pythainlp's
   normalisation (two sara e typed for sara ae, tone marks and vowels in the standard order,
   repeated vowels), mai yamok and runs of three or more of one letter (the endless
   "mak-k-k-k") reduced, case folded; then regional and colloquial words (Isan, Northern,
   Southern: "dialect" in the data) replaced, as whole words, by the Central Thai the lists
   use, so one list serves every region.
2. Thai words are looked for in the text with its spaces taken out: a word of four or more
   characters anywhere, inside compounds (a debt word inside "owing", "in debt", "creditor"),
   a shorter one only where pythainlp's tokenizer finds it as a whole word (the medicine word
   is not found inside "nurse" or "rubber"); "A…B" phrases allow a few characters between A
   and B. English words are looked for as words (and with -s, -es, -ed, -ing). A word whose
   consonants and long vowels (its "skeleton": tone marks and vowels above and below taken
   out) are four or more letters is also found by its skeleton, for a little less: a missing
   or misplaced tone mark or vowel (the commonest typos) still counts.
3. Where two found words overlap, the longest wins ("drug" words hide the "medicine" word
   inside them, a "pothole" phrase hides the "well" word); "ignore" phrases hide what is in
   them and count for nothing.
4. Each category scores the words it has found, each once: strong 2, keyword 1, weak 0.35
   (found by skeleton: 0.8 of that), the first two a little more for every character past
   four (longer is more specific), and
   the weak words of one category together at most 0.6, so common words never suggest alone.
5. The best category is a confident suggestion when it scores at least CONFIDENT and more
   than any other; greetings and tests get none.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from handlers.thai_input import normalize_text

CONFIDENT = 1.0  # the score a category needs before it is suggested
STRONG, KEYWORD, WEAK = 2.0, 1.0, 0.35
WEAK_CAP = 0.6  # all the weak words of one category together: below CONFIDENT
LENGTH_BONUS, LENGTH_BONUS_MAX = 0.05, 0.5  # per character past four, at most
SUBSTRING_MIN = 4  # shorter words match only as whole tokens
SKELETON_MIN = 4  # shorter skeletons are too common to be found by skeleton
FUZZY = 0.8  # a word found by its skeleton only
GREETING_REST_MAX = 12  # letters a greeting may carry besides greetings and fillers
TEXT_MAX = 2000

_MAI_YAMOK = "\u0e46"
_ELLIPSIS = "\u2026"
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_THAI = re.compile(r"[\u0e00-\u0e7f]")
_SPACE = re.compile(r"\s+")
_SARA_AM, _SARA_AA = "\u0e33", "\u0e32"


# ------------------------------------------------------------------------------ the data

@dataclass(frozen=True)
class _Term:
    word: str  # as written in the data, without its marker
    category: str | None  # None: an "ignore" phrase
    weight: float
    specificity: int  # characters that say something: decides overlaps
    pattern: re.Pattern[str] | None  # substring, gap or English word; None: whole token only
    strong: bool = True  # strong or keyword (not weak): may decide on its own
    skeleton: re.Pattern[str] | None = None  # the word's skeleton, when long enough
    # Literals that must be in the text for the pattern (or the skeleton) to match: a
    # cheap `in` test first, so most of the terms never run their regular expression.
    needle: str = ""
    bone_needle: str = ""


@dataclass(frozen=True)
class _Data:
    keys: tuple[str, ...]
    terms: tuple[_Term, ...]
    labels: tuple[_Term, ...]  # category names, for corrections ("no, it is about debt")
    greetings: tuple[_Term, ...]
    fillers: frozenset[str]
    dictionary: frozenset[str]  # the Thai words the tokenizer must know


@cache
def _raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        files("locales").joinpath("problem_categories.json").read_text("utf-8"))
    return data


def _typed(text: str) -> str:
    from pythainlp.util import normalize

    text = normalize_text(text)[:TEXT_MAX]
    text = normalize(text).replace(_MAI_YAMOK, " ")
    text = _REPEATS.sub(r"\1", text)
    return _SPACE.sub(" ", text).strip().casefold()


@cache
def _dialect() -> dict[str, str]:
    return {_typed(k): _typed(v) for k, v in _raw().get("dialect", {}).items()}


def clean(text: str) -> str:
    """A description as it is matched: see the module's docstring, step 1. (The words in the
    data are Central Thai already: they are only typed-cleaned, with `_typed`.)"""
    text = _typed(text)
    words = _dialect()
    if not words or not _THAI.search(text):
        return text
    split = _split
    return " ".join("".join(words.get(t, t) for t in split(chunk)) for chunk in text.split(" "))


def _skeleton(text: str) -> tuple[str, list[int]]:
    """The text without tone marks and vowels above or below (sara am read as sara aa), and
    where each of its letters is in the text."""
    letters, where = [], []
    for i, ch in enumerate(text):
        if _THAI.match(ch) and unicodedata.category(ch) == "Mn":
            continue
        letters.append(_SARA_AA if ch == _SARA_AM else ch)
        where.append(i)
    return "".join(letters), where


def _term(raw: str, category: str | None, base: float, gap: int) -> _Term:
    whole = raw.startswith("=")
    anywhere = raw.startswith("~")
    word = _typed(raw[1:] if whole or anywhere else raw)
    if _ELLIPSIS in word:
        first, _, last = word.partition(_ELLIPSIS)
        first, last = first.replace(" ", ""), last.replace(" ", "")
        specificity = len(first) + len(last)
        pattern: re.Pattern[str] | None = re.compile(
            f"{re.escape(first)}.{{0,{gap}}}?{re.escape(last)}")
    elif not _THAI.search(word):
        specificity = len(word)
        pattern = re.compile(rf"(?<![\w.]){re.escape(word)}(?:s|es|ed|ing)?(?!\w)")
    else:
        word = word.replace(" ", "")
        specificity = len(word)
        substring = anywhere or (not whole and len(word) >= SUBSTRING_MIN)
        pattern = re.compile(re.escape(word)) if substring else None
    skeleton, bone_needle = None, ""
    if pattern is not None and _THAI.search(word) and _ELLIPSIS not in word:
        bones = _skeleton(word)[0]
        if len(bones) >= SKELETON_MIN:
            skeleton, bone_needle = re.compile(re.escape(bones)), bones
    needle = (word.partition(_ELLIPSIS)[0].replace(" ", "") if _ELLIPSIS in word
              else word)
    weight = base
    if base >= KEYWORD:
        weight *= 1 + min(LENGTH_BONUS_MAX, LENGTH_BONUS * max(0, specificity - 4))
    return _Term(word, category, weight, specificity, pattern, base >= KEYWORD, skeleton,
                 needle, bone_needle)


@cache
def _data() -> _Data:
    raw = _raw()
    gap = int(raw.get("gap", 15))
    terms: list[_Term] = []
    labels: list[_Term] = []
    for category in raw["categories"]:
        key = category["key"]
        for tier, base in (("strong", STRONG), ("keywords", KEYWORD), ("weak", WEAK)):
            terms += [_term(w, key, base, gap) for w in category.get(tier, [])]
        names = {category["key"].replace("_", " ")}
        for label in category["label"].values():
            names |= {label, *label.split("/")}
        labels += [_term(n.strip(), key, STRONG, gap) for n in names if _typed(n).strip()]
    terms += [_term(w, None, 0.0, gap) for w in raw.get("ignore", [])]
    greetings = tuple(_term(w, "greeting", KEYWORD, gap) for w in raw.get("greetings", []))
    fillers = frozenset(_typed(w) for w in raw.get("fillers", []))
    dialect = _dialect()
    dictionary = frozenset(t.word for t in (*terms, *labels, *greetings)
                           if _THAI.search(t.word) and _ELLIPSIS not in t.word) | fillers
    dictionary |= {w for w in (*dialect, *dialect.values()) if _THAI.search(w)}
    return _Data(tuple(c["key"] for c in raw["categories"]), tuple(terms), tuple(labels),
                 greetings, fillers, dictionary)


@cache
def _tokenizer():  # type: ignore[no-untyped-def]
    from pythainlp.corpus.common import thai_words
    from pythainlp.tokenize import Tokenizer

    # Tokenizer(custom_dict=…) replaces the dictionary, so merge with the standard one. One
    # tokenizer only: each holds its own copy of the dictionary (some 60 MB).
    return Tokenizer(custom_dict=set(thai_words()) | _data().dictionary, engine="newmm")


@lru_cache(maxsize=2048)
def _split(text: str) -> tuple[str, ...]:
    """pythainlp's words of `text`, remembered for the last texts: a description is split
    when it is read at the menu, cleaned, matched, and read again by the report."""
    return tuple(_tokenizer().word_tokenize(text))


def tokens(text: str) -> list[str]:
    return [w.strip().casefold() for w in _split(text) if w.strip()]


# ------------------------------------------------------------------------------ matching

@dataclass(frozen=True)
class _Found:
    term: _Term
    start: int
    end: int
    english: bool = False  # found in the text with its spaces, not in the compact Thai
    fuzzy: bool = False  # found by its skeleton only

    @property
    def weight(self) -> float:
        return self.term.weight * (FUZZY if self.fuzzy else 1.0)


def _spans(compact: str) -> list[tuple[str, int, int]]:
    spans, at = [], 0
    for token in _split(compact):
        spans.append((token, at, at + len(token)))
        at += len(token)
    return spans


_TERM_SETS: dict[str, Callable[[], tuple[_Term, ...]]] = {
    "terms": lambda: _data().terms,
    "greetings": lambda: (*_data().greetings, *_data().terms),
    "labels": lambda: (*_data().labels, *_data().terms),
}


@lru_cache(maxsize=1024)
def _find(text: str, kind: str = "terms") -> tuple[_Found, ...]:
    """Every term of a set (`_TERM_SETS`) found in the cleaned text, overlaps resolved:
    the most specific wins. Remembered for the last texts: a description is read at the
    menu, then suggested, then read again by the report."""
    terms = _TERM_SETS[kind]()
    compact = text.replace(" ", "")
    spans = _spans(compact) if compact else []
    by_token: dict[str, list[tuple[int, int]]] = {}
    for token, start, end in spans:
        by_token.setdefault(token, []).append((start, end))
    letters, where = _skeleton(compact)
    candidates: list[_Found] = []
    for term in terms:
        if term.pattern is None:
            candidates += [_Found(term, s, e) for s, e in by_token.get(term.word, ())]
        elif _THAI.search(term.word):
            if term.needle in compact:
                candidates += [_Found(term, m.start(), m.end())
                               for m in term.pattern.finditer(compact)]
        elif term.needle in text:
            candidates += [_Found(term, m.start(), m.end(), english=True)
                           for m in term.pattern.finditer(text)]
        if term.skeleton is not None and term.bone_needle in letters:
            candidates += [_Found(term, where[m.start()], where[m.end() - 1] + 1, fuzzy=True)
                           for m in term.skeleton.finditer(letters)]
    candidates.sort(key=lambda f: (-f.term.specificity, f.fuzzy, _ELLIPSIS in f.term.word,
                                   -f.term.weight))
    taken: list[_Found] = []
    for f in candidates:
        if not any(t.english == f.english and f.start < t.end and t.start < f.end
                   for t in taken):
            taken.append(f)
    return tuple(taken)


def _scores(found: Iterable[_Found]) -> dict[str, tuple[float, int]]:
    """Per category: its score and the length of its longest word (the tie-breaker)."""
    strong: dict[str, float] = {}
    weak: dict[str, float] = {}
    longest: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    for f in found:
        key = f.term.category
        if key is None or (key, f.term.word) in seen:
            continue
        seen.add((key, f.term.word))
        bucket = strong if f.term.strong else weak
        bucket[key] = bucket.get(key, 0.0) + f.weight
        longest[key] = max(longest.get(key, 0), f.term.specificity)
    return {k: (strong.get(k, 0.0) + min(WEAK_CAP, weak.get(k, 0.0)), longest[k])
            for k in longest}


@dataclass(frozen=True)
class Suggestion:
    """The best category for a description (or None), how sure, and why."""

    key: str | None
    score: float
    confident: bool
    runner_up: str | None = None
    runner_up_score: float = 0.0
    matched: tuple[str, ...] = ()


def _best(scores: dict[str, tuple[float, int]], matched: tuple[str, ...]) -> Suggestion:
    if not scores:
        return Suggestion(None, 0.0, False, matched=matched)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))
    (key, (score, longest)), rest = ranked[0], ranked[1:]
    second, second_longest = rest[0][1] if rest else (0.0, 0)
    confident = score >= CONFIDENT and (score, longest) > (second, second_longest)
    return Suggestion(key, round(score, 3), confident, rest[0][0] if rest else None,
                      round(second, 3), matched)


def suggestion(text: str) -> Suggestion:
    """The best category for `text`, with its score; `confident` says whether to offer it."""
    cleaned = clean(text) if isinstance(text, str) else ""
    if not cleaned:  # (a greeting or a test has no word that decides: it gets no suggestion)
        return Suggestion(None, 0.0, False)
    found = _find(cleaned)
    matched = tuple(f.term.word for f in found if f.term.category)
    return _best(_scores(found), matched)


def rank(text: str) -> list[tuple[str, float]]:
    """Every category that found a word in `text`, best first, with its score."""
    cleaned = clean(text) if isinstance(text, str) else ""
    scores = _scores(_find(cleaned)) if cleaned else {}
    return [(k, round(s, 3)) for k, (s, _) in sorted(scores.items(), key=lambda kv: -kv[1][0])]


def suggest(text: str) -> str | None:
    """The category key to suggest for `text`, or None when no category is confident (no
    word of any category, only common words, a tie, or a greeting or a test)."""
    s = suggestion(text)
    return s.key if s.confident else None


# ------------------------------------------------------------------- greetings and corrections

def _letters(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch)[0] == "L")


def is_greeting_or_test(text: str) -> bool:
    """True for a greeting, a thank-you or a test message ("hello", "testing 123", "have you
    eaten?", a polite particle on its own): a greeting word, no word of any category, and
    little else besides greetings, polite particles and pronouns."""
    cleaned = clean(text) if isinstance(text, str) else ""
    if not cleaned:
        return False
    data = _data()
    found = _find(cleaned, "greetings")
    if any(f.term.category not in (None, "greeting") and f.term.strong for f in found):
        return False
    compact = list(cleaned.replace(" ", ""))
    english = list(cleaned)
    for f in found:
        if f.term.category not in (None, "greeting"):
            continue  # a common word of a category (weak) is not a greeting
        target = english if f.english else compact
        target[f.start:f.end] = " " * (f.end - f.start)
    thai_rest = "".join(ch if _THAI.match(ch) else " " for ch in compact)
    latin_rest = "".join(english)
    leftover = [t for t in tokens(thai_rest) if t not in data.fillers]
    leftover += [w for w in re.findall(r"[^\W\d_]+", latin_rest) if not _THAI.search(w)
                 and w not in data.fillers]
    if any(f.term.category == "greeting" for f in found):
        return sum(_letters(t) for t in leftover) <= GREETING_REST_MAX
    # No greeting word: polite particles alone (a lone "khrap") count as one.
    return not leftover and _letters(cleaned) > 0


def category_named_in(text: str) -> str | None:
    """The category a person names in a correction ("no, it's about debt", "no: flood"): its
    label or part of it, or a word of the category; None when no single category is named."""
    cleaned = clean(text) if isinstance(text, str) else ""
    if not cleaned:
        return None
    found = _find(cleaned, "labels")
    scores = _scores(found)
    best = _best(scores, ())
    return best.key if best.confident else None


def warm_up() -> None:
    suggestion("warm up")
    tokens("warm up")
