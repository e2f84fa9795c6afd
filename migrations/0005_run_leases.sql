-- Larder registry schema: run leases. Append-only, like every migration file.
-- A running process renews its run's lease (heartbeat_at, lease_until) every quarter of the lease;
-- a run still 'running' after lease_until has a dead owner (kill -9, a lost machine) and reads as
-- 'abandoned'. The next run of the same view stores that status (with finished_at = lease_until) and
-- removes the dead run's temporary files.
ALTER TABLE runs ADD COLUMN heartbeat_at timestamptz;
ALTER TABLE runs ADD COLUMN lease_until timestamptz;

-- Runs left 'running' by a Larder without leases never heartbeat: their lease ended when they started.
UPDATE runs SET lease_until = started_at WHERE status = 'running';

ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned'));

-- The next run of a view looks for its expired running runs.
CREATE INDEX runs_running_lease ON runs (project, view_name, lease_until) WHERE status = 'running';
