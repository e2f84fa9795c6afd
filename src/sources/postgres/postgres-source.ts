/**
 * Reads Postgres sources through a server-side cursor (pg-cursor) on a client of its own, with the
 * time range pushed into SQL. Type parsing is overridden per client (never globally): timestamps
 * without a zone are UTC, dates are UTC midnight, int8 and numeric become range-checked numbers.
 */
import pg from "pg";
import Cursor from "pg-cursor";
import type { PostgresSourceDef } from "../../definitions/definition-types.js";
import { LarderError } from "../../errors.js";
import { epochMsOf, parseIsoMs } from "../../time.js";
import type { Row } from "../../types.js";
import { isPostgresTypeError, postgresDataError } from "./postgres-data-error.js";
import { type ColumnPlan, compileValuesRowBuilder, planColumns, resolveBatchSize, resolveRange, type TimeRange } from "../column-plan.js";
import type { SourceReadOptions } from "../source-reader.js";
import { postgresColumnKind, type SourceColumnType } from "../source-column-type.js";

const OID = {
  int2: 21,
  int4: 23,
  int8: 20,
  float4: 700,
  float8: 701,
  numeric: 1700,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
} as const;

const DAY_MS = 86_400_000;
// Bounds outside years 1..9999 are not pushed into SQL (their ISO form is not plain); JS still filters.
const MIN_SQL_MS = -62_135_596_800_000;
const MAX_SQL_MS = 253_402_214_400_000; // 9999-12-31T00:00:00Z

/**
 * `postgres://host:5432/db`: the URL without credentials or query string (which may carry a
 * password too), for messages. An unparseable URL is not echoed at all.
 */
export function redactPostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

/** Quotes a possibly schema-qualified name part by part; parts already in double quotes are kept. */
export function quoteQualifiedName(name: string): string {
  const parts: string[] = [];
  let i = 0;
  while (i <= name.length) {
    if (name[i] === '"') {
      let j = i + 1;
      while (j < name.length && !(name[j] === '"' && name[j + 1] !== '"')) j += name[j] === '"' ? 2 : 1;
      parts.push(name.slice(i, j + 1));
      i = j + 2; // past the closing quote and the dot
    } else {
      const dot = name.indexOf(".", i);
      const part = dot < 0 ? name.slice(i) : name.slice(i, dot);
      parts.push(quoteIdent(part));
      i = dot < 0 ? name.length + 1 : dot + 1;
    }
  }
  return parts.join(".");
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function parseUtc(s: string): Date | string {
  const t = parseIsoMs(s);
  return Number.isNaN(t) ? s : new Date(t);
}

/** Type parsers for this reader's clients only; pg's global registry stays untouched. */
const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (format === undefined || format === "text") {
      if (oid === OID.timestamp || oid === OID.date) return parseUtc; // zone-less: UTC
      if (oid === OID.timestamptz) {
        const fallback = pg.types.getTypeParser(oid, "text") as (s: string) => unknown;
        return (s: string) => {
          const t = parseIsoMs(s);
          return Number.isNaN(t) ? fallback(s) : new Date(t);
        };
      }
    }
    return pg.types.getTypeParser(oid, format as "text");
  }) as pg.CustomTypesConfig["getTypeParser"],
};

function sourceLabel(source: PostgresSourceDef): string {
  return `source ${JSON.stringify(source.name)}`;
}

function connectionUrl(source: PostgresSourceDef, opts: SourceReadOptions): string {
  const url = source.connection ?? opts.postgresUrl;
  if (!url) {
    throw new LarderError("INVALID_CONFIG", `${sourceLabel(source)}: no Postgres connection (set \`connection\` on the source, \`sources.postgres\` in larder.config.ts, or LARDER_SOURCE_POSTGRES_URL)`, { source: source.name });
  }
  return url;
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNRESET",
  "EPIPE",
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification
  "3D000", // invalid_catalog_name (no such database)
  "57P01", // admin_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
]);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: { code?: unknown }[] };
  if (typeof e?.code === "string") return e.code;
  // Node's happy-eyeballs connect reports an AggregateError whose parts carry the code.
  const inner = e?.errors?.find((x) => typeof x?.code === "string")?.code;
  return typeof inner === "string" ? inner : undefined;
}

