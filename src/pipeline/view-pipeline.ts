import { mkdir, rm } from "node:fs/promises";
import type { BatchSourceDef, FeatureRow, FeatureViewDef } from "../definitions/definition-types.js";
import { definitionError } from "../definitions/definition-error.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import { batchSourceOf } from "../definitions/sources.js";
import { lookbackMs, type AggregationSpec } from "../aggregate/window-aggregator.js";
import { LarderError } from "../errors.js";
import { withOfflineEngine, type OfflineEngine } from "../offline/duckdb-engine.js";
import type { OfflineColumnSpec, OfflineStore } from "../offline/offline-store.js";
import { aggregatedEventColumns } from "../offline/window-join-sql.js";
import { checkDeclaredSchema } from "../sources/declared-schema.js";
import { estimateSourceRows, readSource, scanSource, type Row } from "../sources/read-source.js";
import { probeRowTransform, runRowTransform } from "../transform/transform-executor.js";
import { toEpochMs } from "../time.js";
import type { ValueType } from "../types.js";
import { engineRows } from "./engine-rows.js";
import { nativeSelect } from "./native-select.js";
import { StagedRows } from "./staged-rows.js";
import { spillDirOf } from "./view-run.js";

export const EVENT_TS = "event_timestamp";
export const CREATED_TS = "created_timestamp";
/**
 * Where the stored history of a view with an unbounded window starts: 0001-01-01T00:00:00Z, the
 * earliest instant the registry (Postgres timestamptz, which has no year 0) records as a run's
 * range. A Date's own minimum, −8.64e15, fails there ("time zone displacement out of range"), and
 * so does year 0000. Events before year 1 are outside every backfill of such a view.
 */
const HISTORY_START_MS = -62_135_596_800_000;

export interface PipelineContext {
  repoDir: string;
  offline: OfflineStore;
  postgresUrl: string | undefined;
  batchSize?: number;
  onProgress?: (p: { sourceRows: number; totalRows?: number }) => void;
  /** The registry run this backfill records: names the engine's spill directory (see spillDirOf). */
  runId?: string;
  /** Told which path a view's backfill took (for tests and benchmarks). */
  onPath?: (path: "native" | "engine-rows" | "rows") => void;
}

export interface BackfillResult {
  view: string;
  sourceRows: number;
  rowsWritten: number;
  files: number;
  droppedNullKeys: number;
}

/**
 * The columns of a view's offline dataset: join keys, event time, created time (when the source
 * has one), then the values. A plain view stores its schema's features. An aggregated view stores
 * its transformed source events — the columns its aggregations read — and its window values are
 * computed from them when they are read (training sets, materialization); see `aggregatedEventColumns`.
 */
export function offlineColumnsOf(view: FeatureViewDef): OfflineColumnSpec[] {
  // Aggregated views store their events; training sets aggregate them (../offline/window-join-sql.ts).
  if (view.aggregations) return aggregatedEventColumns(view);
  const keys = joinKeysOf(view);
  const types = joinKeyTypesOf(view);
  const cols: OfflineColumnSpec[] = keys.map((name, i) => ({ name, type: types[i]!, role: "key" as const }));
  cols.push({ name: EVENT_TS, type: "timestamp", role: "event_ts" });
  const source = batchSourceOf(view.source);
  if (source.createdTimestampField) cols.push({ name: CREATED_TS, type: "timestamp", role: "created_ts" });
  for (const [name, type] of Object.entries(view.schema)) cols.push({ name, type, role: "feature" });
  return cols;
}

export function aggregationsOf(view: FeatureViewDef): AggregationSpec[] {
  return Object.entries(view.aggregations ?? {}).map(([name, def]) => ({ name, def }));
}

function mappedName(source: BatchSourceDef, column: string): string {
  return source.fieldMapping[column] ?? column;
}

/**
 * The compiled batch pipeline of one view over [start, end), run by the offline engine: the
 * source's rows in the range, with null keys dropped (counted), converted to the view's offline
 * columns (`offlineColumnsOf`), sorted by (keys, event time, created time) and written as one
 * atomic replacement of the range into the offline store. Memory is the engine's: it spills its
 * sort past offline.memoryLimit to offline.tempDirectory.
 *
 * Two paths give the same rows. Sources the engine reads itself (Parquet, CSV) of views without a
 * row transform never pass through JavaScript (./native-select.ts). Views with a transform, and
 * Postgres sources, take the row path: rows are read and transformed in JavaScript and appended
 * to the engine (./staged-rows.ts). The native path hands a view to the row path when a value
 * needs its judgement, so errors are always the row path's.
 */
