/**
 * The registry port: where applied definitions (with versions and content hashes), pipeline runs and
 * watermarks live. One small interface, one folder per implementation: `postgres/` (shared, several
 * processes) and `pglite/` (embedded, one process at a time). `openRegistry` picks one from a URL.
 *
 * @example
 * const registry = await openRegistry("embedded", { repoDir: "." });
 * try {
 *   const diff = await registry.apply("churn", records);
 *   console.log(diff.add.length, "added");
 * } finally {
 *   await registry.close();
 * }
 */

/** Kinds in dependency order (an entity before the sources and views that use it); lists sort by it. */
export const DEFINITION_KINDS = ["entity", "source", "feature_view", "on_demand_feature_view", "feature_service"] as const;

export type DefinitionKind = (typeof DEFINITION_KINDS)[number];

/** One object as the caller declares it. `hash` is the caller's content hash; plan/apply compare only it. */
export interface DefinitionRecord {
  kind: DefinitionKind;
  name: string;
  /** JSON-serialisable. Stored as jsonb, so it reads back deep-equal but keys may come back reordered. */
  spec: unknown;
  hash: string;
}

/** A stored version of an object. Versions of one object count 1, 2, 3… across removals and re-adds. */
export interface AppliedDefinition extends DefinitionRecord {
  version: number;
  appliedAt: Date;
  /** Set only on a version that `apply` removed (seen in `definitionHistory`); current objects never have it. */
  deletedAt?: Date;
}

/**
 * What `apply` does (or did). Every list is ordered by kind (DEFINITION_KINDS order) then name.
 * The diff `apply` returns carries AppliedDefinitions (with their new version and appliedAt) in `add`
 * and `change[].after`; the one `plan` returns carries the caller's records there.
 */
export interface PlanDiff {
  add: DefinitionRecord[];
  change: { before: AppliedDefinition; after: DefinitionRecord }[];
  remove: AppliedDefinition[];
  unchanged: AppliedDefinition[];
}

/**
 * "abandoned": a run whose lease expired while it was running (its process died or hung: kill -9, a
 * lost machine). Reads derive it from the lease; the next run of the view stores it (`reapAbandonedRuns`).
 */
export type RunStatus = "running" | "succeeded" | "failed" | "abandoned";

/**
 * How long a run's lease lasts by default (60 s); the running process renews it every quarter of the
 * lease (see `RunLease`), so a run is shown abandoned at most a minute after its process died.
 */
export const DEFAULT_RUN_LEASE_MS = 60_000;

/** Lease options of `startRun` and `claimRun`. */
export interface RunLeaseOptions {
  /** Lease length in ms (default DEFAULT_RUN_LEASE_MS). */
  leaseMs?: number;
}

export interface RunRecord {
  id: string;
  project: string;
  /** "backfill" | "materialize" | … — free text, chosen by the caller. */
  kind: string;
  view: string;
  rangeStart: Date | null;
  rangeEnd: Date | null;
  status: RunStatus;
  rows: number | null;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  /** The last renewal of the run's lease (its start at first); null on runs recorded before leases. */
  heartbeatAt: Date | null;
  /** Until when the run's process is presumed alive; a running run past it reads as "abandoned". */
  leaseUntil: Date | null;
  /** The scheduled tick a run claimed (see `claimRun`); absent on runs started with `startRun`. */
  slot?: Date;
}

/** Where a model version is deployed: at most one version of a model per stage. */
export const MODEL_STAGES = ["staging", "production"] as const;

export type ModelStage = (typeof MODEL_STAGES)[number];

/** A model version to register. `model`, `lineage` and `metrics` are JSON-serialisable. */
export interface NewModelVersion {
  name: string;
  /** The model type, e.g. "logistic", "linear", "xgboost". */
  format: string;
  /** The feature service whose features the model consumes. */
  service: string;
  model: unknown;
  lineage: unknown;
  metrics: unknown;
}

