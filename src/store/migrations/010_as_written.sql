-- A task's input and result are kept as written (issue 13): `json` keeps the text (key order,
-- number spelling, repeated keys) where `jsonb` normalised it, and costs less to write. Nothing
-- queries inside them; the result cache keys on a canonical form computed in Errand.
ALTER TABLE task ALTER COLUMN input TYPE json USING input::text::json;
ALTER TABLE task ALTER COLUMN result TYPE json USING result::text::json
