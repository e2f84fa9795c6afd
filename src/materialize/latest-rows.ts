import { columnGet, type Column, type ColumnarBatch } from "../data/columnar.js";
import { encodeKeys, type EntityKey } from "../data/entity-keys.js";
import type { OfflineFile, ViewSnapshot } from "../offline/offline-store.js";
import type { ValueType } from "../types.js";

/** The latest row of one entity inside a time range, ready for the online store. */
export interface LatestRow {
  /** The entity's join key values, in join key order, as the offline file holds them. */
  keyParts: (number | string | boolean | null)[];
  /** Normalised key (as the point-in-time join compares them). */
  key: EntityKey;
  eventTs: number;
  /** The row's created timestamp, epoch ms; null when the view stores none (or the row has none). */
  createdTs: number | null;
  /** Feature values in `features` order: numbers (timestamps as epoch ms), strings, booleans or null. */
  values: (number | string | boolean | null)[];
}

export interface LatestRowsSpec {
  snapshot: ViewSnapshot | undefined;
  joinKeys: readonly string[];
  keyTypes: readonly ValueType[];
  features: readonly string[];
  range: { start: number; end: number };
  readFile(file: OfflineFile, columns: string[]): Promise<ColumnarBatch>;
}

/**
 * Per file of the snapshot (one at a time, in segment order), the latest row of each entity with
 * an event timestamp in [start, end): among equal event timestamps the greatest created timestamp
 * wins, as in the point-in-time join. Files are sorted by (keys, event ts, created ts), so an
 * entity's rows are one contiguous run of a file and its best row is found by a binary search.
 *
 * An entity may have rows in several files (segments of different time ranges); each file yields
 * its own best row, and the online store's monotonic writes keep the newest. A given (entity,
 * event ts) lives in one segment, hence one file, so that is the same row a global pass would pick.
 * Memory holds one file and its best rows, whatever the view's size.
 */
export async function* latestRowsByFile(spec: LatestRowsSpec): AsyncGenerator<LatestRow[]> {
  const snap = spec.snapshot;
  if (!snap) return;
  const { start, end } = spec.range;
  const tsCol = snap.columns.find((c) => c.role === "event_ts")!.name;
  const createdCol = snap.columns.find((c) => c.role === "created_ts")?.name;
  const wanted = [...spec.joinKeys, tsCol, ...(createdCol !== undefined ? [createdCol] : []), ...spec.features];
  const files = snap.segments.flatMap((s) => s.files).filter((f) => f.rows > 0 && f.maxTs >= start && f.minTs < end);
  let next: Promise<ColumnarBatch> | null = files.length > 0 ? spec.readFile(files[0]!, wanted) : null;
  next?.catch(() => {});
  for (let fi = 0; fi < files.length; fi++) {
    const batch = await next!;
    // Read one file ahead: with a worker-backed reader it decodes while this one is scanned.
    next = fi + 1 < files.length ? spec.readFile(files[fi + 1]!, wanted) : null;
    next?.catch(() => {});
    yield bestRowsOfFile(batch, spec, tsCol, createdCol);
  }
}

function bestRowsOfFile(batch: ColumnarBatch, spec: LatestRowsSpec, tsCol: string, createdCol: string | undefined): LatestRow[] {
  const { start, end } = spec.range;
  const rows = batch.numRows;
  const keyCols = spec.joinKeys.map((k) => batch.columns.get(k)!);
  const keys = encodeKeys(
    keyCols.map((c) => c.values as ArrayLike<unknown>),
    spec.keyTypes,
    spec.joinKeys,
    rows,
  );
  const ts = batch.columns.get(tsCol)!.values as Float64Array;
  const created = createdCol === undefined ? undefined : batch.columns.get(createdCol);
  const featureCols: Column[] = spec.features.map((f) => batch.columns.get(f)!);
  const out: LatestRow[] = [];
  let s = 0;
  while (s < rows) {
    const k = keys[s];
    let e = s + 1;
    while (e < rows && keys[e] === k) e++;
    if (k !== null && k !== undefined) {
      // Last row of the run with ts < end; the run is sorted by (ts, created ts).
      let lo = s;
      let hi = e;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ts[mid]! < end) lo = mid + 1;
        else hi = mid;
      }
      // Ties on event ts: the last row of the run has the greatest created ts (as the join picks).
      const j = lo - 1;
      if (j >= s && ts[j]! >= start) {
        out.push({
          key: k,
          keyParts: keyCols.map((c) => columnGet(c, j)),
          eventTs: ts[j]!,
          createdTs: created === undefined ? null : (columnGet(created, j) as number | null),
          values: featureCols.map((c) => columnGet(c, j)),
        });
      }
    }
    s = e;
  }
  return out;
}
