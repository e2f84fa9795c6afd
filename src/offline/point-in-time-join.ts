import type { Column, ColumnarBatch } from "./columnar.js";
import { emptyColumn } from "./columnar.js";
import { encodeKeys, type EntityKey } from "./entity-keys.js";
import type { OfflineFile, ViewSnapshot } from "./offline-store.js";
import type { ValueType } from "../types.js";

/** The entity side of a point-in-time join: one normalised key and one timestamp per row. */
export interface EntitySide {
  numRows: number;
  keys: (EntityKey | null)[];
  ts: Float64Array;
}

export interface ViewJoinSpec {
  snapshot: ViewSnapshot | undefined;
  joinKeys: readonly string[];
  keyTypes: readonly ValueType[];
  features: readonly { name: string; type: ValueType }[];
  ttlMs: number | null;
  readFile(file: OfflineFile, columns: string[]): Promise<ColumnarBatch>;
}

export interface ViewJoinResult {
  /** Feature columns, one row per entity row. */
  columns: Map<string, Column>;
  /** 1 where a row matched (inside the TTL). */
  found: Uint8Array;
  /** Event timestamp of the matched row (NaN where none). */
  eventTs: Float64Array;
}

/**
 * Point-in-time join of one view onto entity rows. For each entity row (key, T): the view's row
 * for that key with the greatest event timestamp ≤ T, ties broken by the greatest created
 * timestamp; with a TTL the row must also have event timestamp ≥ T − ttl. Entity rows are never
 * dropped or reordered.
 *
 * Files are sorted by (key, event ts, created ts), so each key's rows are one contiguous run: a
 * hash lookup finds the run and a binary search the row. Files are read one at a time and the best
 * candidate so far is kept per entity row, so memory holds one file plus the output.
 */
export async function pointInTimeJoin(entities: EntitySide, view: ViewJoinSpec): Promise<ViewJoinResult> {
  const n = entities.numRows;
  const columns = new Map<string, Column>();
  for (const f of view.features) columns.set(f.name, emptyColumn(f.type, n));
  const found = new Uint8Array(n);
  const bestTs = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
  const bestCreated = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
  const result: ViewJoinResult = { columns, found, eventTs: new Float64Array(n).fill(Number.NaN) };
  const snapshot = view.snapshot;
  if (!snapshot || n === 0) return result;

  const tsCol = snapshot.columns.find((c) => c.role === "event_ts")!.name;
  const createdCol = snapshot.columns.find((c) => c.role === "created_ts")?.name;
  let minT = Number.POSITIVE_INFINITY;
  let maxT = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const t = entities.ts[i]!;
    if (t < minT) minT = t;
    if (t > maxT) maxT = t;
  }
  const ttl = view.ttlMs;
  const wanted = [...view.joinKeys, tsCol, ...(createdCol ? [createdCol] : []), ...view.features.map((f) => f.name)];
  const groups = groupEntityRows(entities);
  // Matches of the current file: entity row matchedEntity[m] takes file row matchedRow[m]. A later
  // match of the same entity row in the same file overwrites an earlier one in order, so gathering
  // in match order leaves the best.
  const matchedEntity = new Int32Array(n);
  const matchedRow = new Int32Array(n);
  let matches = 0;

  const files = snapshot.segments.flatMap((seg) => seg.files).filter((file) => file.rows > 0 && file.minTs <= maxT && (ttl === null || file.maxTs >= minT - ttl));
  // Read one file ahead: with a worker-backed reader the next file decodes while this one joins.
  let next: Promise<ColumnarBatch> | null = files.length > 0 ? view.readFile(files[0]!, wanted) : null;
  next?.catch(() => {});
  for (let fileIndex = 0; fileIndex < files.length; fileIndex++) {
    {
      const batch = await next!;
      next = fileIndex + 1 < files.length ? view.readFile(files[fileIndex + 1]!, wanted) : null;
      next?.catch(() => {});
      const rows = batch.numRows;
      const keys = fileKeys(batch, view);
      const ts = batch.columns.get(tsCol)!.values as Float64Array;
      const created = createdCol ? (batch.columns.get(createdCol)! as { values: Float64Array; valid: Uint8Array | null }) : null;
      const sources = view.features.map((f) => batch.columns.get(f.name)!);
      const targets = view.features.map((f) => columns.get(f.name)!);

      // Walk the file's runs of equal keys; each run is matched with its key's entity rows.
      let s = 0;
      while (s < rows) {
        const k = keys[s];
        let e = s + 1;
        while (e < rows && keys[e] === k) e++;
        const g = k === null || k === undefined ? undefined : groups.groupOf.get(k);
        if (g !== undefined) {
          for (let r = groups.starts[g]!; r < groups.starts[g + 1]!; r++) {
            const i = groups.rows[r]!;
            const T = entities.ts[i]!;
            // Last row in [s, e) with ts ≤ T.
            let lo = s;
            let hi = e;
            while (lo < hi) {
              const mid = (lo + hi) >>> 1;
              if (ts[mid]! <= T) lo = mid + 1;
              else hi = mid;
            }
            const j = lo - 1;
            if (j < s) continue;
            const t = ts[j]!;
            const c = created && (created.valid === null || created.valid[j] === 1) ? created.values[j]! : Number.NEGATIVE_INFINITY;
            if (t < bestTs[i]! || (t === bestTs[i]! && c <= bestCreated[i]!)) continue;
            bestTs[i] = t;
            bestCreated[i] = c;
            found[i] = 1;
            if (matches === n) {
              // Only if a file repeats a key in two runs (files are sorted, so not expected).
              for (let f = 0; f < sources.length; f++) gather(sources[f]!, targets[f]!, matchedRow, matchedEntity, matches);
              matches = 0;
            }
            matchedEntity[matches] = i;
            matchedRow[matches++] = j;
          }
        }
        s = e;
      }
      // Gather column by column: tight loops without per-cell type dispatch.
      for (let f = 0; f < sources.length; f++) gather(sources[f]!, targets[f]!, matchedRow, matchedEntity, matches);
      matches = 0;
    }
  }

  for (let i = 0; i < n; i++) {
    if (!found[i]) continue;
    if (ttl !== null && bestTs[i]! < entities.ts[i]! - ttl) {
      found[i] = 0;
      for (const col of columns.values()) setNull(col, i);
    } else {
      result.eventTs[i] = bestTs[i]!;
    }
  }
  return result;
}

