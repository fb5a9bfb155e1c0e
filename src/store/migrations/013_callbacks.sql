-- Completion callbacks (issue 14): a submission may name a URL that Errand POSTs the task's
-- description to once the task ends, retried with backoff, every attempt kept.
--
-- task.callbacks says whether a task has callbacks: NULL (none: every task before this and most
-- after), 'pending' (one is still to be delivered, or waits for the task to end), 'settled'
-- (all delivered or given up). Only the deliverers' poll reads the partial index below: tasks
-- that ended with a callback still to deliver. Writes of tasks without callbacks never touch it.
ALTER TABLE task ADD COLUMN callbacks text;
CREATE INDEX task_callbacks_pending ON task (completed_at) WHERE callbacks = 'pending';

CREATE TABLE task_callback (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id      bigint NOT NULL REFERENCES task (id) ON DELETE CASCADE,
  url          text NOT NULL,
  state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts     integer NOT NULL DEFAULT 0,          -- attempts begun (the one under way included)
  next_at      timestamptz NOT NULL DEFAULT now(),  -- when it may be tried (again): after a backoff, or once a claim's lease runs out
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (task_id, url)                             -- one delivery per task and URL; also the cascade's index
);
-- The callbacks still to deliver, by when they are due: delivered and failed ones are not in it.
CREATE INDEX task_callback_due ON task_callback (next_at) WHERE state = 'pending';

-- Every attempt, begun and ended: at is when it began, status_code or error how it ended (both
-- NULL while it runs, or when its deliverer stopped during it), retry_at when the next one is due.
CREATE TABLE task_callback_attempt (
  callback_id  bigint NOT NULL REFERENCES task_callback (id) ON DELETE CASCADE,
  attempt      integer NOT NULL,
  at           timestamptz NOT NULL DEFAULT now(),
  duration_ms  integer,
  status_code  integer,
  error        text,
  retry_at     timestamptz,
  PRIMARY KEY (callback_id, attempt)
)