function unavailable(source: PostgresSourceDef, url: string, err: unknown): LarderError {
  const code = errorCode(err);
  const message = err instanceof Error && err.message ? err.message : String(err);
  const reason = code && /^E[A-Z]+$/.test(code) ? code : message || "connection failed";
  return new LarderError("POSTGRES_UNAVAILABLE", `${sourceLabel(source)}: cannot reach ${redactPostgresUrl(url)}: ${reason}`, { source: source.name, code }, { cause: err });
}

/** Maps an error of a query (not of connecting) to a LarderError. */
function queryError(source: PostgresSourceDef, url: string, err: unknown): LarderError {
  if (err instanceof LarderError) return err;
  const code = errorCode(err);
  if (code && UNAVAILABLE_CODES.has(code)) return unavailable(source, url, err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === "42P01" || code === "3F000") {
    // undefined_table / invalid_schema_name
    const what = source.table !== null ? `table ${JSON.stringify(source.table)} does not exist` : `query failed: ${message}`;
    return new LarderError("SOURCE_NOT_FOUND", `${sourceLabel(source)}: ${what}`, { source: source.name, table: source.table, code }, { cause: err });
  }
  const what = source.table !== null ? `reading table ${JSON.stringify(source.table)} failed` : "query failed";
  // A value Postgres refuses here comes from the caller (the range bounds compared with the event
  // column, e.g. epoch ms beyond an int4 column): a 400, not a failing source. Other data
  // exceptions (a division by zero in a query source) are the source's: SOURCE_READ_ERROR.
  const data = isPostgresTypeError(err) ? postgresDataError(err, `${sourceLabel(source)}: ${what}`, { source: source.name }) : null;
  if (data !== null) return data;
  return new LarderError("SOURCE_READ_ERROR", `${sourceLabel(source)}: ${what}: ${message}`, { source: source.name, code }, { cause: err });
}

async function connect(source: PostgresSourceDef, url: string): Promise<pg.Client> {
  let client: pg.Client;
  try {
    client = new pg.Client({
      connectionString: url,
      types: typeParsers,
      application_name: `larder:${source.name}`.slice(0, 63),
      connectionTimeoutMillis: 10_000,
    });
  } catch (err) {
    throw new LarderError("INVALID_CONFIG", `${sourceLabel(source)}: invalid Postgres URL ${redactPostgresUrl(url)}`, { source: source.name }, { cause: err });
  }
  // An 'error' event without a listener (e.g. the server going away while idle) would crash the process.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw unavailable(source, url, err);
  }
  return client;
}

/** The relation to select from: the quoted table, or the query as a subquery. */
function relation(source: PostgresSourceDef): string {
  if (source.table !== null) return quoteQualifiedName(source.table);
  const query = (source.query ?? "").trim().replace(/;+\s*$/, "");
  return `(${query}) AS q`;
}

interface ColumnInfo {
  readonly name: string;
  readonly typeId: number;
}

async function describe(source: PostgresSourceDef, url: string, client: pg.Client): Promise<ColumnInfo[]> {
  try {
    const res = await client.query({ text: `SELECT * FROM ${relation(source)} LIMIT 0`, rowMode: "array" });
    return res.fields.map((f) => ({ name: f.name, typeId: f.dataTypeID }));
  } catch (err) {
    throw queryError(source, url, err);
  }
}

