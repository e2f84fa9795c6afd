-- Larder registry schema, part 1: definitions, runs, watermarks.
-- Migrations are append-only: never edit or reorder an applied file (Larder checks checksums);
-- add the next change as 0002_<what>.sql. Written schema-unqualified: Larder sets search_path to the
-- registry's schema, and the same SQL runs on Postgres 15+ and PGlite.

-- Every applied version of every object. The current version of an object is its row with neither
-- superseded_at (a later version replaced it) nor deleted_at (apply removed it).
CREATE TABLE definitions (
  project       text        NOT NULL,
  kind          text        NOT NULL,
  name          text        NOT NULL,
  version       integer     NOT NULL CHECK (version >= 1),
  hash          text        NOT NULL,
  spec          jsonb       NOT NULL,
  applied_at    timestamptz NOT NULL,
  superseded_at timestamptz,
  deleted_at    timestamptz,
  PRIMARY KEY (project, kind, name, version)
);

-- At most one current version per object, whatever a buggy or concurrent writer does.
CREATE UNIQUE INDEX definitions_one_current ON definitions (project, kind, name)
  WHERE superseded_at IS NULL AND deleted_at IS NULL;

-- Pipeline and materialization runs. seq breaks ties between runs started in the same microsecond.
CREATE TABLE runs (
  id          text        PRIMARY KEY,
  seq         bigserial   NOT NULL,
  project     text        NOT NULL,
  kind        text        NOT NULL,
  view_name   text        NOT NULL,
  range_start timestamptz,
  range_end   timestamptz,
  status      text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  row_count   bigint,
  error       text,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz
);

CREATE INDEX runs_newest_first ON runs (project, started_at DESC, seq DESC);

-- How far each (view, run kind) has been processed, e.g. materialize-incremental's start point.
CREATE TABLE watermarks (
  project    text        NOT NULL,
  view_name  text        NOT NULL,
  kind       text        NOT NULL,
  at         timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (project, view_name, kind)
);
