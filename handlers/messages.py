"""What crosses the line between a channel adapter and the flows.

An adapter turns a platform update into an `Incoming` and a `Reply` into a platform
message; nothing else about a platform is known past this module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    # "confirm"), so a channel can offer a picker or a richer layout.
    expects: str | None = None
    # The chosen answer, for channels that edit the question to show it.
    answered: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Reply:
        choices = tuple(Choice(c["label"], c["payload"]) for c in data.get("choices", ()))
        return cls(text=data["text"], choices=choices, image=data.get("image"),
                   file=data.get("file"), expects=data.get("expects"),
                   answered=data.get("answered"), extra=data.get("extra") or {})
