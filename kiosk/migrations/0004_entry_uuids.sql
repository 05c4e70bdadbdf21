-- Schema 4: every entry gets a UUID, so a fleet can send it twice harmlessly (NULL for entries recorded before).
ALTER TABLE attendance ADD COLUMN uuid TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS attendance_uuid ON attendance(uuid);
