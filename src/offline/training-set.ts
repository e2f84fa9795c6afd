/**
 * Training sets: the entity rows, unchanged and in order, with the point-in-time-correct value of
 * every requested feature appended (DESIGN.md, "Point-in-time join").
 *
 * The join runs in the offline engine (DuckDB): the entity rows become a table (entity-rows-table.ts),
 * each view's join is one SELECT over it (point-in-time-join.ts), and the views are put side by
 * side by row. On-demand views then run row by row in the one transform executor, on the joined
 * rows; only they leave DuckDB. `writeTrainingSetFile` is the CLI's path: DuckDB reads the entity
 * Parquet file and writes the output itself.
 */
import { access, rename, unlink } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Table } from "apache-arrow";
import type { FeatureRow, FeatureViewDef } from "../definitions/definition-types.js";
import { joinKeysOf } from "../definitions/feature-view.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { emptyAggregateValue } from "../aggregate/window-aggregator.js";
import { aggregatedViewJoinSql } from "./window-join-sql.js";
import { LarderError } from "../errors.js";
import { resolveFeatures, type FeatureSelection, type ResolvedFeatures } from "../definitions/feature-refs.js";
import { MAX_EPOCH_MS } from "../time.js";
import { runOnDemandTransform } from "../transform/transform-executor.js";
import type { ValueType } from "../types.js";
import { columnFromValues, type Column, type ColumnarBatch } from "../data/columnar.js";
import { sqlIdent, sqlString, withOfflineEngine, type OfflineEngine } from "./duckdb-engine.js";
import { createEntityKeysView, createEntityTableViews, ENTITY_TS, entityKeyColumn, entityTimestamps, keyColumnNames, keySelectList, loadEntityKeys, planEntityTables, type EntityTable } from "./entity-rows-table.js";
import type { OfflineStore, ViewSnapshot } from "./offline-store.js";
import { arrowTableToBatch, batchToArrowTable, readParquetBatch } from "./parquet-io.js";
import { entityKeySqlType, pointInTimeJoin } from "./point-in-time-join.js";

export { ENTITY_TS };

export interface TrainingSetRequest {
  selection: FeatureSelection;
  fullFeatureNames?: boolean;
  onProgress?: (p: { view: string; rows: number }) => void;
}

/** The request's entity columns are there and no feature would overwrite one (the same errors on every path). */
function checkEntityColumns(resolved: ResolvedFeatures, available: readonly string[]): void {
  if (!available.includes(ENTITY_TS)) {
    throw new LarderError("INVALID_ENTITIES", `entity rows have no ${JSON.stringify(ENTITY_TS)} column (has: ${available.join(", ")})`, { column: ENTITY_TS });
  }
  for (const key of resolved.joinKeys) {
    if (!available.includes(key)) {
      throw new LarderError("MISSING_JOIN_KEY", `entity rows have no join key column ${JSON.stringify(key)} (has: ${available.join(", ")})`, { column: key });
    }
  }
  for (const [field, { source }] of resolved.requestFields) {
    if (!available.includes(field)) {
      throw new LarderError("INVALID_ENTITIES", `entity rows have no column ${JSON.stringify(field)}, a field of request source ${JSON.stringify(source)} that on-demand features need (has: ${available.join(", ")})`, { column: field });
    }
  }
  for (const out of resolved.outputs) {
    if (available.includes(out.outputName)) {
      throw new LarderError("DUPLICATE_FEATURE_NAME", `feature ${JSON.stringify(out.ref)} outputs ${JSON.stringify(out.outputName)}, which is already a column of the entity rows`, { features: [out.ref] });
    }
  }
}

/**
 * One view's join: an ASOF JOIN onto the entity relation `e` (point-in-time-join.ts), or a SELECT
 * of `__row` and the features over its `entity_rows` view, joined by row. Aggregated views are
 * joined like any other (their stored rows are the aggregates as of each event); an entity without
 * one has the empty window's value (count and sum 0).
 */
type ViewJoinPlan = { kind: "asof"; join: string; columns: string[] } | { kind: "select"; sql: string };

