"""Every user-visible string: Thai first (the default), English second."""

from __future__ import annotations

import json
import string
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Any

LANGUAGES = ("th", "en")
DEFAULT_LANGUAGE = "th"
BE_OFFSET = 543


@cache
def catalog(language: str) -> dict[str, str]:
    """`<language>.json` plus every fragment in `<language>/` (one per flow)."""
    root = files("locales")
    merged: dict[str, str] = json.loads(root.joinpath(f"{language}.json").read_text("utf-8"))
    folder = root.joinpath(language)
    if folder.is_dir():
        for fragment in sorted(folder.iterdir(), key=lambda f: f.name):
            if fragment.name.endswith(".json"):
                merged.update(json.loads(fragment.read_text("utf-8")))
    return merged


def t(language: str, key: str, **params: Any) -> str:
    """The text for `key` in `language`, falling back to Thai, with params filled in."""
    text = catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE).get(key)
    if text is None:
        text = catalog(DEFAULT_LANGUAGE)[key]
    return text.format(**params) if params else text


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def format_date(day: date, language: str) -> str:
    """A date as people read it: day, month and the Buddhist-Era year."""
    return t(language, "date.format", day=day.day, month=t(language, f"month.{day.month}"),
             year=day.year + BE_OFFSET)


@cache
def problem_categories() -> tuple[dict[str, Any], ...]:
    """The problem categories (data, not code): key, labels in both languages, keywords."""
    data = json.loads(files("locales").joinpath("problem_categories.json").read_text("utf-8"))
    return tuple(data["categories"])


def category_label(key: str, language: str) -> str:
    for category in problem_categories():
        if category["key"] == key:
            return str(category["label"].get(language) or category["label"][DEFAULT_LANGUAGE])
    return key


@cache
def intent_words() -> dict[str, Any]:
    """What free text outside a question means (data, not code): the phrases of each intent
    and how long a text must be to describe a problem (handlers/intents.py)."""
    data: dict[str, Any] = json.loads(files("locales").joinpath("intents.json")
                                      .read_text("utf-8"))
    return data
