"""Areas repository: the administrative tree and the villages admins add."""

from __future__ import annotations

from dataclasses import dataclass

from storage.connection import Connection, Row

LEVELS = ("nation", "network", "province", "district", "tambon", "village")


@dataclass(frozen=True)
class Area:
    code: str
    level: str
    parent_code: str | None
    name_th: str
    name_en: str
    village_no: int | None

    def name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name_th


_COLUMNS = "code, level, parent_code, name_th, name_en, village_no"
_A_COLUMNS = ", ".join(f"a.{column}" for column in _COLUMNS.split(", "))


def _area(row: Row) -> Area:
    return Area(row["code"], row["level"], row["parent_code"], row["name_th"], row["name_en"],
                row["village_no"])


def village_code(tambon_code: str, village_no: int) -> str:
    return f"{tambon_code}{village_no:02d}"


async def get(conn: Connection, code: str) -> Area | None:
    async with conn.execute(f"SELECT {_COLUMNS} FROM areas WHERE code = ?", (code,)) as cur:
        row = await cur.fetchone()
    return _area(row) if row else None


async def children(conn: Connection, code: str) -> list[Area]:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM areas WHERE parent_code = ? ORDER BY village_no, code", (code,)
    ) as cur:
        return [_area(r) for r in await cur.fetchall()]


async def lineage(conn: Connection, code: str) -> list[Area]:
    """The area and all above it, nearest first (village, tambon, …, nation)."""
    # Each step reads its row by the primary key (joining the walk back to `areas` at the
    # end made PostgreSQL's cached plan read the whole table).
    async with conn.execute(
        f"""WITH RECURSIVE up({_COLUMNS}, depth) AS (
                SELECT {_COLUMNS}, 0 FROM areas WHERE code = ?
                UNION ALL
                SELECT {_A_COLUMNS}, up.depth + 1 FROM areas a
                JOIN up ON a.code = up.parent_code
            )
            SELECT {_COLUMNS} FROM up ORDER BY depth""",
        (code,),
    ) as cur:
        return [_area(r) for r in await cur.fetchall()]


async def add_village(
    conn: Connection, tambon_code: str, village_no: int, name_th: str, name_en: str = ""
) -> Area:
    tambon = await get(conn, tambon_code)
    if tambon is None or tambon.level != "tambon":
        raise ValueError(f"{tambon_code} is not a tambon code")
    if not 1 <= village_no <= 99:
        raise ValueError("village number (moo) must be 1-99")
    code = village_code(tambon_code, village_no)
    await conn.execute(
        "INSERT INTO areas (code, level, parent_code, name_th, name_en, village_no)"
        " VALUES (?, 'village', ?, ?, ?, ?)"
        " ON CONFLICT (code) DO UPDATE SET name_th = excluded.name_th, name_en = excluded.name_en",
        (code, tambon_code, name_th, name_en, village_no),
    )
    area = await get(conn, code)
    assert area is not None
    return area


async def count_by_level(conn: Connection) -> dict[str, int]:
    async with conn.execute("SELECT level, COUNT(*) FROM areas GROUP BY level") as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}
