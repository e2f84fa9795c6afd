import { randomUUID } from "node:crypto";
import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { LarderError, isLarderError } from "../errors.js";
import { advisoryLockKey } from "./advisory-lock-key.js";
import { compareDefinitions, diffDefinitions, isDefinitionKind, validateDefinitions } from "./plan-diff.js";
import { DEFAULT_RUN_LEASE_MS, MODEL_STAGES } from "./registry-store.js";
import type {
  AppliedDefinition,
  DefinitionKind,
  DefinitionRecord,
  ModelStage,
  ModelVersionRecord,
  ModelVersionSummary,
  NewModelVersion,
  PlanDiff,
  PushKeyPatch,
  PushKeyRecord,
  RegistryStore,
  RunLeaseOptions,
  RunRecord,
  RunStatus,
} from "./registry-store.js";
import type { DefinitionsTable, ModelVersionsTable, PushIdempotencyTable, RegistryTables, RunsTable } from "./registry-tables.js";

export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Checks a registry schema name (it is interpolated as an identifier). Throws INVALID_CONFIG. */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_RE.test(schema)) {
    throw new LarderError("INVALID_CONFIG", `registry schema ${JSON.stringify(schema)} is not a plain SQL identifier (expected letters, digits and _, not starting with a digit, at most 63 characters)`, { schema });
  }
  return schema;
}

export interface SqlRegistryStoreOptions {
  schema: string;
  /** How long apply waits for another apply of the same project, and withLock's default. */
  lockTimeoutMs: number;
}

/**
 * The registry over kysely and Postgres SQL, shared by the Postgres and PGlite implementations, which
 * add how to lock (`withLock`), how to close, and how to translate driver errors (`translateError`).
 */
export abstract class SqlRegistryStore implements RegistryStore {
  #closed = false;

  protected constructor(
    protected readonly db: Kysely<RegistryTables>,
    protected readonly options: SqlRegistryStoreOptions,
  ) {}

  abstract withLock<T>(project: string, lockName: string, fn: () => Promise<T>, opts?: { timeoutMs?: number }): Promise<T>;

  /** Closes the backend's resources; called once by `close()`. */
  protected abstract closeResources(): Promise<void>;

  /** Turns a driver error into a LarderError (connection errors into POSTGRES_UNAVAILABLE, …). */
  protected abstract translateError(err: unknown): LarderError;

