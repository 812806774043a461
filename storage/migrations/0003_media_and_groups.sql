-- The platform's own id of a report photo (Telegram file_id, LINE message id), kept
-- beside the local copy in the media folder.
ALTER TABLE problems ADD COLUMN photo_platform_id TEXT;

-- Group chats a core team linked to receive its tambon's notifications.
CREATE TABLE notification_groups (
    channel   TEXT NOT NULL,
    chat_id   TEXT NOT NULL,
    area_code TEXT NOT NULL REFERENCES areas(code),
    linked_by INTEGER REFERENCES people(id),
    linked_at TEXT NOT NULL,
    active    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (channel, chat_id, area_code)
);
CREATE INDEX notification_groups_area ON notification_groups(area_code);

-- Per-chat order in the outbox: the sender looks for earlier pending rows of a chat.
CREATE INDEX outbox_chat ON outbox(channel, chat_id, status, id);