/** Column names rows will have (after fieldMapping), from the query's result metadata. */
export async function postgresSourceColumns(source: PostgresSourceDef, opts: SourceReadOptions): Promise<string[]> {
  const url = connectionUrl(source, opts);
  const client = await connect(source, url);
  try {
    const columns = await describe(source, url, client);
    return [
      ...planColumns(
        source,
        columns.map((c) => c.name),
        null,
      ).outputNames,
    ];
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Column types by source column name (before fieldMapping), from the result metadata; for a table,
 * its NOT NULL constraints too.
 */
export async function postgresSourceColumnTypes(source: PostgresSourceDef, opts: SourceReadOptions): Promise<Map<string, SourceColumnType>> {
  const url = connectionUrl(source, opts);
  const client = await connect(source, url);
  try {
    const columns = await describe(source, url, client);
    const notNull = new Set<string>();
    if (source.table !== null) {
      const res = await client.query<{ attname: string }>("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped AND attnotnull", [quoteQualifiedName(source.table)]);
      for (const r of res.rows) notNull.add(r.attname);
    }
    const names = new Map<number, string>(Object.entries(OID).map(([name, id]) => [id, name]));
    return new Map(columns.map((c) => [c.name, { kind: postgresColumnKind(c.typeId), nullable: !notNull.has(c.name), declared: names.get(c.typeId) ?? `type ${c.typeId}` }]));
  } catch (err) {
    throw queryError(source, url, err);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The planner's estimate of a table source's row count (`pg_class.reltuples`, kept by ANALYZE and
 * autovacuum), or undefined for a query source or a table never analysed. Cheap: no scan.
 */
export async function postgresSourceRowEstimate(source: PostgresSourceDef, opts: SourceReadOptions): Promise<number | undefined> {
  if (source.table === null) return undefined;
  const url = connectionUrl(source, opts);
  const client = await connect(source, url);
  try {
    const res = await client.query<{ n: number | null }>("select reltuples::float8 as n from pg_class where oid = to_regclass($1)", [quoteQualifiedName(source.table)]);
    const n = res.rows[0]?.n;
    return typeof n === "number" && n >= 0 ? Math.round(n) : undefined;
  } catch (err) {
    throw queryError(source, url, err);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The WHERE clause for the range, when the event column's type lets Postgres compare it (a
 * timestamp, date or epoch-ms number); rows are filtered exactly in JS as well.
 */
function rangeFilter(column: ColumnInfo, range: TimeRange): { where: string; params: string[] } {
  const clauses: string[] = [];
  const params: string[] = [];
  const ident = quoteIdent(column.name);
  const bound = (op: ">=" | "<", param: string) => {
    params.push(param);
    clauses.push(`${ident} ${op} $${params.length}`);
  };
  const sides: [number, ">=" | "<"][] = [
    [range.start, ">="],
    [range.end, "<"],
  ];
  for (const [ms, op] of sides) {
    if (!Number.isFinite(ms)) continue;
    const inSqlRange = ms >= MIN_SQL_MS && ms < MAX_SQL_MS;
    switch (column.typeId) {
      case OID.timestamptz:
        if (inSqlRange) bound(op, new Date(ms).toISOString());
        break;
      case OID.timestamp:
        if (inSqlRange) bound(op, new Date(ms).toISOString().slice(0, -1)); // zone-less, read as UTC
        break;
      case OID.date: {
        // Whole days that can hold an instant of the range: from the start's day, before the day
        // after the end's last instant.
        const day = op === ">=" ? Math.floor(ms / DAY_MS) : Math.ceil(ms / DAY_MS);
        if (inSqlRange) bound(op, new Date(day * DAY_MS).toISOString().slice(0, 10));
        break;
      }
      case OID.int2:
      case OID.int4:
      case OID.int8:
      case OID.numeric:
      case OID.float4:
      case OID.float8:
        bound(op, String(ms));
        break;
      default:
        break; // text and others: JS filter only
    }
  }
  return { where: clauses.length > 0 ? ` WHERE ${clauses.join(" AND ")}` : "", params };
}

type Convert = (v: unknown, rowNumber: number) => unknown;

function outOfRange(source: PostgresSourceDef, column: string, value: string, rowNumber: number): LarderError {
  return new LarderError("VALUE_OUT_OF_RANGE", `${sourceLabel(source)}: column ${JSON.stringify(column)} value ${value} is beyond ±2^53 and cannot be a JavaScript number (result row ${rowNumber})`, { source: source.name, column, value });
}

function numberConverter(source: PostgresSourceDef, column: string): Convert {
  return (v, rowNumber) => {
    if (typeof v !== "string") return v;
    const n = Number(v);
    if (Number.isFinite(n) && Math.abs(n) > Number.MAX_SAFE_INTEGER) throw outOfRange(source, column, v, rowNumber);
    return n;
  };
}

/** Epoch ms of a time value as pg returns it, NaN when it is not a time. */
function pgTimeMs(v: unknown): number {
  if (typeof v === "number") return epochMsOf(Math.floor(v));
  if (typeof v === "string" && /^[+-]?\d+(?:\.\d*)?$/.test(v)) return epochMsOf(Math.floor(Number(v)));
  return epochMsOf(v);
}

function timeError(source: PostgresSourceDef, column: string, v: unknown, rowNumber: number): LarderError {
  const shown = v === null ? "a null event timestamp" : `invalid timestamp ${JSON.stringify(String(v))}`;
  return new LarderError("INVALID_TIMESTAMP", `${sourceLabel(source)}: column ${JSON.stringify(column)} has ${shown} (result row ${rowNumber}); expected a timestamp, a date, an ISO-8601 string or epoch milliseconds`, {
    source: source.name,
    column,
    value: v === null ? null : String(v),
  });
}

function converters(source: PostgresSourceDef, columns: readonly ColumnInfo[], plan: ColumnPlan): (Convert | null)[] {
  return columns.map((c, j) => {
    if (j === plan.createdIndex) {
      return (v, rowNumber) => {
        if (v === null) return null;
        const t = pgTimeMs(v);
        if (Number.isNaN(t)) throw timeError(source, c.name, v, rowNumber);
        return v instanceof Date ? v : new Date(t);
      };
    }
    if (j === plan.eventIndex) return null; // handled in the read loop, which needs the ms
    if (c.typeId === OID.int8 || c.typeId === OID.numeric) return numberConverter(source, c.name);
    return null;
  });
}

function readCursor(cursor: Cursor, n: number): Promise<unknown[][]> {
  return new Promise((resolve, reject) => {
    cursor.read(n, (err, rows) => (err ? reject(err) : resolve(rows as unknown[][])));
  });
}

/**
 * Yields rows of a Postgres table or query in batches of at most `batchSize`, in the order the
 * server returns them. The client is ended when reading ends, fails, or the consumer stops early.
 */
export async function* readPostgresSource(source: PostgresSourceDef, opts: SourceReadOptions): AsyncGenerator<Row[]> {
  const range = resolveRange(opts);
  const batchSize = resolveBatchSize(opts);
  const url = connectionUrl(source, opts);
  const client = await connect(source, url);
  let cursor: Cursor | null = null;
  try {
    const columns = await describe(source, url, client);
    const plan = planColumns(
      source,
      columns.map((c) => c.name),
      null,
    );
    const build = compileValuesRowBuilder(plan.outputNames);
    const convert = converters(source, columns, plan);
    const eventColumn = columns[plan.eventIndex] as ColumnInfo;
    const { where, params } = rangeFilter(eventColumn, range);
    cursor = client.query(new Cursor(`SELECT * FROM ${relation(source)}${where}`, params, { rowMode: "array" }));
    let batch: Row[] = [];
    let rowNumber = 0;
    for (;;) {
      let rows: unknown[][];
      try {
        rows = await readCursor(cursor, batchSize);
      } catch (err) {
        throw queryError(source, url, err);
      }
      if (rows.length === 0) break;
      for (const values of rows) {
        rowNumber++;
        const ev = values[plan.eventIndex] ?? null;
        const t = ev === null ? Number.NaN : pgTimeMs(ev);
        if (Number.isNaN(t)) throw timeError(source, eventColumn.name, ev, rowNumber);
        if (t < range.start || t >= range.end) continue;
        values[plan.eventIndex] = ev instanceof Date ? ev : new Date(t);
        for (let j = 0; j < convert.length; j++) {
          const f = convert[j];
          if (f) {
            const v = values[j];
            if (v !== null) values[j] = f(v, rowNumber);
          }
        }
        batch.push(build(values));
        if (batch.length === batchSize) {
          yield batch;
          batch = [];
        }
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    if (cursor) await cursor.close().catch(() => {});
    await client.end().catch(() => {});
  }
}
