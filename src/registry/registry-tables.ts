import type { ColumnType, Generated } from "kysely";

/** The registry's tables as kysely sees them; migrations/*.sql is the source of truth. */
export interface RegistryTables {
  definitions: DefinitionsTable;
  runs: RunsTable;
  watermarks: WatermarksTable;
  migrations: MigrationsTable;
  models: ModelsTable;
  model_versions: ModelVersionsTable;
  push_idempotency: PushIdempotencyTable;
}

/** pg returns int8 as a string, PGlite as a number (or a bigint beyond 2^53): convert with Number(). */
type Int8 = ColumnType<string | number | bigint, number, number>;

export interface DefinitionsTable {
  project: string;
  kind: string;
  name: string;
  version: number;
  hash: string;
  spec: ColumnType<unknown, string, string>;
  applied_at: Date;
  superseded_at: Date | null;
  deleted_at: Date | null;
}

export interface RunsTable {
  id: string;
  seq: Generated<Int8>;
  project: string;
  kind: string;
  view_name: string;
  range_start: Date | null;
  range_end: Date | null;
  status: string;
  row_count: ColumnType<string | number | bigint | null, number | null, number | null>;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
  /** Added by 0002_scheduled_runs.sql. */
  slot: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Added by 0005_run_leases.sql. */
  heartbeat_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  lease_until: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface WatermarksTable {
  project: string;
  view_name: string;
  kind: string;
  at: Date;
  updated_at: Date;
}

export interface MigrationsTable {
  name: string;
  checksum: string;
  applied_at: Generated<Date>;
}

export interface ModelsTable {
  project: string;
  name: string;
  last_version: number;
  created_at: Date;
}

export interface ModelVersionsTable {
  project: string;
  name: string;
  version: number;
  format: string;
  service: string;
  model: ColumnType<unknown, string, string>;
  lineage: ColumnType<unknown, string, string>;
  metrics: ColumnType<unknown, string, string>;
  created_at: Date;
  stage: string | null;
  stage_changed_at: Date | null;
}

/** Added by 0004_push_idempotency.sql. */
export interface PushIdempotencyTable {
  project: string;
  key: string;
  fingerprint: string;
  owner: string | null;
  lease_until: Date | null;
  offline_token: string | null;
  offline_done: ColumnType<boolean, boolean | undefined, boolean>;
  online_done: ColumnType<boolean, boolean | undefined, boolean>;
  status: number | null;
  response: ColumnType<unknown, string | null, string | null>;
  created_at: Date;
  expires_at: Date;
}
