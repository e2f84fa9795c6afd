import type { Table } from "apache-arrow";
import type { AggregationDef, FeatureRow } from "../definitions/definition-types.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { emptyAggregateValue } from "../aggregate/window-aggregator.js";
import { LarderError } from "../errors.js";
import { resolveFeatures, type FeatureSelection } from "../serving/feature-refs.js";
import { isEpochMs, parseIsoMs, TIMESTAMP_EXPECTED } from "../time.js";
import { runOnDemandTransform } from "../transform/transform-executor.js";
import { columnFromValues, columnGet, type Column, type ColumnarBatch } from "./columnar.js";
import { encodeKeys } from "./entity-keys.js";
import type { OfflineStore } from "./offline-store.js";
import { arrowTableToBatch, batchToArrowTable } from "./parquet-io.js";
import { pointInTimeJoin, type EntitySide } from "./point-in-time-join.js";
import { aggregatedViewJoin } from "./aggregated-view-join.js";

/** The entity rows' timestamp column (as in Feast). */
export const ENTITY_TS = "event_timestamp";

export interface TrainingSetRequest {
  selection: FeatureSelection;
  fullFeatureNames?: boolean;
  onProgress?: (p: { view: string; rows: number }) => void;
}

/**
 * Builds a training set: the entity rows, unchanged and in order, with the point-in-time-correct
 * value of every requested feature appended, and on-demand views computed row by row by the same
 * transform executor the online path uses.
 */
/**
 * A join key column's values with null where the column is null: a numeric column holds 0 there in
 * `values`, which would join entity 0.
 */
function keyValues(col: Column, n: number): ArrayLike<unknown> {
  return "valid" in col && col.valid !== null ? Array.from({ length: n }, (_, i) => columnGet(col, i)) : (col.values as ArrayLike<unknown>);
}

export async function buildTrainingSet(repo: RepoDefinitions, offline: OfflineStore, entities: Table, request: TrainingSetRequest): Promise<Table> {
  const resolved = resolveFeatures(repo, request.selection, request.fullFeatureNames ?? false);
  const available = entities.schema.fields.map((f) => f.name);
  const n = entities.numRows;
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
  const needed = [...new Set([ENTITY_TS, ...resolved.joinKeys, ...resolved.requestFields.keys()])];
  const input = arrowTableToBatch(entities.select(needed));
  const ts = entityTimestamps(input);

  const viewColumns = new Map<string, Map<string, Column>>();
  for (const [name, { def, features }] of resolved.views) {
    const keys = joinKeysOf(def);
    const keyTypes = joinKeyTypesOf(def);
    const side: EntitySide = {
      numRows: n,
      keys: encodeKeys(keys.map((k) => keyValues(input.columns.get(k)!, n)), keyTypes, keys, n),
      ts,
    };
    const featureList = [...features].map((f) => ({ name: f, type: def.schema[f]! }));
    // withSnapshot restarts the view's join once if a concurrent backfill replaced its files.
    // Aggregated views store events: their windows are computed in SQL (./window-join-sql.ts).
    const joined = def.aggregations
      ? await offline.withSnapshot(name, (snapshot) => aggregatedViewJoin(offline.engineConfig, snapshot, def, featureList, keys.map((k) => keyValues(input.columns.get(k)!, n)), ts))
      : await offline.withSnapshot(name, (snapshot) =>
      pointInTimeJoin(side, {
        snapshot,
        joinKeys: keys,
        keyTypes,
        features: featureList,
        ttlMs: def.ttlMs,
        readFile: (file, columns) => offline.readFile(file, columns),
      }),
    );
    if (def.aggregations) fillEmptyAggregates(joined.columns, joined.found, def.aggregations);
    viewColumns.set(name, joined.columns);
    request.onProgress?.({ view: name, rows: n });
  }

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

function entityTimestamps(input: ColumnarBatch): Float64Array {
  const col = input.columns.get(ENTITY_TS)!;
  const n = input.numRows;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let t = Number.NaN;
    if (col.type === "string") {
      const v = col.values[i];
      t = typeof v === "string" ? parseIsoMs(v) : Number.NaN;
    } else if (col.type !== "bool" && (col.valid === null || col.valid[i] === 1)) {
      t = col.values[i]!;
    }
    if (!isEpochMs(t)) {
      const raw = col.type === "string" || col.type === "bool" ? col.values[i] : col.valid && col.valid[i] === 0 ? null : col.values[i];
      throw new LarderError("INVALID_TIMESTAMP", `entity row ${i}: cannot parse ${ENTITY_TS} ${JSON.stringify(raw ?? null)} (${TIMESTAMP_EXPECTED}, or a timestamp column)`, { row: i, column: ENTITY_TS });
    }
    out[i] = t;
  }
  return out;
}

function fillEmptyAggregates(columns: Map<string, Column>, found: Uint8Array, aggs: Readonly<Record<string, AggregationDef>>): void {
  for (const [name, col] of columns) {
    const def = aggs[name];
    if (!def) continue;
    const empty = emptyAggregateValue(def);
    if (empty === null || col.type === "string" || col.type === "bool") continue;
    for (let i = 0; i < found.length; i++) {
      if (found[i]) continue;
      col.values[i] = empty;
      if (col.valid) col.valid[i] = 1;
    }
  }
}

/** One cell as transforms see it: numbers, strings, booleans, Dates for timestamps, or null. */
export function cellValue(col: Column, i: number): unknown {
  if (col.type === "string" || col.type === "bool") return col.values[i] ?? null;
  if (col.valid && col.valid[i] === 0) return null;
  const v = col.values[i]!;
  return col.type === "timestamp" ? new Date(v) : v;
}
