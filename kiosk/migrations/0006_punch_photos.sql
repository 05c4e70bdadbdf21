-- Schema 6: a small photo of the face behind each punch, so a manager can see who actually stood there. Kept beside the
-- append-only log (never in it), deleted by the kiosk after [attendance] punch_photo_days and with a purge.
CREATE TABLE IF NOT EXISTS punch_photos (
    entry_id INTEGER PRIMARY KEY REFERENCES attendance(id),
    taken TEXT NOT NULL,             -- ISO 8601 with offset
    jpeg BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS punch_photos_taken ON punch_photos(taken);
