"""The map page's area shading: no area shapes with a registry-installable, licensed source
could be had (see README, "Web site"), so the provinces are drawn as a tile-grid cartogram:
one equal square per province, placed roughly where it lies (row from north to south,
column from west to east). Positions are this project's own, by DOPA province code."""

from __future__ import annotations

GRID_COLUMNS = 10
PROVINCE_TILES: dict[str, tuple[int, int]] = {
    "57": (0, 3),
    "58": (1, 1), "50": (1, 2), "56": (1, 3), "55": (1, 4),
    "51": (2, 1), "52": (2, 2), "54": (2, 3), "53": (2, 4), "38": (2, 7),
    "63": (3, 1), "64": (3, 2), "65": (3, 3), "42": (3, 4), "43": (3, 5), "41": (3, 6),
    "47": (3, 7), "48": (3, 8),
    "62": (4, 2), "66": (4, 3), "67": (4, 4), "39": (4, 5), "40": (4, 6), "46": (4, 7),
    "49": (4, 8),
    "61": (5, 1), "60": (5, 2), "18": (5, 3), "36": (5, 5), "44": (5, 6), "45": (5, 7),
    "35": (5, 8), "37": (5, 9),
    "71": (6, 1), "72": (6, 2), "17": (6, 3), "16": (6, 4), "30": (6, 5), "31": (6, 6),
    "32": (6, 7), "33": (6, 8), "34": (6, 9),
    "73": (7, 2), "15": (7, 3), "14": (7, 4), "19": (7, 5), "26": (7, 6), "25": (7, 7),
    "27": (7, 8),
    "70": (8, 1), "74": (8, 2), "12": (8, 3), "13": (8, 4), "24": (8, 6),
    "76": (9, 1), "75": (9, 2), "10": (9, 3), "11": (9, 4), "20": (9, 5), "21": (9, 6),
    "22": (9, 7), "23": (9, 8),
    "77": (10, 1),
    "86": (11, 1),
    "85": (12, 0), "84": (12, 1),
    "82": (13, 0), "81": (13, 1), "80": (13, 2),
    "83": (14, 0), "92": (14, 1), "93": (14, 2),
    "91": (15, 1), "90": (15, 2), "94": (15, 3),
    "95": (16, 2), "96": (16, 3),
}
# Sequential shades, lightest (no problems) to darkest; text colour chosen for contrast.
SHADES = (("#f0f4f8", "#1f2933"), ("#c6dbef", "#1f2933"), ("#9ecae1", "#1f2933"),
          ("#4292c6", "#ffffff"), ("#08519c", "#ffffff"))


def shade_index(value: int, top: int) -> int:
    """0 for nothing, else 1-4 by the value's share of the largest."""
    if value <= 0 or top <= 0:
        return 0
    return min(4, 1 + (4 * value - 1) // top)
