-- Larder registry schema: the model registry. Append-only, like every migration file.

-- One row per model name: the version counter, so two registrations at once never take the same
-- number (the UPDATE … RETURNING row lock serialises them).
CREATE TABLE models (
  project      text        NOT NULL,
  name         text        NOT NULL,
  last_version integer     NOT NULL CHECK (last_version >= 0),
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (project, name)
);

-- Every registered version. A version is immutable except for its stage. format is the model type
-- ("logistic", "linear", "xgboost"); service the feature service whose features it consumes;
-- lineage and metrics are JSON as the trainer or registrant wrote them.
CREATE TABLE model_versions (
  project          text        NOT NULL,
  name             text        NOT NULL,
  version          integer     NOT NULL CHECK (version >= 1),
  format           text        NOT NULL,
  service          text        NOT NULL,
  model            jsonb       NOT NULL,
  lineage          jsonb       NOT NULL,
  metrics          jsonb       NOT NULL,
  created_at       timestamptz NOT NULL,
  stage            text        CHECK (stage IN ('staging', 'production')),
  stage_changed_at timestamptz,
  PRIMARY KEY (project, name, version),
  FOREIGN KEY (project, name) REFERENCES models (project, name)
);

-- At most one version per stage of a model (one production version), whatever a writer does.
CREATE UNIQUE INDEX model_versions_one_per_stage ON model_versions (project, name, stage) WHERE stage IS NOT NULL;
