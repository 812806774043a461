"""How an area is named to people: village number and name, tambon, district, province."""

from __future__ import annotations

from handlers.turn import Bilingual
from locales import t
from storage import areas
from storage.areas import Area
from storage.connection import Connection

BANGKOK = "10"
_SHOWN_LEVELS = ("village", "tambon", "district", "province")


def _part(area: Area, language: str) -> str:
    name = area.name(language)
    if area.level == "village":
        return t(language, "area.village", no=area.village_no, name=name)
    if area.level in ("tambon", "district"):
        bangkok = "_bkk" if area.code.startswith(BANGKOK) else ""
        return t(language, f"area.{area.level}{bangkok}", name=name)
    if area.level == "province":
        return name if area.code == BANGKOK else t(language, "area.province", name=name)
    return name


def title(lineage: list[Area], language: str, depth: int = 4) -> str:
    """The area and up to `depth` levels of what contains it, smallest first."""
    shown = [a for a in lineage if a.level in _SHOWN_LEVELS] or lineage[:1]
    return " ".join(_part(a, language) for a in shown[:depth])


def bilingual(lineage: list[Area], depth: int = 4) -> Bilingual:
    return Bilingual(title(lineage, "th", depth), title(lineage, "en", depth))


async def bilingual_title(conn: Connection, code: str, depth: int = 4) -> Bilingual:
    return bilingual(await areas.lineage(conn, code), depth)
