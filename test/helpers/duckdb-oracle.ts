/**
 * DuckDB SQL for Larder's training-set semantics (ASOF LEFT JOIN, windowed aggregates): a second
 * oracle that cross-checks the JS reference (helpers/feature-reference.ts) in
 * feature-reference-duckdb.test.ts. Larder's engine runs on DuckDB, so the product is compared
 * with the JS reference, never with this. The query builders read Parquet files and return one
 * row per entity row, in entity row order.
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

/** The suffix of a column listing every value a tie allows (see `pointInTimeSql`). */
export const CANDIDATES = "__candidates";

/**
 * A plain view's point-in-time join: for each entity row (k, T), the row with the greatest event
 * time ≤ T, ties broken by the greatest created time (nulls lowest); with a TTL, null unless that
 * row's event time ≥ T − ttl. A null key matches nothing.
 *
 * Rows with equal (key, event time, created time) are an exact tie, which DESIGN.md leaves open:
 * the rows are grouped by the three first, and each feature `f` comes with `f__candidates`, the
 * list of the tied rows' values (any of them is right); `f` is one of them.
 */
export function pointInTimeSql(o: { entities: EntityFile; source: SourceFile; features: readonly string[]; ttlMs: number | null }): string {
  const { source: s } = o;
  const created = s.created ? `epoch_ms(${ident(s.created)})` : "NULL::BIGINT";
  const alive = o.ttlMs === null ? "f.t IS NOT NULL" : `f.t IS NOT NULL AND f.t >= e.t - ${o.ttlMs}`;
  const lists = o.features.map((f) => `list(${ident(f)}) AS ${ident(f + CANDIDATES)}`).join(", ");
  const outs = o.features.flatMap((f) => [`CASE WHEN ${alive} THEN f.${ident(f + CANDIDATES)}[1] ELSE NULL END AS ${ident(f)}`, `CASE WHEN ${alive} THEN f.${ident(f + CANDIDATES)} ELSE NULL END AS ${ident(f + CANDIDATES)}`]).join(",\n  ");
  return `
WITH ${entitiesCte(o.entities)},
g AS (
  SELECT ${ident(s.key)} AS k, epoch_ms(${ident(s.ts)}) AS t, ${created} AS c, ${lists}
  FROM read_parquet(${sqlString(s.path)})
  GROUP BY ALL
),
-- The greatest created time per (key, event time), nulls lowest. (Not QUALIFY row_number() over g:
-- DuckDB 1.5 returned a second-ranked group with it here.)
best AS (SELECT k, t, max(c) AS c FROM g GROUP BY k, t),
f AS (
  SELECT g.* FROM g JOIN best ON g.k = best.k AND g.t = best.t AND g.c IS NOT DISTINCT FROM best.c
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
 * lowest, a null x included. A null key matches nothing. Events with equal (key, time, created)
 * are an exact tie: `last` then comes with `<name>__candidates`, the tied events' values (any of
 * them is right), as in `pointInTimeSql`.
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
  // For `last`: the events grouped by (key, time, created), each group's values listed; the latest
  // group in the window is then unique, and its list holds the candidates.
  const lasts = o.aggregations.filter((a) => a.fn === "last");
  const candidates = lasts.map((a) => {
    const inWindow = a.windowMs === null ? "g.t IS NOT NULL" : `g.t > e.t - ${a.windowMs}`;
    return `first(g.${ident(`${a.column}${CANDIDATES}`)} ORDER BY g.t DESC, g.c DESC NULLS LAST) FILTER (WHERE ${inWindow}) AS ${ident(a.name + CANDIDATES)}`;
  });
  const lastCols = [...new Set(lasts.map((a) => a.column!))];
  return `
WITH ${entitiesCte(o.entities)},
f AS (
  SELECT ${ident(s.key)} AS k, epoch_ms(${ident(s.ts)}) AS t, epoch_ms(${created}) AS c${cols.map((c) => `, ${ident(c)}`).join("")}
  FROM read_parquet(${sqlString(s.path)})
),
g AS (
  SELECT k, t, c${lastCols.map((c) => `, list(${ident(c)}) AS ${ident(c + CANDIDATES)}`).join("")}
  FROM f
  GROUP BY ALL
),
aggs AS (
  SELECT e.idx,
    ${outs.join(",\n    ")}
  FROM e LEFT JOIN f ON f.k = e.k AND f.t <= e.t
  GROUP BY e.idx
)${
    candidates.length === 0
      ? ""
      : `,
lasts AS (
  SELECT e.idx,
    ${candidates.join(",\n    ")}
  FROM e LEFT JOIN g ON g.k = e.k AND g.t <= e.t
  GROUP BY e.idx
)`
  }
SELECT *
FROM aggs${candidates.length === 0 ? "" : " JOIN lasts USING (idx)"}
ORDER BY idx`;
}
