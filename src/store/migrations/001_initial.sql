-- Errand's first schema: tasks, their result files, and the leases that give each server a
-- unique flake node id.

CREATE TABLE task (
  id            bigint PRIMARY KEY,               -- 64-bit flake id; shown as 16 hex digits
  service       text NOT NULL,
  status        text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'canceled', 'expired')),
  input         jsonb NOT NULL,
  owner         text,                             -- principal that submitted (x-client-name)
  owner_key     text,                             -- fingerprint of the credential used, never the key itself
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  completed_at  timestamptz,
  ttl           interval,                         -- removed this long after completion; NULL keeps it
  expires_at    timestamptz,                      -- completed_at + ttl, set when the task ends
  attempts      integer NOT NULL DEFAULT 0,
  worker        text,                             -- id of the worker that last started it
  script        text,                             -- the script the worker reported running
  result        jsonb,                            -- the result, or the index of a multi-file result
  error         jsonb                             -- {code, message, detail?} when failed
);

-- The janitor's only access path: tasks whose ttl has run out, oldest first.
CREATE INDEX task_expires_at ON task (expires_at) WHERE expires_at IS NOT NULL;
-- Recovery after a restart of the embedded broker walks the unfinished tasks.
CREATE INDEX task_unfinished ON task (id) WHERE status IN ('queued', 'running');

CREATE TABLE task_file (
  task_id       bigint NOT NULL REFERENCES task (id) ON DELETE CASCADE,
  name          text NOT NULL,
  content_type  text NOT NULL,
  content       bytea NOT NULL,
  PRIMARY KEY (task_id, name)
);

CREATE TABLE node_lease (
  node_id       integer PRIMARY KEY CHECK (node_id BETWEEN 0 AND 1023),
  holder        text,
  expires_at    timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO node_lease (node_id) SELECT generate_series(0, 1023);