  /** What to call this registry in messages, e.g. "postgres://db:5432/app" or "the embedded registry at …". */
  protected abstract describe(): string;

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.closeResources();
  }

  /** Runs one registry operation: refuses after close, and gives every failure a catalogue code. */
  protected async run<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await fn();
    } catch (err) {
      if (isLarderError(err)) throw err;
      throw this.translateError(err);
    }
  }

  protected assertOpen(): void {
    if (this.#closed) throw new LarderError("REGISTRY_UNAVAILABLE", `${this.describe()} is closed`);
  }

  protected lockedError(project: string, lockName: string, timeoutMs: number): LarderError {
    return new LarderError("REGISTRY_LOCKED", `lock "${lockName}" of project "${project}" in ${this.describe()} is held elsewhere; gave up after ${formatSeconds(timeoutMs)}`, {
      project,
      lock: lockName,
      timeoutMs,
    });
  }

  async plan(project: string, defs: DefinitionRecord[]): Promise<PlanDiff> {
    checkProject(project);
    const records = validateDefinitions(defs).map((d) => d.record);
    return this.run(async () => diffDefinitions(await this.#current(this.db, project), records));
  }

  async apply(project: string, defs: DefinitionRecord[]): Promise<PlanDiff> {
    checkProject(project);
    const validated = validateDefinitions(defs);
    const specJson = new Map(validated.map((d) => [d.record, d.specJson]));
    const timeoutMs = this.options.lockTimeoutMs;
    return this.run(async () => {
      try {
        return await this.db.transaction().execute(async (trx) => {
          // The diff is computed after taking the lock, so a concurrent apply's writes are seen.
          await sql`select set_config('lock_timeout', ${`${Math.max(1, Math.round(timeoutMs))}ms`}, true)`.execute(trx);
          await sql`select pg_advisory_xact_lock(${advisoryLockKey(this.options.schema, project, "larder:apply")}::bigint)`.execute(trx);
          const diff = diffDefinitions(
            await this.#current(trx, project),
            validated.map((d) => d.record),
          );
          if (diff.add.length + diff.change.length + diff.remove.length === 0) return diff;

          const nowRow = await sql<{ now: Date }>`select now() as now`.execute(trx);
          const now = nowRow.rows[0]?.now ?? new Date();
          for (const d of diff.remove) await this.#retire(trx, project, d, "deleted_at", now);
          for (const c of diff.change) await this.#retire(trx, project, c.before, "superseded_at", now);

          // A re-added object continues after its last (deleted) version.
          const lastVersions = new Map<string, number>();
          if (diff.add.length > 0) {
            const rows = await trx
              .selectFrom("definitions")
              .select(["kind", "name", (eb) => eb.fn.max("version").as("last")])
              .where("project", "=", project)
              .groupBy(["kind", "name"])
              .execute();
            for (const r of rows) lastVersions.set(`${r.kind}\u0000${r.name}`, Number(r.last));
          }
          const inserts: { record: DefinitionRecord; version: number }[] = [
            ...diff.add.map((record) => ({ record, version: (lastVersions.get(`${record.kind}\u0000${record.name}`) ?? 0) + 1 })),
            ...diff.change.map((c) => ({ record: c.after, version: c.before.version + 1 })),
          ];
          if (inserts.length > 0) {
            await trx
              .insertInto("definitions")
              .values(
                inserts.map(({ record, version }) => ({
                  project,
                  kind: record.kind,
                  name: record.name,
                  version,
                  hash: record.hash,
                  spec: sql<string>`cast(cast(${specJson.get(record) ?? "null"} as text) as jsonb)`,
                  applied_at: now,
                  superseded_at: null,
                  deleted_at: null,
                })),
              )
              .execute();
          }

          const applied = new Map<DefinitionRecord, AppliedDefinition>();
          for (const { record, version } of inserts) {
            applied.set(record, { kind: record.kind, name: record.name, spec: record.spec, hash: record.hash, version, appliedAt: now });
          }
          return {
            add: diff.add.map((r) => applied.get(r) ?? r),
            change: diff.change.map((c) => ({ before: c.before, after: applied.get(c.after) ?? c.after })),
            remove: diff.remove,
            unchanged: diff.unchanged,
          };
        });
      } catch (err) {
        if (sqlState(err) === "55P03") throw this.lockedError(project, "apply", timeoutMs);
        throw err;
      }
    });
  }

  async #retire(trx: Transaction<RegistryTables>, project: string, d: AppliedDefinition, column: "deleted_at" | "superseded_at", now: Date): Promise<void> {
    await trx.updateTable("definitions").set(column, now).where("project", "=", project).where("kind", "=", d.kind).where("name", "=", d.name).where("version", "=", d.version).execute();
  }

  async #current(db: Kysely<RegistryTables>, project: string, kind?: DefinitionKind): Promise<AppliedDefinition[]> {
    let q = db.selectFrom("definitions").selectAll().where("project", "=", project).where("superseded_at", "is", null).where("deleted_at", "is", null);
    if (kind !== undefined) q = q.where("kind", "=", kind);
    const rows = await q.execute();
    return rows.map(toAppliedDefinition).sort(compareDefinitions);
  }

  async listDefinitions(project: string, kind?: DefinitionKind): Promise<AppliedDefinition[]> {
    checkProject(project);
    if (kind !== undefined) checkKind(kind);
    return this.run(() => this.#current(this.db, project, kind));
  }

  async getDefinition(project: string, kind: DefinitionKind, name: string): Promise<AppliedDefinition | undefined> {
    checkProject(project);
    checkKind(kind);
    return this.run(async () => {
      const row = await this.db.selectFrom("definitions").selectAll().where("project", "=", project).where("kind", "=", kind).where("name", "=", name).where("superseded_at", "is", null).where("deleted_at", "is", null).executeTakeFirst();
      return row === undefined ? undefined : toAppliedDefinition(row);
    });
  }

  async definitionHistory(project: string, kind: DefinitionKind, name: string): Promise<AppliedDefinition[]> {
    checkProject(project);
    checkKind(kind);
    return this.run(async () => {
      const rows = await this.db.selectFrom("definitions").selectAll().where("project", "=", project).where("kind", "=", kind).where("name", "=", name).orderBy("version", "asc").execute();
      return rows.map(toAppliedDefinition);
    });
  }

  async startRun(project: string, run: { kind: string; view: string; rangeStart?: Date; rangeEnd?: Date } & RunLeaseOptions): Promise<string> {
    const values = newRunValues(project, run);
    return this.run(async () => {
      await this.db.insertInto("runs").values(values).execute();
      return values.id;
    });
  }

  async finishRun(id: string, result: { status: "succeeded" | "failed"; rows?: number; error?: string }): Promise<void> {
    checkText(id, "run id");
    if (result?.status !== "succeeded" && result?.status !== "failed") {
      throw new LarderError("INVALID_ARGUMENT", `run status must be "succeeded" or "failed", got ${JSON.stringify(result?.status)}`);
    }
    if (result.rows !== undefined && !(Number.isSafeInteger(result.rows) && result.rows >= 0)) {
      throw new LarderError("INVALID_ARGUMENT", `run rows must be a non-negative integer, got ${String(result.rows)}`);
    }
    return this.run(async () => {
      const updated = await this.db
        .updateTable("runs")
        .set({
          status: result.status,
          row_count: result.rows ?? null,
          error: result.error ?? null,
          finished_at: sql<Date>`greatest(clock_timestamp(), started_at)`,
        })
        .where("id", "=", id)
        .where("status", "in", ["running", "abandoned"])
        .executeTakeFirst();
      if (updated.numUpdatedRows > 0n) return;
      const existing = await this.db.selectFrom("runs").select("status").where("id", "=", id).executeTakeFirst();
      if (existing === undefined) throw new LarderError("UNKNOWN_RUN", `no run with id ${JSON.stringify(id)} in ${this.describe()}`, { id });
      throw new LarderError("INVALID_ARGUMENT", `run ${id} already finished (${existing.status})`, { id, status: existing.status });
    });
  }

  async renewRun(id: string, leaseMs: number = DEFAULT_RUN_LEASE_MS): Promise<boolean> {
    checkText(id, "run id");
    const lease = leaseInterval(leaseMs);
    return this.run(async () => {
      const updated = await this.db
        .updateTable("runs")
        .set({ heartbeat_at: sql<Date>`clock_timestamp()`, lease_until: lease })
        .where("id", "=", id)
        .where("status", "=", "running")
        .executeTakeFirst();
      return updated.numUpdatedRows > 0n;
    });
  }

  async reapAbandonedRuns(project: string, view: string): Promise<RunRecord[]> {
    checkProject(project);
    checkText(view, "run view");
    return this.run(async () => {
      // One UPDATE … RETURNING: of two runs reaping at once, each expired run goes to exactly one.
      const rows = await this.db
        .updateTable("runs")
        .set({
          status: "abandoned",
          finished_at: sql<Date>`greatest(lease_until, started_at)`,
          error: sql<string>`'its process stopped renewing the lease (last heartbeat ' || coalesce(to_char(heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'never') || '): killed or hung'`,
        })
        .where("project", "=", project)
        .where("view_name", "=", view)
        .where("status", "=", "running")
        .where(sql<boolean>`lease_until < clock_timestamp()`)
        .returningAll()
        .execute();
      return rows.map((r) => toRunRecord({ ...r, lease_expired: false }));
    });
  }

  async listRuns(project: string, filter: { view?: string; kind?: string; limit?: number } = {}): Promise<RunRecord[]> {
    checkProject(project);
    const { view, kind, limit } = filter;
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) {
      throw new LarderError("INVALID_ARGUMENT", `listRuns limit must be a positive integer, got ${String(limit)}`);
    }
    return this.run(async () => {
      let q = this.db
        .selectFrom("runs")
        .selectAll()
        // The registry's clock decides expiry, so every reader (CLI, server, other hosts) agrees.
        .select(sql<boolean>`coalesce(lease_until < clock_timestamp(), false)`.as("lease_expired"))
        .where("project", "=", project);
      if (view !== undefined) q = q.where("view_name", "=", view);
      if (kind !== undefined) q = q.where("kind", "=", kind);
      q = q.orderBy("started_at", "desc").orderBy("seq", "desc");
      if (limit !== undefined) q = q.limit(limit);
      const rows = await q.execute();
      return rows.map(toRunRecord);
    });
  }

  async claimRun(project: string, run: { kind: string; view: string; slot: Date; rangeStart?: Date; rangeEnd?: Date } & RunLeaseOptions): Promise<string | undefined> {
    const values = { ...newRunValues(project, run), slot: checkDate(run.slot, "slot") };
    return this.run(async () => {
      // One statement against the partial unique index runs_one_per_slot: of concurrent claims
      // (other servers on the same registry) exactly one inserts a row; the others insert nothing.
      const inserted = await this.db
        .insertInto("runs")
        .values(values)
        .onConflict((oc) => oc.columns(["project", "kind", "view_name", "slot"]).where("slot", "is not", null).doNothing())
        .returning("id")
        .executeTakeFirst();
      return inserted?.id;
    });
  }

  async lastRunEnd(project: string, view: string, kind: string): Promise<Date | undefined> {
    checkProject(project);
    checkText(view, "run view");
    checkText(kind, "run kind");
    return this.run(async () => {
      const row = await this.db
        .selectFrom("runs")
        .select((eb) => eb.fn.max("range_end").as("end"))
        .where("project", "=", project)
        .where("view_name", "=", view)
        .where("kind", "=", kind)
        .where("status", "=", "succeeded")
        .executeTakeFirst();
      return row?.end ?? undefined;
    });
  }

  async getWatermark(project: string, view: string, kind: string): Promise<Date | undefined> {
    checkProject(project);
    return this.run(async () => {
      const row = await this.db.selectFrom("watermarks").select("at").where("project", "=", project).where("view_name", "=", view).where("kind", "=", kind).executeTakeFirst();
      return row?.at;
    });
  }

  async setWatermark(project: string, view: string, kind: string, at: Date): Promise<void> {
    checkProject(project);
    checkText(view, "watermark view");
    checkText(kind, "watermark kind");
    checkDate(at, "watermark");
    return this.run(async () => {
      await this.db
        .insertInto("watermarks")
        .values({ project, view_name: view, kind, at, updated_at: sql<Date>`now()` })
        .onConflict((oc) => oc.columns(["project", "view_name", "kind"]).doUpdateSet((eb) => ({ at: eb.ref("excluded.at"), updated_at: eb.ref("excluded.updated_at") })))
        .execute();
    });
  }
  async registerModelVersion(project: string, v: NewModelVersion): Promise<ModelVersionRecord> {
    checkProject(project);
    checkText(v?.name, "model name");
    checkText(v.format, "model format");
    checkText(v.service, "model service");
    const json = {
      model: jsonText(v.model, "model"),
      lineage: jsonText(v.lineage ?? {}, "lineage"),
      metrics: jsonText(v.metrics ?? {}, "metrics"),
    };
    return this.run(() =>
      this.db.transaction().execute(async (trx) => {
        const now = (await sql<{ now: Date }>`select now() as now`.execute(trx)).rows[0]?.now ?? new Date();
        await trx
          .insertInto("models")
          .values({ project, name: v.name, last_version: 0, created_at: now })
          .onConflict((oc) => oc.columns(["project", "name"]).doNothing())
          .execute();
        // The row lock of this UPDATE serialises concurrent registrations of one model.
        const bumped = await trx
          .updateTable("models")
          .set((eb) => ({ last_version: eb("last_version", "+", 1) }))
          .where("project", "=", project)
          .where("name", "=", v.name)
          .returning("last_version")
          .executeTakeFirstOrThrow();
        const version = Number(bumped.last_version);
        await trx
          .insertInto("model_versions")
          .values({
            project,
            name: v.name,
            version,
            format: v.format,
            service: v.service,
            model: sql<string>`cast(cast(${json.model} as text) as jsonb)`,
            lineage: sql<string>`cast(cast(${json.lineage} as text) as jsonb)`,
            metrics: sql<string>`cast(cast(${json.metrics} as text) as jsonb)`,
            created_at: now,
            stage: null,
            stage_changed_at: null,
          })
          .execute();
        const row = await trx.selectFrom("model_versions").selectAll().where("project", "=", project).where("name", "=", v.name).where("version", "=", version).executeTakeFirstOrThrow();
        return toModelVersionRecord(row);
      }),
    );
  }

  async listModelVersions(project: string, filter: { name?: string } = {}): Promise<ModelVersionSummary[]> {
    checkProject(project);
    return this.run(async () => {
      let q = this.db.selectFrom("model_versions").select(["name", "version", "format", "service", "lineage", "metrics", "created_at", "stage", "stage_changed_at"]).where("project", "=", project);
      if (filter.name !== undefined) q = q.where("name", "=", filter.name);
      const rows = await q.orderBy("name", "asc").orderBy("version", "asc").execute();
      return rows.map(toModelVersionSummary);
    });
  }

  async getModelVersion(project: string, name: string, selector: { version: number } | { stage: ModelStage }): Promise<ModelVersionRecord | undefined> {
    checkProject(project);
    checkText(name, "model name");
    let q = this.db.selectFrom("model_versions").selectAll().where("project", "=", project).where("name", "=", name);
    if ("version" in selector) q = q.where("version", "=", checkModelVersion(selector.version));
    else q = q.where("stage", "=", checkStage(selector.stage));
    return this.run(async () => {
      const row = await q.executeTakeFirst();
      return row === undefined ? undefined : toModelVersionRecord(row);
    });
  }

  async promoteModelVersion(project: string, name: string, version: number, stage: ModelStage): Promise<{ previous: number | null }> {
    checkProject(project);
    checkText(name, "model name");
    checkModelVersion(version);
    checkStage(stage);
    return this.run(() =>
      this.db.transaction().execute(async (trx) => {
        // Locking the model row serialises promotions of one model, so the stage moves in one step.
        const model = await trx.selectFrom("models").select("last_version").where("project", "=", project).where("name", "=", name).forUpdate().executeTakeFirst();
        if (model === undefined) {
          const known = (await trx.selectFrom("models").select("name").where("project", "=", project).orderBy("name").execute()).map((r) => r.name);
          throw new LarderError("UNKNOWN_MODEL", `unknown model ${JSON.stringify(name)} (known: ${known.join(", ") || "none"})`, { model: name });
        }
        const target = await trx.selectFrom("model_versions").select("stage").where("project", "=", project).where("name", "=", name).where("version", "=", version).executeTakeFirst();
        if (target === undefined) {
          throw new LarderError("UNKNOWN_MODEL", `model ${JSON.stringify(name)} has no version ${version} (versions 1 to ${Number(model.last_version)})`, { model: name, version });
        }
        const holder = await trx.selectFrom("model_versions").select("version").where("project", "=", project).where("name", "=", name).where("stage", "=", stage).executeTakeFirst();
        const previous = holder === undefined ? null : Number(holder.version);
        if (previous === version) return { previous };
        const now = (await sql<{ now: Date }>`select now() as now`.execute(trx)).rows[0]?.now ?? new Date();
        if (previous !== null) {
          await trx.updateTable("model_versions").set({ stage: null, stage_changed_at: now }).where("project", "=", project).where("name", "=", name).where("version", "=", previous).execute();
        }
        await trx.updateTable("model_versions").set({ stage, stage_changed_at: now }).where("project", "=", project).where("name", "=", name).where("version", "=", version).execute();
        return { previous };
      }),
    );
  }

  async claimPushKey(project: string, key: string, claim: { fingerprint: string; owner: string; leaseMs: number; retentionMs: number }): Promise<{ claimed: boolean; record: PushKeyRecord }> {
    checkProject(project);
    checkText(key, "idempotency key");
    const leaseUntil = sql<Date>`clock_timestamp() + ${`${Math.max(1, Math.round(claim.leaseMs))} milliseconds`}::interval`;
    const leaseActive = sql<boolean>`lease_until > clock_timestamp()`.as("lease_active");
    return this.run(async () => {
      await this.db
        .deleteFrom("push_idempotency")
        .where("expires_at", "<", sql<Date>`clock_timestamp()`)
        .execute();
      // Of concurrent claims of a new key one inserts; of concurrent takeovers one updates (the
      // row lock of UPDATE serialises them, and the loser's re-checked WHERE no longer matches).
      const inserted = await this.db
        .insertInto("push_idempotency")
        .values({
          project,
          key,
          fingerprint: claim.fingerprint,
          owner: claim.owner,
          lease_until: leaseUntil,
          offline_token: null,
          status: null,
          response: null,
          created_at: sql<Date>`clock_timestamp()`,
          expires_at: sql<Date>`clock_timestamp() + ${`${Math.max(1, Math.round(claim.retentionMs))} milliseconds`}::interval`,
        })
        .onConflict((oc) => oc.columns(["project", "key"]).doNothing())
        .returning("fingerprint")
        .executeTakeFirst();
      if (inserted !== undefined) {
        return { claimed: true, record: { fingerprint: claim.fingerprint, owner: claim.owner, leaseActive: true, offlineToken: null, offlineDone: false, onlineDone: false, status: null, response: null } };
      }
      const taken = await this.db
        .updateTable("push_idempotency")
        .set({ owner: claim.owner, lease_until: leaseUntil })
        .where("project", "=", project)
        .where("key", "=", key)
        .where("fingerprint", "=", claim.fingerprint)
        .where("status", "is", null)
        .where((eb) => eb.or([eb("owner", "is", null), eb("lease_until", "<=", sql<Date>`clock_timestamp()`)]))
        .returningAll()
        .returning(leaseActive)
        .executeTakeFirst();
      if (taken !== undefined) return { claimed: true, record: toPushKeyRecord(taken) };
      const row = await this.db.selectFrom("push_idempotency").selectAll().select(leaseActive).where("project", "=", project).where("key", "=", key).executeTakeFirst();
      if (row === undefined) {
        // Deleted between our statements (expired, or its push was refused): claim it afresh.
        return this.claimPushKey(project, key, claim);
      }
      return { claimed: false, record: toPushKeyRecord(row) };
    });
  }

  async updatePushKey(project: string, key: string, owner: string, patch: PushKeyPatch): Promise<boolean> {
    checkProject(project);
    return this.run(async () => {
      const set: Partial<{ offline_token: string; offline_done: boolean; online_done: boolean; status: number; response: string; owner: null; lease_until: null }> = {};
      if (patch.offlineToken !== undefined) set.offline_token = patch.offlineToken;
      if (patch.offlineDone !== undefined) set.offline_done = patch.offlineDone;
      if (patch.onlineDone !== undefined) set.online_done = patch.onlineDone;
      if (patch.result !== undefined) {
        set.status = patch.result.status;
        set.response = JSON.stringify(patch.result.response);
      }
      if (patch.result !== undefined || patch.release === true) {
        set.owner = null;
        set.lease_until = null;
      }
      const res = await this.db.updateTable("push_idempotency").set(set).where("project", "=", project).where("key", "=", key).where("owner", "=", owner).executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    });
  }

  async deletePushKey(project: string, key: string, owner: string): Promise<void> {
    checkProject(project);
    await this.run(async () => {
      await this.db.deleteFrom("push_idempotency").where("project", "=", project).where("key", "=", key).where("owner", "=", owner).execute();
    });
  }
}