function viewJoin(def: FeatureViewDef, features: readonly string[], snapshot: ViewSnapshot | undefined, alias: string, keyColumn: (key: string) => string, tsRange: { min: number; max: number }, entityTable: string): ViewJoinPlan {
  // Aggregated views store events: their windows are computed in SQL (./window-join-sql.ts).
  if (def.aggregations) {
    const files = (snapshot?.segments ?? [])
      .flatMap((s) => s.files)
      .filter((f) => f.rows > 0)
      .map((f) => f.file);
    return { kind: "select", sql: aggregatedViewJoinSql({ view: def, files, features, entityTable, ...(snapshot ? { columns: snapshot.columns } : {}) }) };
  }
  const join = pointInTimeJoin({
    entity: "e",
    alias,
    keys: joinKeysOf(def).map((name) => ({ name, entityColumn: keyColumn(name) })),
    files: snapshot?.segments.flatMap((s) => s.files) ?? [],
    columns: snapshot?.columns ?? [],
    features: features.map((name) => {
      const agg = def.aggregations?.[name];
      return { name, type: def.schema[name]!, ...(agg ? { empty: emptyAggregateValue(agg) } : {}) };
    }),
    ttlMs: def.ttlMs,
    tsRange,
  });
  return { kind: "asof", ...join };
}

interface JoinedColumn {
  view: string;
  feature: string;
  type: ValueType;
  /** The column's name in the joined query. */
  alias: string;
}

interface EntityRelation {
  /** A relation aliased `e` with `__row`, `__ts` and `entity_keys`' key columns. */
  from: string;
  /** What comes before the features in the output (the entity columns), or "". */
  passthrough: string;
}

/** The views' joins side by side, ordered by row: the passthrough, then `columns` (timestamps as epoch ms when `epochMs`). */
function joinedQuery(
  resolved: ResolvedFeatures,
  plan: ReturnType<typeof planEntityTables>,
  snapshots: Map<string, ViewSnapshot | undefined>,
  tsRange: { min: number; max: number },
  relation: EntityRelation,
  epochMs: boolean,
  columns: JoinedColumn[],
): string {
  const joins: string[] = [];
  const exprs = new Map<string, string>();
  let v = 0;
  for (const [name, { def, features }] of resolved.views) {
    const alias = `v${v++}`;
    const table = plan.tableOf.get(name)!;
    const list = [...features];
    const join = viewJoin(def, list, snapshots.get(name), alias, (key) => entityKeyColumn(plan.tables, table, key), tsRange, table.name);
    if (join.kind === "asof") {
      if (join.join !== "") joins.push(join.join);
      list.forEach((f, i) => exprs.set(`${name}:${f}`, join.columns[i]!));
    } else {
      joins.push(`LEFT JOIN (${join.sql}) ${alias} ON ${alias}.__row = e.__row`);
      for (const f of list) exprs.set(`${name}:${f}`, `${alias}.${sqlIdent(f)}`);
    }
  }
  const select = columns.map((c) => {
    const expr = exprs.get(`${c.view}:${c.feature}`)!;
    return `${epochMs && c.type === "timestamp" ? `epoch_ms(${expr})` : expr} AS ${sqlIdent(c.alias)}`;
  });
  return `SELECT ${[relation.passthrough, ...select].filter((s) => s !== "").join(", ")} FROM ${relation.from} ${joins.join(" ")} ORDER BY e.__row`;
}

/**
 * Runs `fn` on snapshots of the views; if a file of one disappears meanwhile (a concurrent backfill
 * replaced it), runs it once more on fresh snapshots. `fn` must not keep partial results.
 */
async function withSnapshots<T>(offline: OfflineStore, views: readonly string[], fn: (snapshots: Map<string, ViewSnapshot | undefined>) => Promise<T>): Promise<T> {
  const take = async () => new Map(await Promise.all(views.map(async (v) => [v, await offline.snapshot(v)] as const)));
  const snapshots = await take();
  try {
    return await fn(snapshots);
  } catch (err) {
    const files = [...snapshots.values()].flatMap((s) => s?.segments.flatMap((seg) => seg.files.map((f) => f.file)) ?? []);
    const gone = await Promise.all(
      files.map((f) =>
        access(f).then(
          () => false,
          () => true,
        ),
      ),
    );
    if (!gone.includes(true)) throw err;
    return fn(await take());
  }
}

