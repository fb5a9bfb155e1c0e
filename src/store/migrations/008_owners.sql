-- Who may do what (issue 12). A task's principal is the identity that submitted it (key:<name>,
-- jwt:<issuer>|<sub>, cert:<subject>, local); what x-client-name says is kept apart as a label,
-- never an identity. Tasks from before have no principal: only read:all and admin callers see them.
-- The label takes the old column's place (a rename: no row is rewritten) and the principal gets a
-- column of a new name, so that a server of an older version still running against this schema
-- fails on every task it touches instead of writing a header of the client's choosing where an
-- identity is read (stop old servers and recorders before migrating: docs/operations.md).
ALTER TABLE task RENAME COLUMN owner TO client_name;
ALTER TABLE task ADD COLUMN principal text;

-- Every event carries its task's principal, so that a stream carries a caller only what it may
-- read, when it is replayed from the log as when it is live.
ALTER TABLE task_event_pending ADD COLUMN principal text;
ALTER TABLE task_event ADD COLUMN principal text;
-- A reader of its own tasks resumes its stream from an id.
CREATE INDEX task_event_principal ON task_event (principal, id) WHERE principal IS NOT NULL;
