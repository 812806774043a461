"""The LINE channel: line-bot-sdk v3 (async API) in, outbox rows out. It only translates.

`POST /line/callback` checks `X-Line-Signature` over the raw body, stores the events
(`bot/intake.py`) and only then answers 200; the events are handled from the store, one
person's in order. Replies use the event's reply token while it is fresh, and fall back to a
push with an `X-Line-Retry-Key` stored with the outbox row, so a retry never doubles
a message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    ShowLoadingAnimationRequest,
)
from linebot.v3.webhook import SignatureValidator
from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    GroupSource,
    ImageMessageContent,
    JoinEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    TextMessageContent,
    UnfollowEvent,
)

from bot.config import StartupError
from bot.intake import Intake, IntakeChannel, Received, StoredRef
from bot.line_text import ELLIPSIS, fit, fits, utf16_chunks, utf16_len
from bot.media_files import save_photo
from bot.media_links import MediaLinks
from bot.outbox_sender import Blocked, Failed, Retry, SendOutcome, Sent

# RICH_MENU_LINK: an outbox row that is an action, not a message (link the user to a rich
# menu); REASKED: a question asked again after a notification, shown with quick replies
# though it is not a live reply.
from handlers.engine import REASKED, Engine
from handlers.line_menus import RICH_MENU_LINK
from handlers.messages import Choice, Incoming, Location, Reply
from handlers.turn import NAV_PREFIX
from locales import DEFAULT_LANGUAGE, t
from storage.outbox import LIVE_REPLY, OutboxMessage

log = logging.getLogger(__name__)

# (channel, chat_id, outbox row id) -> the question open in that chat, to ask again
OpenQuestion = Callable[[str, str, int], Awaitable[Reply | None]]

CHANNEL = "line"
TIMEOUT = 10.0  # seconds for every LINE API call; the SDK's default is 300
REPLY_TOKEN_TTL = timedelta(seconds=50)  # LINE allows about a minute; keep a margin
MAX_MESSAGES_PER_CALL = 5
QUICK_REPLY_MAX = 13
# LINE's limits, each in its own unit (bot/line_text.py): action labels and displayText in
# grapheme clusters, message text in UTF-16 code units.
QUICK_LABEL_MAX = 20  # a quick reply button's label
FLEX_LABEL_MAX = 40  # a Flex Message button's label
DISPLAY_TEXT_MAX = 300  # what a postback shows in the chat as the person's message
TEXT_MAX = 5000  # one text message
# The text of one Flex bubble: LINE's limit is the bubble's size (30 KB of JSON, where a
# Thai letter is sent as a 6-byte \\u escape); a longer screen goes as text messages first,
# then a bubble with the rest and the buttons.
BUBBLE_TEXT_MAX = 2000
BUTTONS_PER_PAGE = 8
LOADING_AFTER_SECONDS = 0.4
RENDERED_KEPT = 1000  # rows rendered for batching, waiting to be sent
QUOTA_CHECK_EVERY = 100  # pushes
QUOTA_WARN_SHARE = 0.9
QUOTA_RETRY_SECONDS = 3600.0
REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
# Questions whose quick replies are pickers.
PICKERS = ("location", "photo", "photo_or_location", "date")
# A question's navigation buttons (handlers/turn.py Turn.ask): quick replies on the newest
# message even where the question's own buttons are laid out in a bubble or a carousel.
NAVIGATION = frozenset(f"{NAV_PREFIX}{word}" for word in ("keep", "back", "cancel"))
GROUP_GREETING = "/start"  # what joining a group is to the engine: the group's greeting


# --- rendering: Reply -> LINE message objects (plain JSON dicts) ------------------------

def _postback(choice: Choice, label_max: int = QUICK_LABEL_MAX) -> dict[str, Any]:
    return {"type": "postback", "label": fit(choice.label, label_max), "data": choice.payload,
            "displayText": fit(choice.label, DISPLAY_TEXT_MAX)}


def _pickers(reply: Reply) -> list[dict[str, Any]]:
    """The quick replies that open LINE's own pickers for what the question takes: its
    `expects`, or what a confirmation screen also attaches (extra "attach")."""
    takes = reply.extra.get("attach") if reply.expects == "confirm" else reply.expects
    actions: list[dict[str, Any]] = []
    if takes in ("location", "photo_or_location"):
        actions.append({"type": "location",
                        "label": fit(reply.extra.get("share_location", "Location"),
                                     QUICK_LABEL_MAX)})
    if takes in ("photo", "photo_or_location"):
        actions += [{"type": "camera", "label": "📷"}, {"type": "cameraRoll", "label": "🖼"}]
    elif takes == "date":
        actions.append({"type": "datetimepicker", "label": "📅", "data": "date-picker",
                        "mode": "date"})
    return actions


def _quick_items(actions: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not actions:
        return None
    return {"items": [{"type": "action", "action": a} for a in actions]}


def _with_quick(messages: list[dict[str, Any]], actions: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """`actions` as quick replies on the last message (LINE shows the newest message's)."""
    quick = _quick_items(actions)
    if quick and messages:
        messages[-1]["quickReply"] = quick
    return messages


def _split(text: str) -> list[str]:
    return utf16_chunks(text, TEXT_MAX)


def _button(choice: Choice, primary: bool = False) -> dict[str, Any]:
    # A label a little too wide for the bubble is drawn smaller, never cut on the screen.
    return {"type": "button", "action": _postback(choice, FLEX_LABEL_MAX), "height": "sm",
            "style": "primary" if primary else "secondary", "margin": "sm",
            "adjustMode": "shrink-to-fit"}


def _bubble(text: str | None, buttons: list[dict[str, Any]]) -> dict[str, Any]:
    bubble: dict[str, Any] = {"type": "bubble"}
    if text:
        bubble["body"] = {"type": "box", "layout": "vertical",
                          "contents": [{"type": "text", "text": text, "wrap": True}]}
    if buttons:
        bubble["footer"] = {"type": "box", "layout": "vertical", "contents": buttons}
    return bubble


def _alt_text(text: str) -> str:
    """What a chat list or notification shows for a Flex message: the question, which is
    the first line of the last paragraph (a note such as "please use the buttons" may
    come above it in the same reply)."""
    return _first_line(text.rsplit("\n\n", 1)[-1])


def _first_line(text: str) -> str:
    return (text.splitlines() or ["…"])[0][:400] or "…"


def _quick_replies_fit(reply: Reply) -> bool:
    """Whether every button shows its whole label as a quick reply (20 characters)."""
    return all(fits(c.label, QUICK_LABEL_MAX) for c in reply.choices)


def _tail_for_bubble(text: str) -> tuple[str, str]:
    """(what goes first as text messages, what the bubble shows): the bubble takes as many
    whole last lines as fit, so the closing fields stay beside the buttons."""
    lines = text.split("\n")
    size, start = 0, len(lines)
    while start > 0 and size + utf16_len(lines[start - 1]) + 1 <= BUBBLE_TEXT_MAX:
        start -= 1
        size += utf16_len(lines[start]) + 1
    if start == len(lines):  # the last line alone is longer: the bubble repeats the title
        return text, lines[0][:BUBBLE_TEXT_MAX]
    return "\n".join(lines[:start]), "\n".join(lines[start:])


def _with_buttons(reply: Reply, primary_first: bool, alt: str) -> list[dict[str, Any]]:
    """A text with its buttons in a Flex bubble, where labels may be twice as long as a
    quick reply's and stay on the screen. A text longer than a bubble takes goes as text
    messages first (at most four, so the whole reply is one reply call of five)."""
    buttons = [_button(c, primary=primary_first and i == 0)
               for i, c in enumerate(reply.choices)]
    if utf16_len(reply.text) <= BUBBLE_TEXT_MAX:
        return [{"type": "flex", "altText": alt, "contents": _bubble(reply.text, buttons)}]
    lead, tail = _tail_for_bubble(reply.text)
    chunks = _split(lead)
    room = MAX_MESSAGES_PER_CALL - 1
    if len(chunks) > room:  # over 15,000 characters: the rest is cut, said with an ellipsis
        chunks = [*chunks[:room - 1], _split("\n".join(chunks[room - 1:]))[0][:-1] + ELLIPSIS]
    return [*({"type": "text", "text": c} for c in chunks),
            {"type": "flex", "altText": alt, "contents": _bubble(tail, buttons)}]


def _attachments(reply: Reply, links: MediaLinks | None) -> tuple[str, list[dict[str, Any]]]:
    """Images and files go by URL on LINE: a signed link to the media folder. Without a
    public address the text says where to get them instead."""
    text, extra = reply.text, []
    language = str(reply.extra.get("language", DEFAULT_LANGUAGE))
    if reply.image and links:
        url = links.url(reply.image)
        extra.append({"type": "image", "originalContentUrl": url, "previewImageUrl": url})
    if reply.file:
        text += "\n" + (t(language, "summary.link", name=Path(reply.file).name,
                           url=links.url(reply.file)) if links
                         else t(language, "summary.file_unavailable"))
    return text, extra


def render(reply: Reply, links: MediaLinks | None = None, *,
           keep_buttons: bool = False) -> list[dict[str, Any]]:
    """One outbox Reply as LINE messages. A confirmation screen (with LINE's pickers as
    quick replies when it also attaches a photo or a location) and, with `keep_buttons`
    (a notification), any buttons go in a Flex bubble, or a carousel of button pages for
    more than 13. A question: its buttons and pickers as quick replies when they fit (13,
    each label whole); otherwise its own buttons in a bubble or a carousel and its
    pickers and navigation as quick replies on it (`_question_on_screen`). Images and files
    as signed links. An action row (RICH_MENU_LINK) is no message at all."""
    if RICH_MENU_LINK in reply.extra:
        return []
    if reply.image or reply.file:
        text, images = _attachments(reply, links)
        return [*render(Reply(text, reply.choices, expects=reply.expects, extra=reply.extra),
                        keep_buttons=keep_buttons), *images]
    if keep_buttons or reply.expects == "confirm":
        # Every button on the screen; a confirmation screen that also attaches a photo or
        # a location offers LINE's pickers as quick replies.
        pickers = _pickers(reply) if reply.expects == "confirm" else []
        if len(reply.choices) > QUICK_REPLY_MAX:
            return _with_quick(_carousel(reply.text, reply.choices), pickers)
        if reply.choices:
            alt = _first_line(reply.text) if keep_buttons else _alt_text(reply.text)
            return _with_quick(_with_buttons(reply, reply.expects == "confirm", alt), pickers)
    elif reply.choices and (
            len(_pickers(reply)) + len(reply.choices) > QUICK_REPLY_MAX
            or (reply.expects not in PICKERS and not _quick_replies_fit(reply))):
        return _question_on_screen(reply)
    messages: list[dict[str, Any]] = [{"type": "text", "text": t} for t in _split(reply.text)]
    return _with_quick(messages, [*_pickers(reply), *(_postback(c) for c in reply.choices)])


def _carousel(text: str, choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    """The text, then the buttons as a carousel of pages (more than a bubble holds)."""
    pages = [choices[i:i + BUTTONS_PER_PAGE] for i in range(0, len(choices), BUTTONS_PER_PAGE)]
    carousel = {"type": "carousel",
                "contents": [_bubble(None, [_button(c) for c in page]) for page in pages]}
    return [{"type": "text", "text": t} for t in _split(text)] + [
        {"type": "flex", "altText": _alt_text(text), "contents": carousel}]


def _question_on_screen(reply: Reply) -> list[dict[str, Any]]:
    """A question whose buttons do not all fit as quick replies (more than 13 with its
    pickers and navigation, as the 13 problem categories with back and cancel, or labels
    longer than a quick reply shows): its own buttons in a bubble (up to 13) or a
    carousel of pages, with whole labels; its pickers and navigation (keep, back, cancel)
    as quick replies on that same message, the newest, so none is ever left off."""
    navigation = tuple(c for c in reply.choices if c.payload in NAVIGATION)
    own = tuple(c for c in reply.choices if c.payload not in NAVIGATION)
    if len(own) > QUICK_REPLY_MAX:
        messages = _carousel(reply.text, own)
    elif own:
        messages = _with_buttons(replace(reply, choices=own), False, _alt_text(reply.text))
    else:
        messages = [{"type": "text", "text": t} for t in _split(reply.text)]
    return _with_quick(messages, [*_pickers(reply), *(_postback(c) for c in navigation)])


def render_row(message: OutboxMessage, links: MediaLinks | None = None
               ) -> list[dict[str, Any]]:
    """An outbox row as LINE messages: a notification's buttons stay on the screen (a
    bubble), since a later message takes quick replies away; a live reply's and a question
    asked again are quick replies, on the newest message."""
    reply = Reply.from_payload(message.payload)
    keep = message.priority != LIVE_REPLY and not reply.extra.get(REASKED)
    return render(reply, links, keep_buttons=keep)


# --- delivery ------------------------------------------------------------------------------

class LineSender:
    """Delivers outbox rows of the LINE channel: reply while the token is fresh, else push."""

    channel = CHANNEL

    def __init__(self, api: Callable[[], AsyncMessagingApi],
                 clock: Callable[[], float] = time.time,
                 links: MediaLinks | None = None,
                 open_question: OpenQuestion | None = None) -> None:
        self._api = api
        self.links = links
        self.clock = clock
        self._pushes_since_check = 0
        self.pushes = 0  # push calls LINE accepted since start (bot/metrics.py)
        self.quota: tuple[int, int] | None = None  # (used, limit) as LINE last said
        self._open_question = open_question
        # Rows rendered to count them for a batch (`batch_size`), sent right after, with
        # the payload each was rendered from.
        self._rendered: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}

    def batch_key(self, message: OutboxMessage) -> str | None:
        """Rows with the same reply token are answered in one reply call."""
        return message.reply_token

    def batch_size(self, message: OutboxMessage) -> int:
        rendered = render_row(message, self.links)
        if len(self._rendered) >= RENDERED_KEPT:  # rows counted, never sent here
            self._rendered.clear()
        self._rendered[message.id] = (message.payload, rendered)
        return len(rendered)

    def _messages(self, row: OutboxMessage) -> list[dict[str, Any]]:
        """The row as LINE messages: as `batch_size` rendered it a moment ago, if it did
        from this very payload (the sender's `prepare` replaces a request for content, a
        summary or a copy of one's data, with the message itself after it was counted)."""
        kept = self._rendered.pop(row.id, None)
        if kept is not None and kept[0] is row.payload:
            return kept[1]
        return render_row(row, self.links)

    max_batch = MAX_MESSAGES_PER_CALL

    async def send(self, message: OutboxMessage) -> SendOutcome:
        return await self.send_many([message])

    async def send_many(self, batch: list[OutboxMessage]) -> SendOutcome:
        first = batch[0]
        link = (first.payload.get("extra") or {}).get(RICH_MENU_LINK)
        if link:  # an action row: never batched (it has no reply token)
            self._rendered.pop(first.id, None)
            return await self._link_rich_menu(first.chat_id, str(link["id"]))
        messages = [m for row in batch for m in self._messages(row)]
        last = batch[-1]
        if self._open_question and last.priority != LIVE_REPLY:
            # LINE shows quick replies only on the newest message: a notification (a
            # reminder, an announcement) that arrives while a question is open hides its
            # buttons, so the question comes again after it, in the same push.
            question = await self._open_question(CHANNEL, last.chat_id, last.id)
            if question is not None:
                messages += render(question, self.links)
        token = first.reply_token
        fresh = token and self.clock() - first.created_at.timestamp() < \
            REPLY_TOKEN_TTL.total_seconds()
        if token and fresh:
            try:
                await self._post(REPLY_PATH, {"replyToken": token, "messages": messages})
                return Sent()
            except ApiException as exc:
                if exc.status != 400:
                    return self._outcome(exc)
                if any(row.in_doubt for row in batch):
                    # A sender died after sending this reply, before recording it (the
                    # shared outbox): a token still fresh that LINE refuses was used then.
                    log.info("line: in-doubt reply to %s was sent already", first.chat_id)
                    return Sent()
                log.info("line: reply token rejected for %s, pushing instead", first.chat_id)
        return await self._push(first, messages)

    async def _link_rich_menu(self, user_id: str, rich_menu_id: str) -> SendOutcome:
        """Show this user the rich menu of their role. A menu LINE no longer has (the menus
        were installed again since) fails this row only: it never blocks the chat."""
        try:
            await self._api().link_rich_menu_id_to_user(user_id, rich_menu_id,
                                                        _request_timeout=TIMEOUT)
        except ApiException as exc:
            status = exc.status or 0
            reason = f"rich menu link {status}: {str(exc.body or '')[:300]}"
            return Retry(reason) if status == 429 or status >= 500 else Failed(reason)
        return Sent()

    async def _push(self, first: OutboxMessage, messages: list[dict[str, Any]]) -> SendOutcome:
        outcome: SendOutcome = Sent()
        for start in range(0, len(messages), MAX_MESSAGES_PER_CALL):
            chunk = messages[start:start + MAX_MESSAGES_PER_CALL]
            # One retry key per row and chunk: a retried push LINE already accepted
            # answers 409 and is not delivered again.
            key = first.retry_key if start == 0 else _derived_key(first.retry_key, start)
            try:
                await self._post(PUSH_PATH, {"to": first.chat_id, "messages": chunk},
                                 {"X-Line-Retry-Key": key})
                self.pushes += 1
            except ApiException as exc:
                if exc.status == 409:
                    continue  # accepted before: delivered once already
                outcome = self._outcome(exc)
                break
        self._pushes_since_check += 1
        if self.quota_check_due:
            await self.check_quota()
        return outcome

    async def _post(self, path: str, body: dict[str, Any],
                    headers: dict[str, str] | None = None) -> None:
        """POST a body that is LINE's JSON already (`render`) on the SDK client's own
        session, with its headers (the token, its User-Agent) and proxy; a refusal raises
        the SDK's ApiException, as its calls do. The SDK's request models would only parse
        the body and write it back (a third of the CPU an event costs), and its generic
        `call_api` walks the body again and reads the answer it is not asked to return."""
        client = self._api().api_client
        configuration = client.configuration
        async with client.rest_client.pool_manager.post(
                configuration.host + path, data=json.dumps(body),
                headers={**client.default_headers, **JSON_HEADERS, **(headers or {})},
                proxy=configuration.proxy,
                timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as response:
            if not 200 <= response.status <= 299:
                refused = ApiException(status=response.status, reason=response.reason)
                refused.body = (await response.read()).decode("utf-8", "replace")
                refused.headers = response.headers
                raise refused
            await response.read()

    @staticmethod
    def _outcome(exc: ApiException) -> SendOutcome:
        status = exc.status or 0
        body = str(exc.body or "")[:300]
        if status == 429 and "monthly limit" in body.lower():
            # The month's push quota is used up: trying again within minutes is useless.
            return Retry(f"{status}: {body}", QUOTA_RETRY_SECONDS)
        if status == 429 or status >= 500:
            return Retry(f"{status}: {body}")
        if status in (403, 404) or "not found" in body.lower():
            return Blocked(f"{status}: {body}")
        return Failed(f"{status}: {body}")

    @property
    def quota_check_due(self) -> bool:
        return self._pushes_since_check >= QUOTA_CHECK_EVERY

    async def check_quota(self, at_start: bool = False) -> tuple[int, int] | None:
        """(used, limit) of the month's pushes; warns when near the limit. At start, a token
        that LINE refuses stops the bot (every reply would fail)."""
        self._pushes_since_check = 0
        try:
            quota = await self._api().get_message_quota(_request_timeout=TIMEOUT)
            used = await self._api().get_message_quota_consumption(_request_timeout=TIMEOUT)
        except ApiException as exc:
            if at_start and exc.status == 401:
                raise StartupError("LINE rejected LINE_CHANNEL_ACCESS_TOKEN (401): issue a "
                                   "channel access token in the LINE Developers console"
                                   ) from None
            log.warning("line: could not read the push quota: %s", exc.status)
            return None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("line: could not read the push quota: %s", exc)
            return None
        if quota.type != "limited" or not quota.value:
            return None
        limit, total = int(quota.value), int(used.total_usage)
        self.quota = (total, limit)
        if total >= QUOTA_WARN_SHARE * limit:
            log.warning("line: %d of this month's %d pushes used: notifications may stop soon",
                        total, limit)
        return total, limit


def _proxy_for(url: str) -> str | None:
    """The proxy the environment (HTTPS_PROXY, NO_PROXY) names for the LINE API, read once."""
    if urllib.request.proxy_bypass(urlsplit(url).hostname or ""):
        return None
    return urllib.request.getproxies().get(urlsplit(url).scheme)


async def _without_per_request_env_lookups(client: AsyncApiClient) -> None:
    """The SDK's aiohttp session trusts the environment, so every call looks up ~/.netrc
    and the proxy variables in a worker thread (two thread hand-offs a message). The
    proxy is read once instead (`_proxy_for`), and the session does not look again."""
    rest = client.rest_client
    connector = rest.pool_manager.connector
    await rest.pool_manager.close()
    configuration = client.configuration
    ssl_context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    rest.pool_manager = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connector.limit if connector else 100,
                                       ssl=ssl_context),
        trust_env=False)


