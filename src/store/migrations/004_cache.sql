-- The result cache: one entry per key (a hash of service, version and canonical input), pointing
-- at the task that holds, or will hold, the result. An entry is served while its task is queued
-- or running (a submission joins it) or, once `ready`, until `expires_at` (a submission gets the
-- finished task). A task that fails, is canceled or expires, or whose result is marked not
-- cacheable, loses its entry when it ends; a deleted task loses it with the row. The janitor
-- removes entries past `expires_at` (docs/api.md, "Result cache").
CREATE TABLE task_cache (
  key           text PRIMARY KEY,
  -- Deferred: the entry is claimed before its task row is written, in the same transaction.
  task_id       bigint NOT NULL UNIQUE REFERENCES task (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  service       text NOT NULL,
  version       text NOT NULL,
  lifetime      interval NOT NULL,
  ready         boolean NOT NULL DEFAULT false,
  expires_at    timestamptz
);
CREATE INDEX task_cache_expiry ON task_cache (expires_at) WHERE expires_at IS NOT NULL;

-- Set on tasks of caching services: completion then settles the task's entry.
ALTER TABLE task ADD COLUMN cache_key text;
