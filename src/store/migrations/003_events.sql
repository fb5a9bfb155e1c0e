-- The event log: every state change of a task, with an id that only grows.
--
-- Writers never contend: each transaction that changes a task adds its events to
-- task_event_pending. A sequencer (any process that writes events runs one after its writes)
-- moves pending events into task_event, numbering them, under the row lock of event_log: one
-- sequencer at a time, each numbering only what was committed before it took the lock. So ids
-- are dense and committed in id order, and a reader that has seen id N has seen every id
-- below it (docs/events.md).
CREATE TABLE event_log (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id       bigint NOT NULL DEFAULT 0
);
INSERT INTO event_log DEFAULT VALUES;

CREATE TABLE task_event_pending (
  pk            bigserial PRIMARY KEY,            -- write order: numbered in this order
  task_id       bigint NOT NULL,
  service       text NOT NULL,
  type          text NOT NULL,
  data          jsonb,
  at            timestamptz NOT NULL DEFAULT now()
);

-- No foreign key: a deleted task's events stay (ending with `deleted`) until trimmed by age.
CREATE TABLE task_event (
  id            bigint PRIMARY KEY,
  task_id       bigint NOT NULL,
  service       text NOT NULL,
  type          text NOT NULL,
  data          jsonb,
  at            timestamptz NOT NULL
);
CREATE INDEX task_event_task ON task_event (task_id, id);
CREATE INDEX task_event_service ON task_event (service, id);
-- The janitor trims by age.
CREATE INDEX task_event_at ON task_event (at);

ALTER TABLE task ADD COLUMN deadline timestamptz;      -- still queued then: expired, never run
ALTER TABLE task ADD COLUMN run_id text;               -- the attempt under way (its worker's token)
ALTER TABLE task ADD COLUMN progress jsonb;            -- the latest {value, percent?, etaSeconds?, at}
ALTER TABLE task ADD COLUMN progress_seq integer;      -- its place in the attempt's progress order

-- The expiry sweep: queued tasks with a deadline, soonest first.
CREATE INDEX task_queued_deadline ON task (deadline) WHERE status = 'queued' AND deadline IS NOT NULL;
-- Start estimates: the service's recent run times.
CREATE INDEX task_service_done ON task (service, completed_at) WHERE status = 'done';
-- Workers that start late learn which queued tasks were stopped before they ran.
CREATE INDEX task_stopped_unstarted ON task (completed_at) WHERE status IN ('canceled', 'expired') AND started_at IS NULL;
