-- Who may do what (issue 12). A task's owner is the principal that submitted it (key:<name>,
-- jwt:<issuer>|<sub>, cert:<subject>, local); what x-client-name says is kept apart as a label,
-- never an identity. Tasks from before have no owner: only read:all and admin callers see them.
-- Both statements change the catalogue only: no row is rewritten.
ALTER TABLE task RENAME COLUMN owner TO client_name;
ALTER TABLE task ADD COLUMN owner text;

-- Every event carries its task's owner, so that a stream carries a caller only what it may read,
-- when it is replayed from the log as when it is live.
ALTER TABLE task_event_pending ADD COLUMN owner text;
ALTER TABLE task_event ADD COLUMN owner text;
-- A reader of its own tasks resumes its stream from an id.
CREATE INDEX task_event_owner ON task_event (owner, id) WHERE owner IS NOT NULL;