def _derived_key(key: str, n: int) -> str:
    import uuid

    return str(uuid.uuid5(uuid.UUID(key), str(n)))


# --- receiving -----------------------------------------------------------------------------

class MalformedBody(ValueError):
    """A signed request whose body is not what LINE sends."""


def _parse_event(event: Any) -> Event | None:
    """A webhook event as the SDK's object; None for an event type this SDK does not know
    (LINE adds types: they are acknowledged and ignored, never refused)."""
    if not isinstance(event, dict):
        raise MalformedBody(f"an event that is not an object: {type(event).__name__}")
    if not isinstance(event.get("type"), str) or Event.get_discriminator_value(event) is None:
        return None
    try:
        return Event.from_dict(event)
    except Exception as exc:  # pydantic's ValidationError, KeyError, TypeError …
        raise MalformedBody(f"a {event['type']} event LINE would not send: {exc}") from exc


def _plain_incoming(event: dict[str, Any]) -> Incoming | None:
    """The everyday event, a person's own text message or button tap (a postback with no
    picker), read straight from LINE's JSON into what the engine takes; None for any other
    event or shape, which goes the SDK's way (`_parse_event`, its validation, then
    `incoming_from`). Every field used is checked for its type here, as the SDK's model
    would check it (a person typing is most of the traffic: the model's validation and
    its objects were a tenth of the bot's work per event)."""
    source, event_id = event.get("source"), event.get("webhookEventId")
    if (not isinstance(source, dict) or source.get("type") != "user"
            or not isinstance(event_id, str) or not event_id):
        return None
    user_id, token = source.get("userId"), event.get("replyToken")
    if not isinstance(user_id, str) or not user_id or not isinstance(token, str | None):
        return None
    kind = event.get("type")
    if kind == "message":
        message = event.get("message")
        if (not isinstance(message, dict) or message.get("type") != "text"
                or not isinstance(message.get("id"), str)
                or not isinstance(text := message.get("text"), str)):
            return None
        return Incoming(channel=CHANNEL, user_id=user_id, chat_id=user_id, update_id=event_id,
                        reply_token=token, text=text)
    if kind == "postback":
        postback = event.get("postback")
        if (not isinstance(postback, dict) or postback.get("params") is not None
                or not isinstance(data := postback.get("data"), str)):
            return None
        return Incoming(channel=CHANNEL, user_id=user_id, chat_id=user_id, update_id=event_id,
                        reply_token=token, payload=data)
    return None


