-- Schema 3: when each person is due, and corrections as kinds of their own (added, void, redirect).
-- The attendance table is rebuilt with the new checks and every row copied (old corrections were added punches).
ALTER TABLE employees ADD COLUMN expected_start TEXT;    -- local HH:MM they are due, for "late" and "not arrived"
ALTER TABLE attendance RENAME TO attendance_v2;
DROP TRIGGER IF EXISTS attendance_append_only_update;
DROP TRIGGER IF EXISTS attendance_append_only_delete;
DROP INDEX IF EXISTS attendance_day;
CREATE TABLE attendance (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    employee_id INTEGER NOT NULL,
    at TEXT NOT NULL,                -- ISO 8601 with UTC offset: the punch (void/redirect: when the correction was made)
    day TEXT NOT NULL,               -- the work day it counted for when recorded
    direction TEXT CHECK (direction IN ('in', 'out')),  -- NULL for a void
    distance REAL,
    kiosk_id TEXT NOT NULL,
    model_version TEXT,
    kind TEXT NOT NULL DEFAULT 'punch' CHECK (kind IN ('punch', 'added', 'void', 'redirect')),
    author TEXT,
    note TEXT,
    target_id INTEGER REFERENCES attendance(id),  -- the entry a void or redirect corrects
    CHECK ((kind IN ('void', 'redirect')) = (target_id IS NOT NULL)),
    CHECK (kind = 'void' OR direction IS NOT NULL)
);
INSERT INTO attendance (id, employee_id, at, day, direction, distance, kiosk_id, model_version, kind, author, note)
SELECT id, employee_id, at, day, direction, distance, kiosk_id, model_version,
       CASE kind WHEN 'correction' THEN 'added' ELSE kind END, author, note FROM attendance_v2;
DROP TABLE attendance_v2;
CREATE INDEX attendance_day ON attendance(day, employee_id);
CREATE TRIGGER attendance_append_only_update BEFORE UPDATE ON attendance
BEGIN SELECT RAISE(ABORT, 'attendance is append-only: record a correction instead'); END;
CREATE TRIGGER attendance_append_only_delete BEFORE DELETE ON attendance
WHEN (SELECT value FROM meta WHERE key = 'purging') IS NULL
BEGIN SELECT RAISE(ABORT, 'attendance is append-only: record a correction instead'); END;
