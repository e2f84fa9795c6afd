import type { AggregationDef } from "../definitions/definition-types.js";

/**
 * Windowed aggregation over one entity's events, exact at every instant.
 *
 * As of T, a window of length w covers events with timestamp in (T − w, T]. An aggregate only
 * changes when an event enters a window (at its timestamp e) or leaves one (at e + w), so the
 * engine emits a row at each such change point inside [start, end), plus one at `start` carrying
 * the state built up before it. A point-in-time lookup of "the latest row ≤ T" then gives the exact
 * value at any T, which is how training sets read aggregated views. Batch backfill and push share
 * this engine.
 */
export interface AggregationSpec {
  name: string;
  def: AggregationDef;
}

/** One key's events, sorted by timestamp (ties in created-timestamp order). */
export interface KeyEvents {
  ts: Float64Array;
  /** Input columns by name; numeric aggregations read numbers (or null). */
  columns: Map<string, ArrayLike<unknown>>;
  /** Index range [from, to) of this key's events in the arrays. */
  from: number;
  to: number;
}

export type EmitRow = (ts: number, values: unknown[]) => void;

class Neumaier {
  sum = 0;
  c = 0;
  add(x: number): void {
    const t = this.sum + x;
    if (Math.abs(this.sum) >= Math.abs(x)) this.c += this.sum - t + x;
    else this.c += x - t + this.sum;
    this.sum = t;
  }
  get value(): number {
    return this.sum + this.c;
  }
  reset(): void {
    this.sum = 0;
    this.c = 0;
  }
}

/** Monotonic deque of event indices giving the window's min (or max) in O(1) amortised. */
class ExtremeDeque {
  private idx: number[] = [];
  private head = 0;
  constructor(
    private readonly values: ArrayLike<unknown>,
    private readonly isMax: boolean,
  ) {}
  push(i: number): void {
    const v = this.values[i];
    if (typeof v !== "number") return;
    while (this.idx.length > this.head) {
      const back = this.values[this.idx[this.idx.length - 1]!] as number;
      if (this.isMax ? back <= v : back >= v) this.idx.pop();
      else break;
    }
    this.idx.push(i);
  }
  evict(i: number): void {
    if (this.idx.length > this.head && this.idx[this.head] === i) this.head++;
    if (this.head > 1024 && this.head * 2 > this.idx.length) {
      this.idx = this.idx.slice(this.head);
      this.head = 0;
    }
  }
  get value(): number | null {
    return this.idx.length > this.head ? (this.values[this.idx[this.head]!] as number) : null;
  }
  clear(): void {
    this.idx = [];
    this.head = 0;
  }
}

interface ColumnState {
  values: ArrayLike<unknown>;
  sum: Neumaier;
  nonNull: number;
  min: ExtremeDeque | null;
  max: ExtremeDeque | null;
}

interface WindowState {
  windowMs: number | null;
  lo: number;
  hi: number;
  columns: ColumnState[];
}

/** One aggregation bound to its window and column state, so evaluation does no lookups. */
interface BoundAggregation {
  def: AggregationDef;
  window: WindowState;
  column: ColumnState | null;
  lastValues: ArrayLike<unknown> | null;
}

/**
 * Emits the change rows of one key's events within [start, end). `values` passed to `emit` follow
 * the order of `aggs`; the array is reused between calls, so copy what you keep. Consecutive
 * identical rows are emitted once.
 */
