"""The everyday LINE events (a person's text, a button tap) are read at the door without the
SDK's models (bot/line_channel.py `_plain_incoming`): what the engine gets from them is what
the SDK's way gives, and every other event or shape still goes the SDK's way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from linebot.v3.webhooks import Event

from bot import line_channel
from bot.intake import Intake
from bot.line_channel import LineChannel, MalformedBody, received_from
from handlers.engine import Engine
from handlers.messages import Incoming
from storage.db import Database
from tests.servers.line_api import LineTestServer

USER = "U" + "4" * 32


@pytest.fixture
def channel(tmp_path: Path) -> LineChannel:
    db = Database(tmp_path / "never-opened.db")
    return LineChannel(access_token="t", channel_secret="s", engine=Engine(db),
                       intake=Intake(db), media_dir=tmp_path / "media")


def _events(server: LineTestServer) -> list[dict[str, Any]]:
    no_token = server.text_event(USER, "no token")
    del no_token["replyToken"]
    return [server.text_event(USER, "สวัสดี"), server.text_event(USER, "/start ABC123"),
            server.postback_event(USER, "s:3:yes"), server.postback_event(USER, "m:report"),
            no_token]


async def test_text_and_button_taps_read_at_the_door_as_the_sdk_reads_them(
        channel: LineChannel) -> None:
    server = LineTestServer(channel_secret="s", access_token="t")
    for raw in _events(server):
        plain = line_channel._plain_incoming(raw)
        assert isinstance(plain, Incoming)
        assert plain == await channel.incoming_from(Event.from_dict(raw)), raw


@pytest.mark.parametrize("make", [
    lambda s: s.postback_event(USER, "date-picker", params={"date": "2025-01-15"}),
    lambda s: s.group_text_event("C" + "1" * 32, USER, "/link 1234"),
    lambda s: s.follow_event(USER), lambda s: s.unfollow_event(USER),
    lambda s: s.sticker_event(USER), lambda s: s.location_event(USER, 16.4, 102.8),
    lambda s: s.image_event(USER),
])
def test_other_events_go_the_sdk_way(make: Any) -> None:
    raw = make(LineTestServer(channel_secret="s", access_token="t"))
    assert line_channel._plain_incoming(raw) is None
    assert isinstance(line_channel._read_event(raw), Event)


@pytest.mark.parametrize(("change", "refused"), [
    ({"message": {"type": "text", "id": "1", "text": 5}}, True),
    ({"message": {"type": "text", "id": 1, "text": "x"}}, True),
    ({"source": {"type": "user", "userId": 7}}, True),
    ({"source": {"type": "user"}}, False),  # the SDK takes it; nobody to answer: ignored
    ({"replyToken": 12}, True),
    ({"postback": {"data": None}}, True),
])
def test_a_wrong_field_is_never_read_at_the_door(change: dict[str, Any], refused: bool) -> None:
    server = LineTestServer(channel_secret="s", access_token="t")
    raw = server.postback_event(USER, "x") if "postback" in change else server.text_event(
        USER, "x")
    raw.update(change)
    assert line_channel._plain_incoming(raw) is None
    body = json.dumps({"destination": "U1", "events": [raw]})
    if refused:
        with pytest.raises(MalformedBody):  # the SDK's validation refuses it: a 400
            received_from(body)
    else:
        assert isinstance(received_from(body)[0].parsed, Event)
