-- Capacity figures per service (GET /services/:name/stats): every read is one service's
-- unfinished tasks, or its tasks ended within a time window, never its history.
--
-- IF NOT EXISTS: on a large table an operator may build both beforehand with CREATE INDEX
-- CONCURRENTLY (same names, same definitions), so that this migration does not hold writes to
-- task while it builds them (docs/operations.md, "Upgrading to migration 012").
--
-- Unfinished tasks of one service: how many are queued and running, the oldest queued, and the
-- arrivals of a window still unfinished.
CREATE INDEX IF NOT EXISTS task_service_unfinished ON task (service, status, id) WHERE status IN ('queued', 'running');
-- Tasks of one service by when they ended, whatever the end: completions, run and wait times,
-- and the arrivals of a window that have already ended. It takes over from task_service_done
-- (done tasks only, for the mean run time a queued task's position shows), which it covers.
CREATE INDEX IF NOT EXISTS task_service_ended ON task (service, completed_at) WHERE completed_at IS NOT NULL;
DROP INDEX IF EXISTS task_service_done;
