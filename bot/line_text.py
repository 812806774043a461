"""Text lengths as LINE measures them.

LINE counts most text in UTF-16 code units (a text message's 5,000), but action labels,
a postback's displayText and a rich menu's chatBarText and name in grapheme clusters
(Unicode UAX #29): a Thai consonant with its vowel and tone marks (for example three
code points) is one character there, and so is an emoji made of several code points.
The segmentation is the `regex` module's ``\\X`` (extended grapheme clusters).
"""

from __future__ import annotations

import regex

ELLIPSIS = "\u2026"
_CLUSTER = regex.compile(r"\X")


def graphemes(text: str) -> list[str]:
    """The grapheme clusters of `text`, in order."""
    return _CLUSTER.findall(text)


def grapheme_len(text: str) -> int:
    return len(graphemes(text))


def fits(text: str, limit: int) -> bool:
    """Whether LINE counts at most `limit` characters in `text`."""
    return len(text) <= limit or grapheme_len(text) <= limit  # clusters ≤ code points


def fit(text: str, limit: int) -> str:
    """`text` if LINE counts at most `limit` characters in it; otherwise cut between
    clusters, with an ellipsis, to exactly `limit`. Never splits a consonant from its
    marks."""
    if len(text) <= limit:  # never more clusters than code points: it fits
        return text
    clusters = graphemes(text)
    if len(clusters) <= limit:
        return text
    return "".join(clusters[:limit - 1]).rstrip() + ELLIPSIS


def utf16_len(text: str) -> int:
    """How LINE counts a text message: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


def utf16_chunks(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 units, broken after a newline where one
    is near, else between grapheme clusters (never inside one)."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        clusters = graphemes(rest)
        size, end = 0, 0
        for i, cluster in enumerate(clusters):
            size += utf16_len(cluster)
            if size > limit:
                break
            end = i + 1
        head = "".join(clusters[:end])
        newline = head.rfind("\n")
        if newline >= len(head) // 2:  # a line break in the second half: break there
            head = head[:newline + 1]
        pieces.append(head.rstrip("\n"))
        rest = rest[len(head):]
    pieces.append(rest)
    return [p for p in pieces if p] or [""]