/** Entity rows grouped by key (CSR layout): rows[starts[g] .. starts[g+1]) have key g. */
function groupEntityRows(entities: EntitySide): { groupOf: Map<EntityKey, number>; starts: Int32Array; rows: Int32Array } {
  const n = entities.numRows;
  const groupOf = new Map<EntityKey, number>();
  const ids = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const k = entities.keys[i];
    if (k === null || k === undefined) continue;
    let g = groupOf.get(k);
    if (g === undefined) {
      g = groupOf.size;
      groupOf.set(k, g);
    }
    ids[i] = g;
  }
  const starts = new Int32Array(groupOf.size + 1);
  for (let i = 0; i < n; i++) if (ids[i]! >= 0) starts[ids[i]! + 1]!++;
  for (let g = 0; g < groupOf.size; g++) starts[g + 1]! += starts[g]!;
  const cursor = starts.slice(0, groupOf.size);
  const rows = new Int32Array(starts[groupOf.size]!);
  for (let i = 0; i < n; i++) if (ids[i]! >= 0) rows[cursor[ids[i]!]!++] = i;
  return { groupOf, starts, rows };
}

/**
 * The file's keys in the normalised form entity keys have. A single int key column is already
 * numbers and a single string key column strings, so those are used as they are (the hot path);
 * anything else goes through `encodeKeys`.
 */
function fileKeys(batch: ColumnarBatch, view: ViewJoinSpec): ArrayLike<EntityKey | null> {
  if (view.joinKeys.length === 1) {
    const col = batch.columns.get(view.joinKeys[0]!)!;
    const type = view.keyTypes[0]!;
    if (col.type === "string" && type === "string") return col.values;
    if ((col.type === "int64" || col.type === "int32") && type !== "string" && col.valid === null) return col.values;
  }
  const keyCols = view.joinKeys.map((k) => batch.columns.get(k)!.values as ArrayLike<unknown>);
  return encodeKeys(keyCols, view.keyTypes, view.joinKeys, batch.numRows);
}

function gather(from: Column, to: Column, rowsFrom: Int32Array, rowsTo: Int32Array, count: number): void {
  if (from.type === "string" || from.type === "bool" || to.type === "string" || to.type === "bool") {
    const src = from.values as unknown[];
    const dst = to.values as unknown[];
    for (let m = 0; m < count; m++) dst[rowsTo[m]!] = src[rowsFrom[m]!] ?? null;
    return;
  }
  const src = from.values;
  const dst = to.values;
  const valid = to.valid!;
  const srcValid = from.valid;
  if (srcValid === null) {
    for (let m = 0; m < count; m++) {
      const i = rowsTo[m]!;
      dst[i] = src[rowsFrom[m]!]!;
      valid[i] = 1;
    }
  } else {
    for (let m = 0; m < count; m++) {
      const i = rowsTo[m]!;
      const j = rowsFrom[m]!;
      dst[i] = src[j]!;
      valid[i] = srcValid[j]!;
    }
  }
}

function setNull(col: Column, i: number): void {
  if (col.type === "string" || col.type === "bool") (col.values as unknown[])[i] = null;
  else if (col.valid) col.valid[i] = 0;
}