/** A registered version without its (possibly large) model JSON. */
export interface ModelVersionSummary {
  name: string;
  version: number;
  format: string;
  service: string;
  lineage: unknown;
  metrics: unknown;
  createdAt: Date;
  stage: ModelStage | null;
  /** When the version last entered or left a stage; null if it never had one. */
  stageChangedAt: Date | null;
}

export interface ModelVersionRecord extends ModelVersionSummary {
  model: unknown;
}

/** What the registry holds for a push's idempotency key (see src/serving/push-idempotency.ts). */
export interface PushKeyRecord {
  fingerprint: string;
  /** The request working on the key, or null. */
  owner: string | null;
  /** True while `owner`'s lease has not run out. */
  leaseActive: boolean;
  offlineToken: string | null;
  offlineDone: boolean;
  onlineDone: boolean;
  /** The answer, once the push completed (then `response` is its body). */
  status: number | null;
  response: unknown;
}

/** A change to a key record, made only while the caller owns it. */
export interface PushKeyPatch {
  offlineToken?: string;
  offlineDone?: boolean;
  onlineDone?: boolean;
  /** The final answer: stored, and the key released (owner cleared). */
  result?: { status: number; response: unknown };
  /** Clears the owner (a failed attempt: a retry may resume at once). */
  release?: boolean;
}

