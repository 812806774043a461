-- The LINE rich menus `cercap-bot line setup-richmenu` installed: one per role, and the
-- default for people who have not joined. A person is linked to the menu of their role.
CREATE TABLE line_rich_menus (
    menu_key TEXT PRIMARY KEY,  -- a role (village_committee, core_team, ...) or 'default'
    rich_menu_id TEXT NOT NULL,
    installed_at TEXT NOT NULL
);