function tsRangeOf(ts: Float64Array): { min: number; max: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const t of ts) {
    if (t < min) min = t;
    if (t > max) max = t;
  }
  return { min, max };
}

/**
 * Builds a training set: the entity rows, unchanged and in order, with the point-in-time-correct
 * value of every requested feature appended, and on-demand views computed row by row by the same
 * transform executor the online path uses.
 */
export async function buildTrainingSet(repo: RepoDefinitions, offline: OfflineStore, entities: Table, request: TrainingSetRequest): Promise<Table> {
  const resolved = resolveFeatures(repo, request.selection, request.fullFeatureNames ?? false);
  checkEntityColumns(
    resolved,
    entities.schema.fields.map((f) => f.name),
  );
  const n = entities.numRows;
  const needed = [...new Set([ENTITY_TS, ...resolved.joinKeys, ...resolved.requestFields.keys()])];
  const input = arrowTableToBatch(entities.select(needed));
  const ts = entityTimestamps(input);

  // Every view feature (requested or an on-demand input), read back from DuckDB.
  const wanted: JoinedColumn[] = [];
  for (const [view, { def, features }] of resolved.views) for (const feature of features) wanted.push({ view, feature, type: def.schema[feature]!, alias: `c${wanted.length}` });
  const viewColumns = new Map<string, Map<string, Column>>();
  if (wanted.length > 0) {
    const plan = planEntityTables([...resolved.views.values()].map((v) => v.def));
    const values = await withOfflineEngine(offline.engineConfig, async (engine) => {
      await loadEntityKeys(engine, plan.tables, input, ts);
      await createEntityTableViews(engine, plan.tables);
      return withSnapshots(offline, [...resolved.views.keys()], async (snapshots) => {
        const sql = joinedQuery(resolved, plan, snapshots, tsRangeOf(ts), { from: "entity_keys e", passthrough: "" }, true, wanted);
        return readColumns(engine, sql, wanted.length, n);
      });
    });
    wanted.forEach((c, i) => {
      let cols = viewColumns.get(c.view);
      if (cols === undefined) viewColumns.set(c.view, (cols = new Map()));
      cols.set(c.feature, columnFromValues(c.type, values[i]!, `feature view "${c.view}" feature "${c.feature}"`));
    });
  }
  for (const view of resolved.views.keys()) request.onProgress?.({ view, rows: n });

  const odfvColumns = new Map<string, Map<string, Column>>();
  for (const odfv of resolved.onDemand) {
    const outputs = Object.keys(odfv.schema);
    const values = outputs.map(() => new Array<unknown>(n));
    const sourceCols: [string, Column][] = [];
    for (const s of odfv.sources) {
      if (s.kind === "feature_view") {
        const cols = viewColumns.get(s.name)!;
        for (const f of Object.keys(s.schema)) sourceCols.push([f, cols.get(f)!]);
      } else {
        for (const f of Object.keys(s.schema)) sourceCols.push([f, input.columns.get(f)!]);
      }
    }
    for (let i = 0; i < n; i++) {
      const row: FeatureRow = {};
      for (const [f, col] of sourceCols) row[f] = cellValue(col, i);
      const out = runOnDemandTransform(odfv, row);
      for (let k = 0; k < outputs.length; k++) values[k]![i] = out[outputs[k]!];
    }
    const cols = new Map<string, Column>();
    outputs.forEach((f, k) => cols.set(f, columnFromValues(odfv.schema[f]!, values[k]!, `onDemandFeatureView "${odfv.name}" feature "${f}"`)));
    odfvColumns.set(odfv.name, cols);
  }

  const features: ColumnarBatch = { numRows: n, columns: new Map() };
  for (const out of resolved.outputs) {
    const col = (out.onDemand ? odfvColumns : viewColumns).get(out.view)!.get(out.feature)!;
    features.columns.set(out.outputName, col);
  }
  return entities.assign(batchToArrowTable(features));
}