export interface RegistryStore {
  /** What `apply` would do with this full set of the project's definitions; compares hashes. Writes nothing. */
  plan(project: string, defs: DefinitionRecord[]): Promise<PlanDiff>;
  /**
   * Makes `defs` the project's current definitions, in one transaction under a per-project lock:
   * adds get version 1 (a re-added object continues after its last version), changed objects get
   * version + 1 (history kept), current objects absent from `defs` are marked deleted (history kept);
   * unchanged ones are untouched. Returns the diff it applied, computed under the lock.
   * Throws INVALID_DEFINITION for a malformed record or two records with the same kind and name, and
   * REGISTRY_LOCKED if another apply holds the project's lock beyond the store's lock timeout.
   */
  apply(project: string, defs: DefinitionRecord[]): Promise<PlanDiff>;
  /** Current, not deleted definitions, ordered by kind (DEFINITION_KINDS order) then name. */
  listDefinitions(project: string, kind?: DefinitionKind): Promise<AppliedDefinition[]>;
  /** The current version, or undefined if the object was never applied or has been removed. */
  getDefinition(project: string, kind: DefinitionKind, name: string): Promise<AppliedDefinition | undefined>;
  /** Every version, oldest first; removed versions carry `deletedAt`. Empty if never applied. */
  definitionHistory(project: string, kind: DefinitionKind, name: string): Promise<AppliedDefinition[]>;
  /** Records a run as "running" with a lease of `leaseMs` from now, and returns its id. */
  startRun(project: string, run: { kind: string; view: string; rangeStart?: Date; rangeEnd?: Date } & RunLeaseOptions): Promise<string>;
  /**
   * Renews a running run's lease: heartbeat now, lease until now + `leaseMs`. Returns false (and
   * changes nothing) when the run is no longer running (finished, or stored abandoned).
   */
  renewRun(id: string, leaseMs?: number): Promise<boolean>;
  /**
   * Finishes a running run. A run already stored "abandoned" may still finish: its process was only
   * stalled past its lease, and its real outcome is the truth. Throws UNKNOWN_RUN for an unknown id,
   * INVALID_ARGUMENT if it already succeeded or failed.
   */
  finishRun(id: string, result: { status: "succeeded" | "failed"; rows?: number; error?: string }): Promise<void>;
  /**
   * Newest first (by start time). No limit means all. A running run whose lease has expired (by the
   * registry's clock) is returned with status "abandoned".
   */
  listRuns(project: string, filter?: { view?: string; kind?: string; limit?: number }): Promise<RunRecord[]>;
  /**
   * Stores status "abandoned" (finished at its lease's end) on the view's running runs whose lease
   * has expired, and returns them: the caller, the next run of the view, removes their temporary
   * files. Each such run is returned to exactly one caller.
   */
  reapAbandonedRuns(project: string, view: string): Promise<RunRecord[]>;
  /**
   * Claims the scheduled tick `slot` of a view for one caller: records a "running" run, like
   * `startRun`, unless the project already has a run of this kind, view and slot, in one atomic
   * statement (servers sharing a registry race here and exactly one wins). Returns the new run's id,
   * or undefined when the slot was already claimed (the loser skips the tick).
   */
  claimRun(project: string, run: { kind: string; view: string; slot: Date; rangeStart?: Date; rangeEnd?: Date } & RunLeaseOptions): Promise<string | undefined>;
  /** The greatest `rangeEnd` of the view's succeeded runs of `kind`, or undefined if it has none. */
  lastRunEnd(project: string, view: string, kind: string): Promise<Date | undefined>;
  getWatermark(project: string, view: string, kind: string): Promise<Date | undefined>;
  /** Sets the watermark as given (it may move backwards: callers decide when to advance it). */
  setWatermark(project: string, view: string, kind: string, at: Date): Promise<void>;
  /**
   * Stores a new version of a model (creating the model on its first version) with the next version
   * number, 1, 2, 3…; concurrent registrations get distinct numbers. The version has no stage.
   * Throws INVALID_ARGUMENT for a malformed record.
   */
  registerModelVersion(project: string, v: NewModelVersion): Promise<ModelVersionRecord>;
  /** Every version (without the model JSON), by model name then version; `name` filters to one model. */
  listModelVersions(project: string, filter?: { name?: string }): Promise<ModelVersionSummary[]>;
  /** One version by number, or the version holding a stage; undefined if there is none. */
  getModelVersion(project: string, name: string, selector: { version: number } | { stage: ModelStage }): Promise<ModelVersionRecord | undefined>;
  /**
   * Puts `version` in `stage`, atomically: in one transaction the version that held the stage loses
   * it (its stage becomes null) and `version` takes it (leaving its own previous stage, if any).
   * Returns the version that held the stage before (null if none). Throws UNKNOWN_MODEL for an
   * unknown model or version.
   */
  promoteModelVersion(project: string, name: string, version: number, stage: ModelStage): Promise<{ previous: number | null }>;
  /**
   * Runs `fn` holding the named lock of the project, serialised across processes (Postgres: a session
   * advisory lock; embedded: the registry is open in one process only, so an in-process mutex).
   * Throws REGISTRY_LOCKED after `timeoutMs` (default: the store's lock timeout, 60 s). Not re-entrant:
   * taking the same lock again inside `fn` waits for itself and times out.
   */
  withLock<T>(project: string, lockName: string, fn: () => Promise<T>, opts?: { timeoutMs?: number }): Promise<T>;
  /**
   * Idempotent pushes: first removes every expired key record, then claims (project, key) for
   * `owner`: a new record (expiring `retentionMs` from now) or, for a record with the same
   * fingerprint, no answer yet and no active lease, a takeover; atomic, so of concurrent claims one
   * wins. Returns whether it claimed, and the record as it now is (the caller reads a refusal from it).
   */
  claimPushKey(project: string, key: string, claim: { fingerprint: string; owner: string; leaseMs: number; retentionMs: number }): Promise<{ claimed: boolean; record: PushKeyRecord }>;
  /** Applies `patch` if `owner` still owns the key; false when it no longer does (nothing changed). */
  updatePushKey(project: string, key: string, owner: string, patch: PushKeyPatch): Promise<boolean>;
  /** Deletes the key record if `owner` owns it (a push refused before writing anything). */
  deletePushKey(project: string, key: string, owner: string): Promise<void>;
  /** Releases connections (and the embedded registry's file lock). Idempotent; later calls throw REGISTRY_UNAVAILABLE. */
  close(): Promise<void>;
}
