-- Schema 9: the webhooks' queue (kiosk/webhook_queue.py). Triggers queue each punch and correction in the transaction
-- that appends it, so nothing recorded is missed by a crash. They queue only while meta 'webhooks' is set, which
-- 'kiosk run' does when [webhooks] urls are configured and undoes (emptying the queue) when they are not: a kiosk
-- without webhooks keeps nothing here. Entries pulled from a fleet database are other doors' (each door sends its own).
CREATE TABLE IF NOT EXISTS webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order they are sent in (AUTOINCREMENT: never reused once pruned)
    event_id TEXT NOT NULL UNIQUE,   -- a UUID the receiver drops duplicates by (a punch's or correction's: the entry's)
    kind TEXT NOT NULL CHECK (kind IN ('punch', 'correction', 'spoof', 'camera_down', 'camera_up')),
    queued REAL NOT NULL,            -- Unix time; given up [webhooks] keep_hours later
    entry_id INTEGER,                -- punch, correction: the attendance row, read when sent
    data TEXT                        -- the other kinds: what the body says, JSON
);
-- Each URL's place in the queue, by the SHA-256 of the URL (a URL can carry a secret). Events every URL has had go.
CREATE TABLE IF NOT EXISTS webhook_targets (
    target TEXT PRIMARY KEY,
    sent_up_to INTEGER NOT NULL      -- webhook_events.id delivered (or given up) up to
);
CREATE TRIGGER IF NOT EXISTS attendance_webhook AFTER INSERT ON attendance
WHEN (SELECT value FROM meta WHERE key = 'webhooks') IS NOT NULL AND (SELECT value FROM meta WHERE key = 'pulling') IS NULL
BEGIN
    INSERT INTO webhook_events (event_id, kind, queued, entry_id) VALUES (
        COALESCE(NEW.uuid, lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
            || '-' || substr('89AB', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
        CASE NEW.kind WHEN 'punch' THEN 'punch' ELSE 'correction' END,
        (julianday('now') - 2440587.5) * 86400.0,
        NEW.id
    );
END;
-- A purged person's entries take their undelivered events with them.
CREATE TRIGGER IF NOT EXISTS attendance_webhook_purge AFTER DELETE ON attendance
BEGIN DELETE FROM webhook_events WHERE entry_id = OLD.id; END;
