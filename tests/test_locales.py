"""Every key exists in Thai and English with the same placeholders; no Thai in code."""

from __future__ import annotations

import re
from pathlib import Path

import locales
from locales import catalog, placeholders, problem_categories

ROOT = Path(__file__).resolve().parent.parent
THAI = re.compile(r"[\u0E00-\u0E7F]")


def test_every_key_exists_in_both_languages() -> None:
    th, en = catalog("th"), catalog("en")
    assert sorted(set(th) - set(en)) == [], "keys missing in English"
    assert sorted(set(en) - set(th)) == [], "keys missing in Thai"


def test_placeholders_match_between_languages() -> None:
    th, en = catalog("th"), catalog("en")
    differing = {k: (placeholders(th[k]), placeholders(en[k]))
                 for k in th if placeholders(th[k]) != placeholders(en.get(k, ""))}
    assert differing == {}


def test_no_value_is_empty() -> None:
    for language in locales.LANGUAGES:
        assert [k for k, v in catalog(language).items() if not v.strip()] == []


def test_every_key_used_in_code_exists() -> None:
    used: set[str] = set()
    pattern = re.compile(
        r"""(?:\bt|say|Invalid|Localized)\(\s*(?:[a-z_.]+,\s*)?"([a-z_]+\.[a-z_.0-9]+)\"""")
    for path in [*ROOT.glob("handlers/**/*.py"), *ROOT.glob("bot/**/*.py")]:
        used |= set(pattern.findall(path.read_text("utf-8")))
    assert used, "the scan found no keys: the pattern is broken"
    assert sorted(used - set(catalog("th"))) == []


def test_categories_have_both_labels() -> None:
    keys = [c["key"] for c in problem_categories()]
    assert len(keys) == len(set(keys)) >= 10
    for category in problem_categories():
        assert category["label"]["th"].strip() and category["label"]["en"].strip()


def test_no_thai_literal_in_python_code() -> None:
    offenders = [str(p.relative_to(ROOT)) for folder in ("bot", "handlers", "storage")
                 for p in (ROOT / folder).rglob("*.py") if THAI.search(p.read_text("utf-8"))]
    assert offenders == []


def test_english_speaker_sees_english(tmp_path: Path) -> None:
    assert locales.t("en", "report.saved", id=3).startswith("Problem report #3")
    assert locales.t("th", "report.saved", id=3).startswith("บันทึกรายงานปัญหาแล้ว")
