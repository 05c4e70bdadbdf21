-- Schema 1: people, one reference crop each, the attendance log.
CREATE TABLE IF NOT EXISTS employees (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS reference_faces (
    employee_id INTEGER PRIMARY KEY REFERENCES employees(id),
    crop_png BLOB NOT NULL,          -- the embedding model's aligned crop
    embedding BLOB NOT NULL,         -- float32 unit vector
    model_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attendance (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    employee_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    day TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    distance REAL,
    kiosk_id TEXT NOT NULL,
    model_version TEXT,
    kind TEXT NOT NULL DEFAULT 'punch' CHECK (kind IN ('punch', 'correction')),
    author TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS attendance_day ON attendance(day, employee_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('gallery_generation', '0');
CREATE TRIGGER IF NOT EXISTS attendance_append_only_update BEFORE UPDATE ON attendance
BEGIN SELECT RAISE(ABORT, 'attendance is append-only: record a correction instead'); END;
CREATE TRIGGER IF NOT EXISTS attendance_append_only_delete BEFORE DELETE ON attendance
WHEN (SELECT value FROM meta WHERE key = 'purging') IS NULL
BEGIN SELECT RAISE(ABORT, 'attendance is append-only: record a correction instead'); END;