export async function backfillView(ctx: PipelineContext, view: FeatureViewDef, range: { start: number; end: number }): Promise<BackfillResult> {
  const columns = offlineColumnsOf(view);
  // Aggregated views store their events, also those their windows look back on before `start`
  // (re-read from the source: the range they lie in is replaced by the same events), so training
  // sets and materializations are exact from `start` on.
  const aggs = aggregationsOf(view);
  const write = aggs.length > 0 ? { start: Math.min(range.start, Math.max(HISTORY_START_MS, range.start - lookbackMs(aggs))), end: range.end } : range;
  const config = ctx.offline.engineConfig;
  const spill = ctx.runId === undefined ? undefined : spillDirOf(config.tempDirectory, ctx.runId);
  if (spill) await mkdir(spill, { recursive: true });
  try {
    return await withOfflineEngine(spill ? { ...config, tempDirectory: spill } : config, async (engine) => {
      const native = view.transform ? undefined : await backfillNative(ctx, engine, view, columns, write);
      if (native) ctx.onPath?.("native");
      return native ?? backfillRows(ctx, engine, view, columns, write);
    });
  } finally {
    if (spill) await rm(spill, { recursive: true, force: true });
  }
}

/** A failure of the engine reading the source, or a value the native path leaves to the row path. */
function leaveToRowPath(err: unknown): boolean {
  if (!(err instanceof LarderError)) return true;
  const cause = (err as { cause?: unknown }).cause;
  return err.code === "OFFLINE_STORE_ERROR" && cause !== undefined && !(cause instanceof LarderError);
}

async function backfillNative(ctx: PipelineContext, engine: OfflineEngine, view: FeatureViewDef, columns: OfflineColumnSpec[], range: { start: number; end: number }): Promise<BackfillResult | undefined> {
  const source = batchSourceOf(view.source);
  // A declared source schema is checked against a first row as the readers deliver it.
  if (source.schema) return undefined;
  const opts = { repoDir: ctx.repoDir, range, ...(ctx.postgresUrl ? { postgresUrl: ctx.postgresUrl } : {}) };
  let select: ReturnType<typeof nativeSelect>;
  let counts: Record<string, unknown> | undefined;
  try {
    const scan = await scanSource(engine, source, opts);
    if (!scan) return undefined;
    select = nativeSelect(view, columns, scan, range);
    if (!select) return undefined;
    [counts] = await engine.rows(select.countSql);
    const rows = Number(counts?.["rows"] ?? 0);
    ctx.onProgress?.({ sourceRows: 0, totalRows: rows });
    if (rows > 0) {
      const names = Object.fromEntries(scan.columns.map((c) => [c.name, null]));
      checkColumns(view, names, [...joinKeysOf(view), ...viewValueColumns(view)], Boolean(view.aggregations));
    }
    if (Number(counts?.["bad_ts"] ?? 0) > 0) return undefined;
  } catch (err) {
    if (leaveToRowPath(err)) return undefined;
    throw err;
  }
  const sourceRows = Number(counts?.["rows"] ?? 0);
  ctx.onProgress?.({ sourceRows, totalRows: sourceRows });
  const write = await ctx.offline.beginWrite(view.name, range, columns);
  try {
    await write.writeQuery(engine, select.selectSql);
    const done = await write.commit();
    return { view: view.name, sourceRows, rowsWritten: done.rows, files: done.files, droppedNullKeys: Number(counts?.["null_keys"] ?? 0) };
  } catch (err) {
    await write.abort();
    // An engine failure, NEEDS_ROW_PATH included: the row path gives the rows or the reader's error.
    if (leaveToRowPath(err)) return undefined;
    throw err;
  }
}

async function backfillRows(ctx: PipelineContext, engine: OfflineEngine, view: FeatureViewDef, columns: OfflineColumnSpec[], range: { start: number; end: number }): Promise<BackfillResult> {
  let staged: { rows: StagedRows; counts: { sourceRows: number; droppedNullKeys: number } } | undefined;
  // Rows stream out of the engine when it reads the source itself; a value it cannot stream
  // exactly sends the view to the source's reader (the staged rows are dropped).
  try {
    const source = batchSourceOf(view.source);
    const scan = await scanSource(engine, source, { repoDir: ctx.repoDir, range });
    const rows = scan ? engineRows(engine, scan, source, range) : undefined;
    if (rows) staged = await stageRows(ctx, engine, view, columns, range, "engine_rows", rows);
  } catch (err) {
    if (err instanceof LarderError && !leaveToRowPath(err)) throw err;
    staged = undefined;
  }
  ctx.onPath?.(staged ? "engine-rows" : "rows");
  staged ??= await stageRows(ctx, engine, view, columns, range, "reader_rows", undefined);
  const write = await ctx.offline.beginWrite(view.name, range, columns);
  try {
    if (staged.rows.rows > 0) await write.writeQuery(engine, staged.rows.selectSql());
    const done = await write.commit();
    return { view: view.name, sourceRows: staged.counts.sourceRows, rowsWritten: done.rows, files: done.files, droppedNullKeys: staged.counts.droppedNullKeys };
  } catch (err) {
    await write.abort();
    throw err;
  }
}

