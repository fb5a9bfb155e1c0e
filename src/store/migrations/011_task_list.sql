-- The task list, GET /tasks (issue 14): newest first by (created_at, id), filtered by owner,
-- service, status or failure code. Each filter that can be rare has an index that starts with it
-- and goes on in the list's order, so that a filtered first page reads only the rows it returns
-- (and a next page starts where its cursor points) on a table of millions. Plans with EXPLAIN
-- ANALYZE: docs/operations.md, "The task list's indexes".
--
-- On a large table each CREATE INDEX holds writes to task back while it builds (migrations run
-- in a transaction). To avoid that, build them first with CREATE INDEX CONCURRENTLY under the
-- same names: IF NOT EXISTS then keeps them (docs/operations.md, "Upgrading to migration 011").

-- No filter (read:all), and created since/until alone.
CREATE INDEX IF NOT EXISTS task_created ON task (created_at, id);
-- A user's own tasks (the filter every `read` caller has), and owner= for read:all.
CREATE INDEX IF NOT EXISTS task_principal_created ON task (principal, created_at, id);
CREATE INDEX IF NOT EXISTS task_service_created ON task (service, created_at, id);
-- status=: most tasks end done, and a list of done tasks is as fast on task_created; leaving done
-- out keeps this index small (queued, running and the unsuccessful ends) and spares it a row when
-- a task completes.
CREATE INDEX IF NOT EXISTS task_status_created ON task (status, created_at, id) WHERE status <> 'done';
-- Owner or service with status= (a user's failed tasks, a service's): read in order whatever the
-- two filters' overlap. Without these, a principal with many tasks and none failed would read all
-- of its tasks, or all failed tasks, to find that there are none. Done tasks are left out as above.
CREATE INDEX IF NOT EXISTS task_principal_status_created ON task (principal, status, created_at, id) WHERE status <> 'done';
CREATE INDEX IF NOT EXISTS task_service_status_created ON task (service, status, created_at, id) WHERE status <> 'done';
-- errorCode=: only ended tasks without success have an error.
CREATE INDEX IF NOT EXISTS task_error_code_created ON task ((error->>'code'), created_at, id) WHERE error IS NOT NULL