function toPushKeyRecord(row: Selectable<PushIdempotencyTable> & { lease_active: boolean | null }): PushKeyRecord {
  return {
    fingerprint: row.fingerprint,
    owner: row.owner,
    leaseActive: row.owner !== null && row.lease_active === true,
    offlineToken: row.offline_token,
    offlineDone: row.offline_done,
    onlineDone: row.online_done,
    status: row.status === null ? null : Number(row.status),
    response: row.response,
  };
}

function toModelVersionSummary(row: Pick<Selectable<ModelVersionsTable>, "name" | "version" | "format" | "service" | "lineage" | "metrics" | "created_at" | "stage" | "stage_changed_at">): ModelVersionSummary {
  return {
    name: row.name,
    version: Number(row.version),
    format: row.format,
    service: row.service,
    lineage: row.lineage,
    metrics: row.metrics,
    createdAt: row.created_at,
    stage: row.stage as ModelStage | null,
    stageChangedAt: row.stage_changed_at,
  };
}

function toModelVersionRecord(row: Selectable<ModelVersionsTable>): ModelVersionRecord {
  return { ...toModelVersionSummary(row), model: row.model };
}

/** JSON text of a value for a jsonb column; NaN and Infinity have no JSON form, so they are refused, not turned into null. */
function jsonText(value: unknown, what: string): string {
  let nonFinite = false;
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "number" && !Number.isFinite(v)) nonFinite = true;
    return v;
  });
  if (text === undefined) throw new LarderError("INVALID_ARGUMENT", `model ${what} must be JSON-serialisable`);
  if (nonFinite) throw new LarderError("INVALID_ARGUMENT", `model ${what} holds NaN or Infinity, which JSON cannot represent`);
  return text;
}