/** Reads (or streams) the view's rows through the transform and checks into an engine table. */
async function stageRows(
  ctx: PipelineContext,
  engine: OfflineEngine,
  view: FeatureViewDef,
  columns: OfflineColumnSpec[],
  range: { start: number; end: number },
  table: string,
  rows: AsyncIterable<Row[]> | undefined,
): Promise<{ rows: StagedRows; counts: { sourceRows: number; droppedNullKeys: number } }> {
  const label = (spec: OfflineColumnSpec) => (view.aggregations ? `featureView "${view.name}" column "${spec.name}"` : `featureView "${view.name}" feature "${spec.name}"`);
  const staged = await StagedRows.create(engine, table, columns, label);
  try {
    const checkNumbers = numericChecks(view);
    const counts = await forEachTransformedRow(
      ctx,
      view,
      range,
      (keyParts, ts, created, values) => {
        checkNumbers(values);
        staged.add(keyParts, ts, created, values);
      },
      rows,
    );
    staged.finish();
    return { rows: staged, counts };
  } catch (err) {
    staged.dispose();
    await engine.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    throw err;
  }
}

/** For aggregated views: sum, avg, min and max need numbers (or null) in the columns they read. */
function numericChecks(view: FeatureViewDef): (values: readonly unknown[]) => void {
  const valueColumns = viewValueColumns(view);
  const checks = aggregationsOf(view)
    .filter((a) => a.def.column !== null && a.def.fn !== "count" && a.def.fn !== "last")
    .map((a) => ({ a, index: valueColumns.indexOf(a.def.column!) }));
  if (checks.length === 0) return () => undefined;
  return (values) => {
    for (const { a, index } of checks) {
      const v = values[index];
      if (v !== null && v !== undefined && typeof v !== "number") {
        throw new LarderError("TYPE_MISMATCH", `featureView ${JSON.stringify(view.name)} aggregations.${a.name}: agg.${a.def.fn} needs numbers in column ${JSON.stringify(a.def.column)}, got ${typeof v} ${JSON.stringify(String(v))}`, {
          view: view.name,
          column: a.def.column,
        });
      }
    }
  };
}

/** Plain views carry their schema's features; aggregated views carry the columns aggregations read. */
export function viewValueColumns(view: FeatureViewDef): string[] {
  const aggs = aggregationsOf(view);
  return aggs.length > 0 ? [...new Set(aggs.map((a) => a.def.column).filter((c): c is string => c !== null))] : Object.keys(view.schema);
}

/**
 * Called per transformed source row with a non-null key: its join key values, event time, created
 * time (−Infinity when none), and the values of `viewValueColumns(view)`. The arrays are reused
 * between calls: copy what you keep.
 */
export type TransformedRowVisitor = (keyParts: unknown[], ts: number, created: number, values: unknown[]) => void;

/**
 * The read-and-transform stage of a view's pipeline, shared by backfills and the materialization of
 * aggregated views (their online event buffers): reads the view's batch source over `readRange`,
 * runs the row transform on every row, checks plain views' values against the schema (errors name
 * the source row) and hands each row with a non-null key to `visit`; rows with a null key part are
 * counted and dropped.
 */
