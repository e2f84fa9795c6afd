/**
 * A small, obviously correct reference for DESIGN.md's "Semantics": entity keys, the point-in-time
 * join and windowed aggregations, written straight from the text and deliberately slow (every
 * answer scans every row; no sorting, indexes or incremental state), so that it shares nothing
 * with Larder's engine and can be read against the contract line by line. Property tests compare
 * every cell of Larder's training sets with it.
 *
 * Where the contract leaves a choice to the implementation, the choice Larder makes is written
 * here as "implementation:" so that a change of it shows up as a failing test, not silently:
 * - nulls inside a window: sum/avg/min/max skip null values, count counts events (it reads no
 *   column), and `last` is the value of the latest event even when that value is null;
 * - a null created timestamp is older than any created timestamp;
 * - exact ties (same key, event time and created time): the contract names no winner, so every
 *   answer lists all the values a tie allows (`Allowed`), and any of them is right.
 */

// ───────────────────────────── entity keys ─────────────────────────────

export type KeyType = "int64" | "string";

/**
 * The entity a join key value denotes, or null (a null key is no entity: it matches nothing).
 * DESIGN.md: "a key "5" and 5 are the same entity when the entity's type is int64 or string".
 * Only canonical decimal strings ("5", "-12") are read as numbers here; how "05" or " 5" read as
 * an int64 key is the implementation's choice and the tests do not generate them.
 */
export function entityOf(value: unknown, type: KeyType): string | number | null {
  if (value === null || value === undefined) return null;
  if (type === "string") {
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "bigint") return String(value);
  } else {
    if (typeof value === "bigint") return Number(value);
    if (typeof value === "number" && Number.isSafeInteger(value)) return value;
    if (typeof value === "string" && /^-?(0|[1-9]\d*)$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  }
  throw new Error(`reference: no ${type} entity for ${typeof value} ${String(value)}`);
}

/** Whether two join key values denote the same entity (never for a null key). */
export function sameEntity(a: unknown, b: unknown, type: KeyType): boolean {
  const x = entityOf(a, type);
  return x !== null && x === entityOf(b, type);
}

// ───────────────────────────── rows and answers ─────────────────────────────

/** A feature (source) row: its join key value, event time, created time and feature values. */
export interface ReferenceRow {
  key: unknown;
  ts: number;
  /** null when the source has no created timestamp or the row has none. */
  created: number | null;
  values: Readonly<Record<string, unknown>>;
}

/** An entity row of a training set: its join key value and its time T. */
export interface ReferenceEntityRow {
  key: unknown;
  t: number;
}

/** The values a cell may hold: one, or several when an exact tie leaves the winner open. */
export type Allowed = readonly unknown[];

/** Created times compared with null lowest (implementation: a null created time is the oldest). */
function createdRank(c: number | null): number {
  return c === null ? Number.NEGATIVE_INFINITY : c;
}

/**
 * The latest of `rows` by event time, then created time: all rows tied for latest (an exact tie
 * gives several), or none for no rows.
 */
function latestRows(rows: readonly ReferenceRow[]): ReferenceRow[] {
  let bestTs = Number.NEGATIVE_INFINITY;
  for (const r of rows) bestTs = Math.max(bestTs, r.ts);
  const atBestTs = rows.filter((r) => r.ts === bestTs);
  let bestCreated = Number.NEGATIVE_INFINITY;
  for (const r of atBestTs) bestCreated = Math.max(bestCreated, createdRank(r.created));
  return atBestTs.filter((r) => createdRank(r.created) === bestCreated);
}

function valuesOf(rows: readonly ReferenceRow[], feature: string): Allowed {
  return [...new Set(rows.map((r) => r.values[feature] ?? null))];
}

// ───────────────────────────── point-in-time join ─────────────────────────────

/**
 * DESIGN.md "Point-in-time join", for one entity row and one feature: the row for the entity's
 * key with the greatest event timestamp ≤ T (among equal event timestamps the greatest created
 * timestamp); with a TTL that row must also have event timestamp ≥ T − ttl. No such row: null.
 */
export function pointInTimeValue(rows: readonly ReferenceRow[], entity: ReferenceEntityRow, o: { keyType: KeyType; ttlMs: number | null; feature: string }): Allowed {
  const candidates = rows.filter((r) => sameEntity(r.key, entity.key, o.keyType) && r.ts <= entity.t);
  const latest = latestRows(candidates);
  if (latest.length === 0) return [null];
  if (o.ttlMs !== null && latest[0]!.ts < entity.t - o.ttlMs) return [null];
  return valuesOf(latest, o.feature);
}

// ───────────────────────────── windowed aggregations ─────────────────────────────

export type ReferenceAgg = "count" | "sum" | "avg" | "min" | "max" | "last";

export interface ReferenceAggregation {
  fn: ReferenceAgg;
  /** Input column; null for count. */
  column: string | null;
  /** Window length in ms; null: unbounded (every event ≤ T). */
  windowMs: number | null;
}

/**
 * DESIGN.md "Windowed aggregations", for one entity row: `fn` over the entity's events with
 * timestamp in (T − window, T]. count and sum of an empty window are 0; avg, min, max and last
 * null. Nulls as in the header (implementation's choice).
 */
export function windowValue(rows: readonly ReferenceRow[], entity: ReferenceEntityRow, o: { keyType: KeyType } & ReferenceAggregation): Allowed {
  const inWindow = rows.filter((r) => sameEntity(r.key, entity.key, o.keyType) && r.ts <= entity.t && (o.windowMs === null || r.ts > entity.t - o.windowMs));
  if (o.fn === "count") return [inWindow.length];
  if (o.fn === "last") return inWindow.length === 0 ? [null] : valuesOf(latestRows(inWindow), o.column!);
  const xs = inWindow.map((r) => r.values[o.column!]).filter((v): v is number => typeof v === "number");
  switch (o.fn) {
    case "sum":
      return [xs.reduce((s, x) => s + x, 0)];
    case "avg":
      return [xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length];
    case "min":
      return [xs.length === 0 ? null : Math.min(...xs)];
    case "max":
      return [xs.length === 0 ? null : Math.max(...xs)];
  }
}

// ───────────────────────────── one entity's events (push parity) ─────────────────────────────

/** One entity's event, for callers that hold a single entity's history (push-parity). */
export interface ReferenceEvent<V> {
  ts: number;
  /** −Infinity when there is none. */
  created: number;
  value: V;
}

function asRows<V>(events: readonly ReferenceEvent<V>[]): ReferenceRow[] {
  return events.map((e) => ({ key: "e", ts: e.ts, created: e.created === Number.NEGATIVE_INFINITY ? null : e.created, values: { v: e.value } }));
}

function single(allowed: Allowed): unknown {
  if (allowed.length !== 1) throw new Error("reference: an exact (time, created) tie; the caller keeps them unique");
  return allowed[0];
}

/** The point-in-time value as of `t` (no TTL): the latest event at or before `t`, null without one. */
export function valueAsOf<V>(events: readonly ReferenceEvent<V>[], t: number): V | null {
  return single(pointInTimeValue(asRows(events), { key: "e", t }, { keyType: "string", ttlMs: null, feature: "v" })) as V | null;
}

/** `fn` over the events in (t − windowMs, t] (windowMs null: every event ≤ t). */
export function aggregateAsOf(events: readonly ReferenceEvent<number | null>[], fn: ReferenceAgg, t: number, windowMs: number | null): number | null {
  return single(windowValue(asRows(events), { key: "e", t }, { keyType: "string", fn, column: fn === "count" ? null : "v", windowMs })) as number | null;
}
