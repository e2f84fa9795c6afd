/**
 * DuckDB as the reference implementation of Larder's training-set semantics (DESIGN.md: "its
 * ASOF JOIN is the reference point-in-time join"). The query builders here read the very Parquet
 * files a test repository's sources read, and return one row per entity row, in entity row order.
 *
 * All times are compared as epoch milliseconds (BIGINT) so that zones and units cannot differ.
 */
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";

export interface Duck {
  /** Runs a query; BIGINT values come back as numbers (they are all safe integers here). */
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): void;
}

export async function openDuck(): Promise<Duck> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection: DuckDBConnection = await instance.connect();
  return {
    async query(sql) {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjects().map((row) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(row)) out[k] = typeof v === "bigint" ? Number(v) : v;
        return out;
      });
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** A string literal for SQL. */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** A quoted identifier for SQL. */
export function ident(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

/** The entity rows file: a row index column, the join key and the entity timestamp. */
export interface EntityFile {
  path: string;
  /** Column holding the entity row's position (0-based); the output is ordered by it. */
  index: string;
  key: string;
  ts: string;
}

/** A source file as a view reads it (no field mapping: names are the source's). */
export interface SourceFile {
  path: string;
  key: string;
  ts: string;
  created: string | null;
}

function entitiesCte(e: EntityFile): string {
  return `e AS (SELECT ${ident(e.index)} AS idx, ${ident(e.key)} AS k, epoch_ms(${ident(e.ts)}) AS t FROM read_parquet(${sqlString(e.path)}))`;
}

/**
 * A plain view's point-in-time join: for each entity row (k, T), the row with the greatest event
 * time ≤ T, ties broken by the greatest created time (nulls lowest); with a TTL, null unless that
 * row's event time ≥ T − ttl.
 *
 * DuckDB's ASOF JOIN picks an arbitrary row among equal event times, so the features are first
 * deduplicated per (key, event time) keeping the greatest created time. The caller must make
 * (key, event time, created time) unique for this to be deterministic.
 */
export function pointInTimeSql(o: { entities: EntityFile; source: SourceFile; features: readonly string[]; ttlMs: number | null }): string {
  const { source: s } = o;
  const createdOrder = s.created ? `${ident(s.created)} DESC NULLS LAST` : "1";
  const feats = o.features.map((f) => `${ident(f)}`).join(", ");
  const alive = o.ttlMs === null ? "f.t IS NOT NULL" : `f.t IS NOT NULL AND f.t >= e.t - ${o.ttlMs}`;
  const outs = o.features.map((f) => `CASE WHEN ${alive} THEN f.${ident(f)} ELSE NULL END AS ${ident(f)}`).join(",\n  ");
  return `
WITH ${entitiesCte(o.entities)},
f AS (
  SELECT ${ident(s.key)} AS k, epoch_ms(${ident(s.ts)}) AS t, ${feats}
  FROM read_parquet(${sqlString(s.path)})
  QUALIFY row_number() OVER (PARTITION BY ${ident(s.key)}, ${ident(s.ts)} ORDER BY ${createdOrder}) = 1
)
SELECT e.idx,
  ${outs}
FROM e ASOF LEFT JOIN f ON e.k = f.k AND e.t >= f.t
ORDER BY e.idx`;
}

export type AggFn = "count" | "sum" | "avg" | "min" | "max" | "last";

export interface AggSpec {
  name: string;
  fn: AggFn;
  /** Input column; null for count. */
  column: string | null;
  /** Window length in ms; null = unbounded (all events ≤ T). */
  windowMs: number | null;
}

/**
 * Windowed aggregations as of each entity row's T, over events with time in (T − w, T]:
 * count(*), coalesce(sum(x), 0), avg(x), min(x), max(x) (nulls ignored, an empty window is null
 * except count and sum), and last = x of the event with the greatest (time, created), nulls
 * lowest, a null x included. The caller must make (key, time, created) unique for `last`.
 */
export function windowAggregationSql(o: { entities: EntityFile; source: SourceFile; aggregations: readonly AggSpec[] }): string {
  const { source: s } = o;
  const cols = [...new Set(o.aggregations.map((a) => a.column).filter((c): c is string => c !== null))];
  const created = s.created ? `${ident(s.created)}` : "NULL::TIMESTAMPTZ";
  const outs = o.aggregations.map((a) => {
    const inWindow = a.windowMs === null ? "f.t IS NOT NULL" : `f.t > e.t - ${a.windowMs}`;
    const filter = `FILTER (WHERE ${inWindow})`;
    const x = a.column === null ? "" : `f.${ident(a.column)}`;
    let expr: string;
    switch (a.fn) {
      case "count":
        expr = `count(f.t) ${filter}`;
        break;
      case "sum":
        expr = `coalesce(sum(${x}) ${filter}, 0)`;
        break;
      case "avg":
        expr = `avg(${x}) ${filter}`;
        break;
      case "min":
        expr = `min(${x}) ${filter}`;
        break;
      case "max":
        expr = `max(${x}) ${filter}`;
        break;
      case "last":
        // first() keeps nulls; an empty filtered set gives null.
        expr = `first(${x} ORDER BY f.t DESC, f.c DESC NULLS LAST) ${filter}`;
        break;
    }
    return `${expr} AS ${ident(a.name)}`;
  });
  return `
WITH ${entitiesCte(o.entities)},
f AS (
  SELECT ${ident(s.key)} AS k, epoch_ms(${ident(s.ts)}) AS t, epoch_ms(${created}) AS c${cols.map((c) => `, ${ident(c)}`).join("")}
  FROM read_parquet(${sqlString(s.path)})
)
SELECT e.idx,
  ${outs.join(",\n  ")}
FROM e LEFT JOIN f ON f.k = e.k AND f.t <= e.t
GROUP BY e.idx
ORDER BY e.idx`;
}