/** A query's columns as JS values (BIGINTs as bigints), `n` rows. */
async function readColumns(engine: OfflineEngine, sql: string, count: number, n: number): Promise<unknown[][]> {
  const out = Array.from({ length: count }, () => new Array<unknown>(n));
  let at = 0;
  for await (const chunk of engine.chunks(sql)) {
    for (let c = 0; c < count; c++) {
      const values = chunk.getColumnValues(c);
      const target = out[c]!;
      for (let i = 0; i < values.length; i++) target[at + i] = values[i];
    }
    at += chunk.rowCount;
  }
  return out;
}

/** One cell as transforms see it: numbers, strings, booleans, Dates for timestamps, or null. */
export function cellValue(col: Column, i: number): unknown {
  if (col.type === "string" || col.type === "bool") return col.values[i] ?? null;
  if (col.valid && col.valid[i] === 0) return null;
  const v = col.values[i]!;
  return col.type === "timestamp" ? new Date(v) : v;
}

// ───────────── the CLI's path: entity file in, Parquet file out, all in DuckDB ─────────────

const INTEGER_TYPES = new Set(["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT"]);
/** Timestamp types whose epoch ms DuckDB computes exactly as the Arrow path does (floored). */
const TIMESTAMP_TYPES = new Set(["TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_S"]);

/** Epoch ms of a timestamp column, floored like the Arrow path (epoch_ms truncates toward zero). */
function floorEpochMs(col: string): string {
  return `(CASE WHEN epoch_us(${col}) % 1000 < 0 THEN epoch_us(${col}) // 1000 - 1 ELSE epoch_us(${col}) // 1000 END)`;
}

/**
 * Writes the training set for an entity Parquet file to `outPath` without the rows passing
 * through JS: DuckDB reads the file, joins, and writes Parquet (to a temporary file next to
 * `outPath`, renamed over it after `beforeCommit` succeeds, so nothing is half-written). Returns
 * undefined, having done nothing, when this path does not apply (CSV entities, on-demand
 * features): use `buildTrainingSet` then. Validation and errors are those of `buildTrainingSet`.
 * Entity columns pass through as DuckDB reads and writes them (timestamps come back in µs).
 */
