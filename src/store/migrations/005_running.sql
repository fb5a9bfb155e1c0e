-- The janitor looks for running tasks whose worker is lost (Errand's workers acknowledge a task
-- when it starts, so the broker no longer hands a dead worker's task on: the janitor does).
CREATE INDEX task_running ON task (id) WHERE status = 'running';
