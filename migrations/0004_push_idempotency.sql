-- Larder registry schema: idempotency keys of pushes (`Idempotency-Key` on POST /push). Append-only.

-- One row per (project, key) while the key is retained. fingerprint: SHA-256 of the request
-- (push source, target, columns); the same key with another body is refused. owner and lease_until:
-- the request working on the key (a crashed owner's lease runs out and a retry takes over).
-- offline_token: the offline append's commit token, recorded before it commits, so a retry can ask
-- the source whether it did; offline_done/online_done: the halves already written. status and
-- response: the answer, once the push completed, returned again to every retry.
CREATE TABLE push_idempotency (
  project       text        NOT NULL,
  key           text        NOT NULL,
  fingerprint   text        NOT NULL,
  owner         text,
  lease_until   timestamptz,
  offline_token text,
  offline_done  boolean     NOT NULL DEFAULT false,
  online_done   boolean     NOT NULL DEFAULT false,
  status        integer,
  response      jsonb,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (project, key)
);

-- Expired keys are purged by the next claim.
CREATE INDEX push_idempotency_expires ON push_idempotency (expires_at);