export async function writeTrainingSetFile(repo: RepoDefinitions, offline: OfflineStore, entitiesPath: string, outPath: string, request: TrainingSetRequest & { beforeCommit?: () => Promise<void> }): Promise<{ rows: number } | undefined> {
  const ext = extname(entitiesPath).toLowerCase();
  if (ext === ".csv" || ext === ".tsv") return undefined;
  try {
    await access(entitiesPath);
  } catch {
    return undefined; // the Arrow path reports it (SOURCE_NOT_FOUND)
  }
  const resolved = resolveFeatures(repo, request.selection, request.fullFeatureNames ?? false);
  if (resolved.onDemand.length > 0 || resolved.views.size === 0) return undefined;
  return withOfflineEngine(offline.engineConfig, async (engine) => {
    let described: Record<string, unknown>[];
    try {
      described = await engine.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlString(entitiesPath)})`);
    } catch {
      return undefined; // not a Parquet file DuckDB reads: the Arrow path says why
    }
    const types = new Map(described.map((r) => [String(r["column_name"]), String(r["column_type"])]));
    const names = [...types.keys()];
    if (names.some((c) => c === "file_row_number" || c.startsWith("__"))) return undefined; // would clash with ours
    checkEntityColumns(resolved, names);

    const plan = planEntityTables([...resolved.views.values()].map((v) => v.def));
    const { relation, tsRange, rows } = await entityRelationOfFile(engine, plan.tables, entitiesPath, types);
    await createEntityTableViews(engine, plan.tables);
    const columns: JoinedColumn[] = resolved.outputs.map((o) => ({ view: o.view, feature: o.feature, type: o.type, alias: o.outputName }));
    const tmp = join(dirname(outPath), `.${basename(outPath)}.tmp-${randomBytes(6).toString("hex")}`);
    try {
      await withSnapshots(offline, [...resolved.views.keys()], async (snapshots) => {
        await engine.run(`COPY (${joinedQuery(resolved, plan, snapshots, tsRange, relation, false, columns)}) TO ${sqlString(tmp)} (FORMAT parquet)`);
      });
      await request.beforeCommit?.();
      await rename(tmp, outPath);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    for (const view of resolved.views.keys()) request.onProgress?.({ view, rows });
    return { rows };
  });
}

/**
 * The entity file as the relation the joins attach to, with `entity_keys` for views over
 * `entity_rows`. When its timestamp and key columns have types SQL converts exactly as the JS rules
 * do (timestamp and integer columns; integer or string keys) and every value is valid, keys and
 * timestamps are computed inline; otherwise those columns are read into JS and go through the same
 * normalisation as `buildTrainingSet` (which also raises its errors).
 */
async function entityRelationOfFile(engine: OfflineEngine, tables: readonly EntityTable[], path: string, types: Map<string, string>): Promise<{ relation: EntityRelation; tsRange: { min: number; max: number }; rows: number }> {
  const file = `read_parquet(${sqlString(path)}, file_row_number = true)`;
  const exclude = ["file_row_number", "__row", "__ts", ...keyColumnNames(tables)].map(sqlIdent).join(", ");
  const passthrough = `e.* EXCLUDE (${exclude})`;
  const tsType = types.get(ENTITY_TS)!;
  const ts = TIMESTAMP_TYPES.has(tsType) ? floorEpochMs(sqlIdent(ENTITY_TS)) : INTEGER_TYPES.has(tsType) ? `TRY_CAST(${sqlIdent(ENTITY_TS)} AS BIGINT)` : null;
  const keyExpr = (key: string, type: ValueType): string | null => {
    const colType = types.get(key)!;
    const col = sqlIdent(key);
    if (INTEGER_TYPES.has(colType)) return entityKeySqlType(type) === "BIGINT" ? `TRY_CAST(${col} AS BIGINT)` : `CAST(${col} AS VARCHAR)`;
    if (colType === "VARCHAR" && entityKeySqlType(type) === "VARCHAR") return col;
    return null;
  };
  const keys = tables.flatMap((t) => [...t.keys].map(([k, type]) => ({ k, expr: keyExpr(k, type) })));
  if (ts !== null && keys.every((k) => k.expr !== null)) {
    // Integer keys beyond ±2^53 and missing or out-of-range timestamps take the JS path, which names them.
    const badKey = keys
      .filter((k) => INTEGER_TYPES.has(types.get(k.k)!))
      .map((k) => `(${sqlIdent(k.k)} IS NOT NULL AND (TRY_CAST(${sqlIdent(k.k)} AS BIGINT) IS NULL OR abs(TRY_CAST(${sqlIdent(k.k)} AS BIGINT)) > ${Number.MAX_SAFE_INTEGER}))`);
    const [check] = await engine.rows(
      `SELECT count(*)::BIGINT AS n, count(*) FILTER (WHERE __ts IS NULL OR abs(__ts) > ${MAX_EPOCH_MS}${badKey.map((b) => ` OR ${b}`).join("")})::BIGINT AS bad, min(__ts) AS lo, max(__ts) AS hi FROM (SELECT *, ${ts} AS __ts FROM read_parquet(${sqlString(path)}))`,
    );
    if (check !== undefined && Number(check["bad"]) === 0) {
      const inline = `(SELECT *, file_row_number AS __row, ${ts} AS __ts, ${keySelectList(tables, (key, type) => keyExpr(key, type)!).join(", ")} FROM ${file})`;
      await createEntityKeysView(engine, tables, inline);
      const lo = check["lo"];
      const hi = check["hi"];
      return { relation: { from: `${inline} e`, passthrough }, tsRange: lo === null || hi === null ? { min: 0, max: 0 } : { min: Number(lo), max: Number(hi) }, rows: Number(check["n"]) };
    }
  }
  const needed = [...new Set([ENTITY_TS, ...tables.flatMap((t) => [...t.keys.keys()])])];
  const input = await readParquetBatch(path, { columns: needed });
  const times = entityTimestamps(input);
  await loadEntityKeys(engine, tables, input, times);
  return {
    relation: { from: `(SELECT ent.*, k.* FROM ${file} ent JOIN entity_keys k ON k.__row = ent.file_row_number) e`, passthrough },
    tsRange: tsRangeOf(times),
    rows: input.numRows,
  };
}
