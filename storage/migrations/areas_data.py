"""Loads Thailand's provinces, districts and tambons (geothai, DOPA codes, CC BY 4.0)
and the 14 learning networks of the cabinet resolution §8."""

from __future__ import annotations

import csv
import io
import json
from importlib.resources import files

import geothai

from storage.connection import Connection

NATION_CODE = "TH"


def nation_row() -> dict[str, str]:
    return json.loads(files("storage").joinpath("data/nation.json").read_text("utf-8"))


def learning_network_rows() -> list[dict[str, str]]:
    text = files("storage").joinpath("data/learning_networks.csv").read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


async def load_areas(conn: Connection) -> None:
    nation = nation_row()
    rows: list[tuple[str, str, str | None, str, str, str | None]] = [
        (NATION_CODE, "nation", None, nation["name_th"], nation["name_en"], None),
    ]
    network_of_province: dict[str, str] = {}
    for r in learning_network_rows():
        network_of_province[r["province_code"]] = r["network_id"]
        if r["province_code"] == r["hub_province_code"]:
            rows.append(
                (r["network_id"], "network", NATION_CODE, r["network_name_th"],
                 r["network_name_en"], r["hub_province_code"])
            )
    for province in geothai.provinces():
        rows.append((province.code, "province", network_of_province[province.code],
                     province.name_th, province.name_en, None))
        for district in geothai.districts(province.code):
            rows.append((district.code, "district", province.code,
                         district.name_th, district.name_en, None))
            rows.extend(
                (tambon.code, "tambon", district.code, tambon.name_th, tambon.name_en, None)
                for tambon in geothai.subdistricts(district.code)
            )
    await conn.executemany(
        "INSERT OR IGNORE INTO areas (code, level, parent_code, name_th, name_en, hub_code)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
