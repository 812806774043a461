"""What crosses the line between a channel adapter and the flows.

An adapter turns a platform update into an `Incoming` and a `Reply` into a platform
message; nothing else about a platform is known past this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Incoming:
    channel: str
    user_id: str
    chat_id: str
    update_id: str
    text: str | None = None
    payload: str | None = None
    photo: str | None = None  # the local copy, relative to the media folder
    photo_id: str | None = None  # the platform's own id of the photo
    location: Location | None = None
    unsupported: str | None = None  # e.g. "sticker", "voice": something we cannot use
    reply_token: str | None = None
    is_group: bool = False
    inbox_id: int | None = None  # the stored update this came from (durable intake)


@dataclass(frozen=True)
class Choice:
    label: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    choices: tuple[Choice, ...] = ()
    image: str | None = None
    file: str | None = None
    # What kind of answer the question expects ("date", "photo", "location",
    # "photo_or_location", "number", "confirm"), so a channel can offer a picker or a
    # richer layout (the console takes a typed number at a "number" question as the number,
    # not as a button's place).
    expects: str | None = None
    # The chosen answer, for channels that edit the question to show it.
    answered: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {"text": self.text,
                "choices": [{"label": c.label, "payload": c.payload} for c in self.choices],
                "image": self.image, "file": self.file, "expects": self.expects,
                "answered": self.answered, "extra": dict(self.extra)}

    @property
    def plain(self) -> bool:
        """Only text: no buttons, picture, file or special layout."""
        return not (self.choices or self.image or self.file or self.expects or self.answered
                    or self.extra)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Reply:
        choices = tuple(Choice(c["label"], c["payload"]) for c in data.get("choices", ()))
        return cls(text=data["text"], choices=choices, image=data.get("image"),
                   file=data.get("file"), expects=data.get("expects"),
                   answered=data.get("answered"), extra=data.get("extra") or {})


def joined(replies: list[Reply]) -> list[Reply]:
    """The replies as few messages as possible: a plain text goes on top of the next
    text-only message ("saved #12" above the menu, "please type a number" above the
    question asked again). One message to read instead of two, and one fewer to send."""
    out: list[Reply] = []
    for reply in replies:
        last = out[-1] if out else None
        if last is not None and last.plain and reply.text and not (reply.image or reply.file):
            out[-1] = replace(reply, text=f"{last.text}\n\n{reply.text}")
        else:
            out.append(reply)
    return out