const MAX_MODEL_VERSION = 2_147_483_647;

function checkModelVersion(version: unknown): number {
  // Versions are a Postgres integer column: a larger number would fail the query, not find nothing.
  if (!(typeof version === "number" && Number.isSafeInteger(version) && version >= 1 && version <= MAX_MODEL_VERSION)) {
    throw new LarderError("INVALID_ARGUMENT", `model version must be a positive integer (at most ${MAX_MODEL_VERSION}), got ${String(version)}`, { field: "version" });
  }
  return version;
}

function checkStage(stage: unknown): ModelStage {
  if (!(MODEL_STAGES as readonly unknown[]).includes(stage)) {
    throw new LarderError("INVALID_ARGUMENT", `model stage must be ${MODEL_STAGES.join(" or ")}, got ${JSON.stringify(stage)}`);
  }
  return stage as ModelStage;
}

function toAppliedDefinition(row: Selectable<DefinitionsTable>): AppliedDefinition {
  const def: AppliedDefinition = {
    kind: row.kind as DefinitionKind,
    name: row.name,
    spec: row.spec,
    hash: row.hash,
    version: Number(row.version),
    appliedAt: row.applied_at,
  };
  if (row.deleted_at !== null) def.deletedAt = row.deleted_at;
  return def;
}

