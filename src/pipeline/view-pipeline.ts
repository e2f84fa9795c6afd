import type { BatchSourceDef, FeatureRow, FeatureViewDef } from "../definitions/definition-types.js";
import { definitionError } from "../definitions/definition-error.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import { batchSourceOf } from "../definitions/sources.js";
import { lookbackMs, type AggregationSpec } from "../aggregate/window-aggregator.js";
import { LarderError } from "../errors.js";
import { columnFromValues, type ColumnarBatch, type NumericType } from "../offline/columnar.js";
import { encodeKeys, type EntityKey } from "../offline/entity-keys.js";
import type { OfflineColumnSpec, OfflineStore } from "../offline/offline-store.js";
import { aggregatedEventColumns } from "../offline/window-join-sql.js";
import { checkDeclaredSchema } from "../sources/declared-schema.js";
import { estimateSourceRows, readSource } from "../sources/read-source.js";
import { probeRowTransform, runRowTransform } from "../transform/transform-executor.js";
import { toEpochMs } from "../time.js";
import type { ValueType } from "../types.js";
import { SpillingRowBuffer, type RowChunk } from "./row-buffer.js";
import { sortByKeyTime } from "./sort-by-key-time.js";

export const EVENT_TS = "event_timestamp";
export const CREATED_TS = "created_timestamp";
/** The earliest instant a Date holds (a backfill of all history starts there). */
const MIN_EPOCH_MS = -8.64e15;

export interface PipelineContext {
  repoDir: string;
  offline: OfflineStore;
  postgresUrl: string | undefined;
  batchSize?: number;
  /** Rows kept in memory before spilling to disk (bounded memory for huge sources). */
  memoryRows?: number;
  /** The registry run this backfill records; names its temporary files (see removeSpillDirs). */
  runId?: string;
  onProgress?: (p: { sourceRows: number; totalRows?: number }) => void;
}

export interface BackfillResult {
  view: string;
  sourceRows: number;
  rowsWritten: number;
  files: number;
  droppedNullKeys: number;
}

/** The shape a view's offline dataset has: keys, event time, [created time], features. */
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
 * The compiled batch pipeline of one view over [start, end): read the source (with the lookback
 * its windows need), run the row transform on every row, sort by entity and time (spilling to disk
 * past a memory bound), aggregate if the view aggregates, and write one atomic replacement of the
 * range into the offline store.
 */
export async function backfillView(ctx: PipelineContext, view: FeatureViewDef, range: { start: number; end: number }): Promise<BackfillResult> {
  const keys = joinKeysOf(view);
  const keyTypes = joinKeyTypesOf(view);
  const aggs = aggregationsOf(view);
  const source = batchSourceOf(view.source);
  const createdField = source.createdTimestampField ? mappedName(source, source.createdTimestampField) : null;
  const valueColumns = viewValueColumns(view);
  // Aggregated views store their events, also those their windows look back on before `start`
  // (re-read from the source: the range they lie in is replaced by the same events), so training
  // sets and materializations are exact from `start` on, as when change rows were stored.
  const write = aggs.length > 0 ? { start: Math.max(MIN_EPOCH_MS, range.start - lookbackMs(aggs)), end: range.end } : range;
  const buffer = new SpillingRowBuffer(keys.length, valueColumns.length, ctx.memoryRows, undefined, undefined, ctx.runId);
  try {
    const { sourceRows, droppedNullKeys } = await forEachTransformedRow(ctx, view, write, (keyParts, ts, created, values) => buffer.add(keyParts, ts, created, values));

    const columns = offlineColumnsOf(view);
    const valueTypes = valueColumns.map((c) => columns.find((s) => s.name === c)!.type);
    const offlineWrite = await ctx.offline.beginWrite(view.name, write, columns);
    try {
      for (const group of buffer.groups()) {
        if (aggs.length > 0) checkAggregationInputs(view, group, valueColumns, aggs);
        const batch = sortGroup(view, group, keys, keyTypes, valueColumns, valueTypes, createdField !== null);
        if (batch.numRows > 0) await offlineWrite.writeChunk(batch);
      }
      const done = await offlineWrite.commit();
      return { view: view.name, sourceRows, rowsWritten: done.rows, files: done.files, droppedNullKeys };
    } catch (err) {
      await offlineWrite.abort();
      throw err;
    }
  } finally {
    buffer.dispose();
  }
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
  const rows = readSource(source, readOpts);
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
          throw new LarderError("TYPE_MISMATCH", `featureView ${JSON.stringify(view.name)} feature ${JSON.stringify(valueColumns[k])}: source ${JSON.stringify(source.name)} row ${sourceRows + r + 1} has ${typeof v} ${JSON.stringify(String(v)).slice(0, 60)}, expected ${type}`, { view: view.name, feature: valueColumns[k], row: sourceRows + r + 1 });
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

function normalisedKeys(group: RowChunk, keys: string[], keyTypes: ValueType[]): EntityKey[] {
  return encodeKeys(group.keys, keyTypes, keys, group.ts.length) as EntityKey[];
}

function keyColumnValues(group: RowChunk, k: number, type: ValueType, keys: string[], order: ArrayLike<number>): unknown[] {
  const src = group.keys[k]!;
  const out = new Array<unknown>(order.length);
  const single = encodeKeys([src], [type], [keys[k]!], src.length);
  for (let i = 0; i < order.length; i++) out[i] = single[order[i]!];
  return out;
}

function sortGroup(view: FeatureViewDef, group: RowChunk, keys: string[], keyTypes: ValueType[], valueColumns: string[], valueTypes: ValueType[], hasCreated: boolean): ColumnarBatch {
  const n = group.ts.length;
  const { order } = sortByKeyTime(normalisedKeys(group, keys, keyTypes), group.ts, group.created);
  const columns = new Map<string, ReturnType<typeof columnFromValues>>();
  keys.forEach((k, i) => columns.set(k, columnFromValues(keyTypes[i]!, keyColumnValues(group, i, keyTypes[i]!, keys, order), k)));
  const ts = new Array<unknown>(n);
  const created = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    ts[i] = group.ts[order[i]!];
    const c = group.created[order[i]!]!;
    created[i] = c === Number.NEGATIVE_INFINITY ? null : c;
  }
  columns.set(EVENT_TS, columnFromValues("timestamp", ts, EVENT_TS));
  if (hasCreated) columns.set(CREATED_TS, columnFromValues("timestamp", created, CREATED_TS));
  valueColumns.forEach((name, k) => {
    const src = group.values[k]!;
    const vals = new Array<unknown>(n);
    for (let i = 0; i < n; i++) vals[i] = src[order[i]!];
    columns.set(name, columnFromValues(valueTypes[k]!, vals, `featureView "${view.name}" feature "${name}"`));
  });
  return { numRows: n, columns };
}

/** sum, avg, min and max read numbers (or null): TYPE_MISMATCH naming the aggregation otherwise. */
function checkAggregationInputs(view: FeatureViewDef, group: RowChunk, valueColumns: string[], aggs: AggregationSpec[]): void {
  for (const a of aggs) {
    if (a.def.fn === "count" || a.def.fn === "last" || a.def.column === null) continue;
    const vals = group.values[valueColumns.indexOf(a.def.column)]!;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== null && v !== undefined && typeof v !== "number") {
        throw new LarderError("TYPE_MISMATCH", `featureView ${JSON.stringify(view.name)} aggregations.${a.name}: agg.${a.def.fn} needs numbers in column ${JSON.stringify(a.def.column)}, got ${typeof v} ${JSON.stringify(String(v))}`, { view: view.name, column: a.def.column });
      }
    }
  }
}
