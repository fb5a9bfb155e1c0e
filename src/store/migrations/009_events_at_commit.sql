-- Events are numbered by the transaction that writes them (issue 13): as its last statement it
-- takes the next ids from event_log's row and holds that row's lock until it commits, so ids
-- are still dense and committed in id order, and each event is written once. The pending table
-- and its sequencer go; events still waiting there (a writer that stopped between its commit and
-- its sequencer run) are numbered now, in the order they were written.
WITH last AS (SELECT last_id FROM event_log FOR UPDATE),
moved AS (
  INSERT INTO task_event (id, task_id, service, type, data, at, principal)
  SELECT last.last_id + row_number() OVER (ORDER BY p.pk), p.task_id, p.service, p.type, p.data, p.at, p.principal
  FROM task_event_pending p, last
  RETURNING id
)
UPDATE event_log SET last_id = last_id + (SELECT count(*) FROM moved);
DROP TABLE task_event_pending;