function toRunRecord(row: Selectable<RunsTable> & { lease_expired: boolean }): RunRecord {
  return {
    id: row.id,
    project: row.project,
    kind: row.kind,
    view: row.view_name,
    rangeStart: row.range_start,
    rangeEnd: row.range_end,
    status: row.status === "running" && row.lease_expired ? "abandoned" : (row.status as RunStatus),
    rows: row.row_count === null ? null : Number(row.row_count),
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    heartbeatAt: row.heartbeat_at ?? null,
    leaseUntil: row.lease_until ?? null,
    ...(row.slot === null || row.slot === undefined ? {} : { slot: row.slot }),
  };
}

/** The SQLSTATE of a Postgres error (pg and PGlite both set `code`), if any. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

function checkProject(project: string): void {
  checkText(project, "project");
}

function checkText(value: unknown, what: string): void {
  if (typeof value !== "string" || value.length === 0 || value.includes("\u0000")) {
    throw new LarderError("INVALID_ARGUMENT", `${what} must be a non-empty string without NUL characters, got ${JSON.stringify(value)}`);
  }
}

function checkKind(kind: unknown): void {
  if (!isDefinitionKind(kind)) throw new LarderError("INVALID_ARGUMENT", `unknown definition kind ${JSON.stringify(kind)}`);
}

function checkDate(value: unknown, what: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new LarderError("INVALID_ARGUMENT", `${what} must be a valid Date, got ${String(value)}`);
  return value;
}

/** `clock_timestamp() + leaseMs`, for a lease's end; leaseMs must be a positive integer. */
function leaseInterval(leaseMs: unknown) {
  if (!(typeof leaseMs === "number" && Number.isSafeInteger(leaseMs) && leaseMs > 0)) {
    throw new LarderError("INVALID_ARGUMENT", `run lease must be a positive integer of milliseconds, got ${String(leaseMs)}`);
  }
  return sql<Date>`clock_timestamp() + cast(${leaseMs} as double precision) * interval '1 millisecond'`;
}

/** The row of a run that starts now (checked arguments, a new id, status running, a fresh lease). */
function newRunValues(project: string, run: { kind: string; view: string; rangeStart?: Date; rangeEnd?: Date } & RunLeaseOptions) {
  checkProject(project);
  checkText(run?.kind, "run kind");
  checkText(run?.view, "run view");
  const leaseUntil = leaseInterval(run.leaseMs ?? DEFAULT_RUN_LEASE_MS);
  return {
    id: randomUUID(),
    project,
    kind: run.kind,
    view_name: run.view,
    range_start: run.rangeStart === undefined ? null : checkDate(run.rangeStart, "rangeStart"),
    range_end: run.rangeEnd === undefined ? null : checkDate(run.rangeEnd, "rangeEnd"),
    status: "running",
    row_count: null,
    error: null,
    // clock_timestamp, not now(): the start of this statement, not of some enclosing transaction.
    started_at: sql<Date>`clock_timestamp()`,
    finished_at: null,
    heartbeat_at: sql<Date>`clock_timestamp()`,
    lease_until: leaseUntil,
  };
}
