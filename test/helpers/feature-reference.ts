/**
 * A small, obviously correct reference for DESIGN.md's feature semantics over one entity's events,
 * written straight from the text (no engine shared with Larder), for parity tests:
 *
 * - point in time: the event with the greatest event time ≤ T, among equal event times the greatest
 *   created time; none: null.
 * - windows: events with time in (T − w, T] (w null: all ≤ T); count and sum of nothing are 0, avg,
 *   min, max and last null; nulls are skipped except by count (events) and last (the value of the
 *   latest event by (time, created), null included).
 *
 * The caller keeps (time, created) unique per entity, so "latest" is always one event.
 */
export interface ReferenceEvent<V> {
  ts: number;
  /** −Infinity when there is none. */
  created: number;
  value: V;
}

export type ReferenceAgg = "count" | "sum" | "avg" | "min" | "max" | "last";

function later<V>(a: ReferenceEvent<V>, b: ReferenceEvent<V>): boolean {
  return a.ts > b.ts || (a.ts === b.ts && a.created > b.created);
}

/** The latest event (by event time, then created time) among `events`, or undefined. */
export function latestEvent<V>(events: readonly ReferenceEvent<V>[]): ReferenceEvent<V> | undefined {
  let best: ReferenceEvent<V> | undefined;
  for (const e of events) if (best === undefined || later(e, best)) best = e;
  return best;
}

/** The point-in-time value as of `t`: the latest event at or before `t`, null without one. */
export function valueAsOf<V>(events: readonly ReferenceEvent<V>[], t: number): V | null {
  const e = latestEvent(events.filter((x) => x.ts <= t));
  return e === undefined ? null : e.value;
}

/** `fn` over the events in (t − windowMs, t] (windowMs null: every event ≤ t). */
export function aggregateAsOf(events: readonly ReferenceEvent<number | null>[], fn: ReferenceAgg, t: number, windowMs: number | null): number | null {
  const inWindow = events.filter((e) => e.ts <= t && (windowMs === null || e.ts > t - windowMs));
  const xs = inWindow.map((e) => e.value).filter((v): v is number => v !== null);
  switch (fn) {
    case "count":
      return inWindow.length;
    case "sum":
      return xs.reduce((s, x) => s + x, 0);
    case "avg":
      return xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length;
    case "min":
      return xs.length === 0 ? null : Math.min(...xs);
    case "max":
      return xs.length === 0 ? null : Math.max(...xs);
    case "last":
      return latestEvent(inWindow)?.value ?? null;
  }
}