export async function forEachTransformedRow(
  ctx: Pick<PipelineContext, "repoDir" | "postgresUrl" | "batchSize" | "onProgress">,
  view: FeatureViewDef,
  readRange: { start?: number; end: number },
  visit: TransformedRowVisitor,
  /** The source's rows over `readRange` from elsewhere (the engine); default: the source's reader. */
  rowsFrom?: AsyncIterable<Row[]>,
): Promise<{ sourceRows: number; droppedNullKeys: number }> {
  const source = batchSourceOf(view.source);
  const keys = joinKeysOf(view);
  const aggs = aggregationsOf(view);
  const tsField = mappedName(source, source.timestampField);
  const createdField = source.createdTimestampField ? mappedName(source, source.createdTimestampField) : null;
  const valueColumns = viewValueColumns(view);
  // Plain views check each value's type as it arrives, so an error names the source row.
  const valueTypes = aggs.length > 0 ? [] : valueColumns.map((c) => view.schema[c]!);
  let sourceRows = 0;
  let dropped = 0;
  let checked = false;
  const keyParts = new Array<unknown>(keys.length);
  const values = new Array<unknown>(valueColumns.length);
  const readOpts = { repoDir: ctx.repoDir, range: readRange, ...(ctx.batchSize ? { batchSize: ctx.batchSize } : {}), ...(ctx.postgresUrl ? { postgresUrl: ctx.postgresUrl } : {}) };
  // Only worth a footer read or a catalog query when someone shows progress.
  const totalRows = ctx.onProgress ? await estimateSourceRows(source, readOpts) : undefined;
  const rows = rowsFrom ?? readSource(source, readOpts);
  for await (const batch of rows) {
    for (let r = 0; r < batch.length; r++) {
      const raw = batch[r]!;
      const ts = toEpochMs(raw[tsField], `source ${JSON.stringify(source.name)} column ${JSON.stringify(tsField)}`);
      const createdRaw = createdField ? raw[createdField] : null;
      const created = createdRaw === null || createdRaw === undefined ? Number.NEGATIVE_INFINITY : toEpochMs(createdRaw, `source ${JSON.stringify(source.name)} column ${JSON.stringify(createdField)}`);
      // The first row runs with its reads watched (a typo'd column is UNKNOWN_COLUMN); the rest run plain.
      if (!checked) checkDeclaredSchema(source, raw as FeatureRow);
      const row = checked ? runRowTransform(view, raw as FeatureRow) : probeRowTransform(view, raw as FeatureRow, source.name);
      if (!checked) {
        checkColumns(view, row, [...keys, ...valueColumns], aggs.length > 0);
        checked = true;
      }
      let nullKey = false;
      for (let k = 0; k < keys.length; k++) {
        const v = row[keys[k]!];
        if (v === null || v === undefined) nullKey = true;
        keyParts[k] = v;
      }
      if (nullKey) {
        dropped++;
        continue;
      }
      for (let k = 0; k < valueColumns.length; k++) {
        const v = row[valueColumns[k]!] ?? null;
        const type = valueTypes[k];
        if (type !== undefined && v !== null && !acceptsValue(type, v)) {
          throw new LarderError(
            "TYPE_MISMATCH",
            `featureView ${JSON.stringify(view.name)} feature ${JSON.stringify(valueColumns[k])}: source ${JSON.stringify(source.name)} row ${sourceRows + r + 1} has ${typeof v} ${JSON.stringify(String(v)).slice(0, 60)}, expected ${type}`,
            { view: view.name, feature: valueColumns[k], row: sourceRows + r + 1 },
          );
        }
        values[k] = v;
      }
      visit(keyParts, ts, created, values);
    }
    sourceRows += batch.length;
    ctx.onProgress?.({ sourceRows, ...(totalRows !== undefined ? { totalRows } : {}) });
  }
  return { sourceRows, droppedNullKeys: dropped };
}

/** Whether a transformed row's value can be stored as `type` (the same leniency columnFromValues has). */
export function acceptsValue(type: ValueType, v: unknown): boolean {
  switch (type) {
    case "string":
      return typeof v === "string" || typeof v === "number" || typeof v === "bigint";
    case "bool":
      return typeof v === "boolean";
    case "timestamp":
      return v instanceof Date || typeof v === "number" || typeof v === "string";
    default:
      return typeof v === "number" || typeof v === "bigint" || (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)));
  }
}

function checkColumns(view: FeatureViewDef, row: FeatureRow, needed: string[], aggregated: boolean): void {
  for (const col of needed) {
    if (!(col in row)) {
      const has = Object.keys(row).join(", ");
      if (aggregated) {
        const [name] = Object.entries(view.aggregations ?? {}).find(([, a]) => a.column === col) ?? [col];
        throw definitionError("featureView", view.name, `aggregations.${name}`, `unknown column ${JSON.stringify(col)} (source has: ${has})`);
      }
      const path = view.entities.some((e) => e.joinKeys.includes(col)) ? "entities" : `schema.${col}`;
      throw definitionError("featureView", view.name, path, `unknown column ${JSON.stringify(col)} (source has: ${has})`);
    }
  }
}
