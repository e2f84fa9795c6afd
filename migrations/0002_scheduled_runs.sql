-- Larder registry schema, part 2: scheduled runs.
-- A scheduled run names the tick it belongs to (`slot`, the cron time it was due). At most one run
-- exists per (project, kind, view, slot): servers sharing a registry claim a tick by inserting its
-- run with ON CONFLICT DO NOTHING, and only the one whose insert wrote a row runs it.
ALTER TABLE runs ADD COLUMN slot timestamptz;

CREATE UNIQUE INDEX runs_one_per_slot ON runs (project, kind, view_name, slot) WHERE slot IS NOT NULL;

-- Where a view's next scheduled backfill starts: the greatest end of its succeeded runs of a kind.
CREATE INDEX runs_succeeded_end ON runs (project, view_name, kind, range_end) WHERE status = 'succeeded';
