-- Schema 5: more pictures of a person than the enrolment photo, which stays the reference: templates learnt at the
-- door from confident welcomes, or photos added on the admin page. Each keeps a face-centred image, so a new model
-- can re-embed it.
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    employee_id INTEGER NOT NULL REFERENCES employees(id),
    created TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('door', 'photo')),
    entry_id INTEGER,                -- the punch whose visit it was learnt from (door)
    image_png BLOB NOT NULL,         -- face-centred image any later model can re-align
    face_json TEXT NOT NULL,         -- the face's box, score and keypoints in image_png
    crop_png BLOB NOT NULL,          -- the embedding model's aligned crop
    embedding BLOB NOT NULL,         -- float32 unit vector (door: the visit's fused embedding)
    model_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS templates_employee ON templates(employee_id);
