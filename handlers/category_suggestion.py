"""Suggests a problem category from a free-text description: pythainlp splits the
Thai words, and each category's keyword list (data, in locales/) votes."""

from __future__ import annotations

from functools import cache

from handlers.thai_input import normalize_text
from locales import problem_categories


@cache
def _tokenizer():  # type: ignore[no-untyped-def]
    from pythainlp.corpus.common import thai_words
    from pythainlp.tokenize import Tokenizer

    keywords = {k for c in problem_categories() for k in c["keywords"]}
    # Tokenizer(custom_dict=…) replaces the dictionary, so merge with the standard one.
    return Tokenizer(custom_dict=set(thai_words()) | keywords, engine="newmm")


def tokens(text: str) -> list[str]:
    return [w.strip().casefold() for w in _tokenizer().word_tokenize(text) if w.strip()]


def suggest(text: str) -> str | None:
    """The best-matching category key, or None when no keyword matches."""
    words = tokens(normalize_text(text)[:2000])
    best, best_score = None, 0
    for category in problem_categories():
        keywords = {k.casefold() for k in category["keywords"]}
        # A longer keyword is a more specific one: "flood" says more than "rice".
        score = sum(len(w) for w in words if w in keywords)
        if score > best_score:
            best, best_score = category["key"], score
    return best


def warm_up() -> None:
    tokens("warm up")