def _read_event(event: Any) -> Incoming | Event | None:
    """A stored or arriving event: the everyday kinds as the engine's Incoming already,
    the others as the SDK's object (None for a type this SDK does not know)."""
    if isinstance(event, dict) and (plain := _plain_incoming(event)) is not None:
        return plain
    return _parse_event(event)


def _person_key(event: dict[str, Any]) -> str:
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    assert isinstance(source, dict)
    who = source.get("userId") or source.get("groupId") or source.get("roomId") or "-"
    return f"{CHANNEL}:{who}"


def received_from(body: str) -> list[Received]:
    """The events of a webhook body, ready to store; raises MalformedBody."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedBody(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise MalformedBody("no list of events")
    destination = data.get("destination") or ""
    if not isinstance(destination, str):
        raise MalformedBody("destination is not a string")
    received: list[Received] = []
    for raw in data["events"]:
        event = _read_event(raw)
        event_id = raw.get("webhookEventId")
        if event is None or not isinstance(event_id, str) or not event_id:
            log.info("line webhook: event of type %r ignored", raw.get("type"))
            continue
        received.append(Received(update_key=f"{destination}:{event_id}",
                                 person_key=_person_key(raw),
                                 body=json.dumps(raw, ensure_ascii=False), parsed=event))
    return received


class LineChannel:
    def __init__(self, *, access_token: str, channel_secret: str, engine: Engine,
                 intake: Intake, media_dir: Path, api_host: str | None = None,
                 max_photo_bytes: int = 10_000_000, links: MediaLinks | None = None) -> None:
        self.access_token = access_token
        self.signatures = SignatureValidator(channel_secret)
        self.engine = engine
        self.intake = intake
        self.media_dir = media_dir
        self.api_host = api_host.rstrip("/") if api_host else None
        self.max_photo_bytes = max_photo_bytes
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None
        self._blob: AsyncMessagingApiBlob | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sender = LineSender(self.api, links=links, open_question=engine.open_question)
        intake.add_channel(IntakeChannel(CHANNEL, self._parse_stored, self._handle_stored,
                                         self._apologize))

    def api(self) -> AsyncMessagingApi:
        if self._api is None:
            raise RuntimeError("the LINE channel is not started")
        return self._api

    async def start(self) -> None:
        # Created inside the running loop: at import time it crashes with current aiohttp.
        configuration = Configuration(access_token=self.access_token)
        if self.api_host:
            configuration = Configuration(host=self.api_host, access_token=self.access_token)
        configuration.proxy = _proxy_for(configuration.host)
        self._client = AsyncApiClient(configuration)
        await _without_per_request_env_lookups(self._client)
        self._api = AsyncMessagingApi(self._client)
        self._blob = AsyncMessagingApiBlob(self._client)
        await self.sender.check_quota(at_start=True)

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """Check the signature, store the events, and only then answer 200. A body that
        cannot be stored answers 500, and LINE delivers it again."""
        signature = request.headers.get("X-Line-Signature")
        raw = await request.read()
        if not signature:
            log.warning("line webhook: request without X-Line-Signature from %s", request.remote)
            return web.Response(status=400, text="missing signature")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("line webhook: a body that is not UTF-8 from %s", request.remote)
            return web.Response(status=400, text="unreadable body")
        if not self.signatures.validate(body, signature):
            log.warning("line webhook: invalid signature from %s", request.remote)
            return web.Response(status=400, text="invalid signature")
        try:
            received = received_from(body)
        except MalformedBody as exc:
            log.warning("line webhook: signed but malformed body from %s: %s",
                        request.remote, exc)
            return web.Response(status=400, text="malformed body")
        try:
            await self.intake.accept(CHANNEL, received)
        except Exception:
            log.exception("line webhook: could not store %d events; LINE will redeliver",
                          len(received))
            return web.Response(status=500, text="not stored")
        return web.Response(status=200, text="OK")

    @staticmethod
    def _parse_stored(body: str) -> Incoming | Event | None:
        return _read_event(json.loads(body))

    async def _handle_stored(self, stored: StoredRef, event: Incoming | Event | None) -> bool:
        return await self.process(event, stored)

    async def _apologize(self, event: Incoming | Event | None) -> None:
        if isinstance(event, Incoming):  # a person's own message (`_plain_incoming`)
            await self.engine.apologize(CHANNEL, event.user_id, event.chat_id)
            return
        source = getattr(event, "source", None)
        user_id = getattr(source, "user_id", None)
        if user_id and not isinstance(source, GroupSource | RoomSource):
            await self.engine.apologize(CHANNEL, user_id, user_id)

    async def process(self, event: Incoming | Event | None,
                      stored: StoredRef | None = None) -> bool:
        """Handle one event; True when the engine's transaction took its stored row. A
        person's own text or tap comes read at the door already (`_plain_incoming`)."""
        if event is None:
            return False
        if isinstance(event, UnfollowEvent):
            user_id = getattr(event.source, "user_id", None)
            if user_id:
                await self.engine.mark_unreachable(CHANNEL, user_id)
            return False
        if isinstance(event, Incoming):
            user_id: str | None = event.user_id
        else:
            source = getattr(event, "source", None)
            user_id = (None if isinstance(source, GroupSource | RoomSource)
                       else getattr(source, "user_id", None))
        # Usually the answer is queued within a millisecond and the timer never fires;
        # a photo download or a busy database shows the animation.
        loading = (asyncio.get_running_loop().call_later(
            LOADING_AFTER_SECONDS, self._start_loading, user_id) if user_id else None)
        try:
            incoming = event if isinstance(event, Incoming) else await self.incoming_from(event)
            if incoming is None:
                return False
            if stored is not None:
                incoming = replace(incoming, update_id=stored.update_key, inbox_id=stored.id)
            await self.engine.handle(incoming)
        finally:
            if loading is not None:
                loading.cancel()
        return stored is not None

    def _start_loading(self, chat_id: str) -> None:
        task = asyncio.create_task(self._show_loading(chat_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def incoming_from(self, event: Event) -> Incoming | None:
        source = getattr(event, "source", None)
        user_id = getattr(source, "user_id", None)
        event_id = getattr(event, "webhook_event_id", None)
        if isinstance(event, JoinEvent) and event_id:
            # The bot was added to a group (or a room): it greets the group, which learns
            # how to link it (a group command, as a group's first word).
            group = getattr(source, "group_id", None) or getattr(source, "room_id", None)
            if not group:
                return None
            return Incoming(channel=CHANNEL, user_id=group, chat_id=group, update_id=event_id,
                            reply_token=event.reply_token, text=GROUP_GREETING,
                            is_group=True)
        if user_id is None or event_id is None:
            return None
        is_group = isinstance(source, GroupSource | RoomSource)
        chat_id = (source.group_id if isinstance(source, GroupSource)
                   else source.room_id if isinstance(source, RoomSource) else user_id)
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": user_id, "chat_id": chat_id,
                                "update_id": event_id,
                                "reply_token": getattr(event, "reply_token", None)}
        if is_group:
            message = getattr(event, "message", None)
            text = message.text if isinstance(message, TextMessageContent) else ""
            if not text.startswith("/"):
                return None
            return Incoming(**base, text=text, is_group=True)
        if isinstance(event, FollowEvent):
            return Incoming(**base, text="/start")
        if isinstance(event, PostbackEvent):
            params = event.postback.params or {}
            picked = params.get("date") or params.get("datetime") or params.get("time")
            if picked:
                return Incoming(**base, text=str(picked))
            return Incoming(**base, payload=event.postback.data)
        if not isinstance(event, MessageEvent):
            return None
        message = event.message
        if isinstance(message, TextMessageContent):
            return Incoming(**base, text=message.text)
        if isinstance(message, LocationMessageContent):
            return Incoming(**base, location=Location(message.latitude, message.longitude))
        if isinstance(message, ImageMessageContent):
            if not await self.engine.has_joined(CHANNEL, user_id):
                return Incoming(**base, unsupported="photo")  # nothing kept from strangers
            return Incoming(**base, photo=await self._download(message.id), photo_id=message.id)
        return Incoming(**base, unsupported=str(getattr(message, "type", "other")))

    async def _download(self, message_id: str) -> str | None:
        """The photo into the media folder; None when it cannot be fetched (the message
        id is kept, so it can be fetched later)."""
        assert self._blob is not None
        try:
            content = await self._blob.get_message_content(message_id,
                                                           _request_timeout=TIMEOUT)
        except (TimeoutError, ApiException, OSError) as exc:
            log.warning("line: fetching photo %s failed: %s", message_id, exc)
            return None
        if len(content) > self.max_photo_bytes:
            log.warning("line: photo %s is %d bytes, over the limit", message_id, len(content))
            return None
        return await save_photo(self.media_dir, CHANNEL, message_id, bytes(content))

    async def _show_loading(self, chat_id: str) -> None:
        try:
            await self.api().show_loading_animation(
                ShowLoadingAnimationRequest(chatId=chat_id, loadingSeconds=5),
                _request_timeout=TIMEOUT)
        except (TimeoutError, ApiException, OSError) as exc:
            log.info("line: loading animation failed: %s", exc)

