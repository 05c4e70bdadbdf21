-- Schema 2: a face-centred reference image any later model can re-align, and the face found in it.
ALTER TABLE reference_faces ADD COLUMN image_png BLOB;
ALTER TABLE reference_faces ADD COLUMN face_json TEXT;   -- the face's box, score and keypoints in image_png