export function aggregateKey(events: KeyEvents, aggs: readonly AggregationSpec[], range: { start: number; end: number }, emit: EmitRow): void {
  const { ts, from, to } = events;
  if (to <= from) return;
  const { start, end } = range;

  // Window states, one per distinct window, each tracking the columns its aggregations read.
  const windows = new Map<number | null, WindowState>();
  const bound: BoundAggregation[] = [];
  for (const a of aggs) {
    let w = windows.get(a.def.windowMs);
    if (!w) {
      w = { windowMs: a.def.windowMs, lo: from, hi: from, columns: [] };
      windows.set(a.def.windowMs, w);
    }
    const col = a.def.column;
    let cs: ColumnState | null = null;
    if (col !== null && (a.def.fn === "sum" || a.def.fn === "avg" || a.def.fn === "min" || a.def.fn === "max")) {
      const values = events.columns.get(col)!;
      cs = w.columns.find((c) => c.values === values) ?? null;
      if (!cs) {
        cs = { values, sum: new Neumaier(), nonNull: 0, min: null, max: null };
        w.columns.push(cs);
      }
      if (a.def.fn === "min" && !cs.min) cs.min = new ExtremeDeque(values, false);
      if (a.def.fn === "max" && !cs.max) cs.max = new ExtremeDeque(values, true);
    }
    bound.push({ def: a.def, window: w, column: cs, lastValues: a.def.fn === "last" ? events.columns.get(a.def.column!)! : null });
  }
  const windowList = [...windows.values()];

  // Change points: event times, exits (e + w), and `start` when earlier events carry state into it.
  const windowLengths = windowList.map((w) => w.windowMs).filter((w): w is number => w !== null);
  const hasUnbounded = windows.has(null);
  const maxWindow = windowLengths.length ? Math.max(...windowLengths) : 0;
  const points = new Float64Array((to - from) * (windowLengths.length + 1) + 1);
  let np = 0;
  let needsStart = false;
  for (let i = from; i < to; i++) {
    const e = ts[i]!;
    if (e >= start && e < end) points[np++] = e;
    for (let k = 0; k < windowLengths.length; k++) {
      const x = e + windowLengths[k]!;
      if (x >= start && x < end) points[np++] = x;
    }
    if (e < start && (hasUnbounded || e > start - maxWindow)) needsStart = true;
  }
  if (needsStart) points[np++] = start;
  if (np === 0) return;
  const sorted = points.subarray(0, np).sort();

  const values = new Array<unknown>(aggs.length);
  const prev = new Array<unknown>(aggs.length);
  let hasPrev = false;
  let lastPoint = Number.NaN;
  for (let p = 0; p < np; p++) {
    const T = sorted[p]!;
    if (T === lastPoint) continue;
    lastPoint = T;
    for (let w = 0; w < windowList.length; w++) advance(windowList[w]!, ts, to, T);
    let same = hasPrev;
    for (let k = 0; k < bound.length; k++) {
      const v = valueOf(bound[k]!);
      values[k] = v;
      if (same && !Object.is(prev[k], v)) same = false;
    }
    if (same) continue;
    for (let k = 0; k < bound.length; k++) prev[k] = values[k];
    hasPrev = true;
    emit(T, values);
  }
}

function advance(w: WindowState, ts: Float64Array, to: number, T: number): void {
  const cols = w.columns;
  while (w.hi < to && ts[w.hi]! <= T) {
    const i = w.hi++;
    for (let c = 0; c < cols.length; c++) {
      const cs = cols[c]!;
      const v = cs.values[i];
      if (typeof v === "number") {
        cs.sum.add(v);
        cs.nonNull++;
        cs.min?.push(i);
        cs.max?.push(i);
      }
    }
  }
  if (w.windowMs === null) return;
  const edge = T - w.windowMs;
  while (w.lo < w.hi && ts[w.lo]! <= edge) {
    const i = w.lo++;
    for (let c = 0; c < cols.length; c++) {
      const cs = cols[c]!;
      const v = cs.values[i];
      if (typeof v === "number") {
        cs.nonNull--;
        // Reset instead of subtracting the last value: an empty window sums to exactly 0.
        if (cs.nonNull === 0) cs.sum.reset();
        else cs.sum.add(-v);
        cs.min?.evict(i);
        cs.max?.evict(i);
      }
    }
  }
}

function valueOf(b: BoundAggregation): unknown {
  const w = b.window;
  const count = w.hi - w.lo;
  switch (b.def.fn) {
    case "count":
      return count;
    case "last":
      return count > 0 ? (b.lastValues![w.hi - 1] ?? null) : null;
    case "sum":
      return b.column!.nonNull > 0 ? b.column!.sum.value : 0;
    case "avg":
      return b.column!.nonNull > 0 ? b.column!.sum.value / b.column!.nonNull : null;
    case "min":
      return b.column!.min!.value;
    case "max":
      return b.column!.max!.value;
  }
}

/** The value an aggregation has for an entity with no events at all (count and sum 0, others null). */
export function emptyAggregateValue(def: AggregationDef): number | null {
  return def.fn === "count" || def.fn === "sum" ? 0 : null;
}

/**
 * How far before `start` a backfill must read so the windows at `start` are complete;
 * Infinity when an aggregation has no window (it needs all history).
 */
export function lookbackMs(aggs: readonly AggregationSpec[]): number {
  let max = 0;
  for (const a of aggs) {
    if (a.def.windowMs === null) return Number.POSITIVE_INFINITY;
    max = Math.max(max, a.def.windowMs);
  }
  return max;
}
