/**
 * Entity rows in DuckDB for the point-in-time join: one table `entity_keys` with `__row BIGINT` (the
 * row's position), `__ts BIGINT` (its timestamp, epoch ms) and every normalised join key; and per
 * typing of the keys a view `entity_rows(__row, __ts, <join keys>)` over it.
 *
 * Keys and timestamps are normalised exactly as everywhere else: timestamps by src/time.ts's one
 * parser, keys by `normaliseKeyPart` (a key is its value: "5" and 5 are entity 5 for an int64
 * entity; a string entity takes numbers as their decimal text). Two views may type one join key
 * name differently; each then gets its own view (`entity_rows_2`, …), so every key column has one type.
 */
import type { FeatureViewDef } from "../definitions/definition-types.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import { LarderError } from "../errors.js";
import { isEpochMs, parseIsoMs, TIMESTAMP_EXPECTED } from "../time.js";
import type { ValueType } from "../types.js";
import type { Column, ColumnarBatch } from "../data/columnar.js";
import { sqlIdent, type OfflineEngine } from "./duckdb-engine.js";
import { normaliseKeyPart } from "../data/entity-keys.js";
import { entityKeySqlType } from "./point-in-time-join.js";

/** The entity rows' timestamp column (as in Feast). */
export const ENTITY_TS = "event_timestamp";

export interface EntityTable {
  name: string;
  /** Join key column → the value type its values are normalised to. */
  keys: Map<string, ValueType>;
}

/** Which entity table each view joins against: one table unless two views type a key differently. */
export function planEntityTables(views: readonly FeatureViewDef[]): { tables: EntityTable[]; tableOf: Map<string, EntityTable> } {
  const tables: EntityTable[] = [];
  const tableOf = new Map<string, EntityTable>();
  for (const def of views) {
    const keys = joinKeysOf(def);
    const types = joinKeyTypesOf(def);
    let table = tables.find((t) => keys.every((k, i) => !t.keys.has(k) || entityKeySqlType(t.keys.get(k)!) === entityKeySqlType(types[i]!)));
    if (table === undefined) {
      table = { name: tables.length === 0 ? "entity_rows" : `entity_rows_${tables.length + 1}`, keys: new Map() };
      tables.push(table);
    }
    keys.forEach((k, i) => {
      if (!table.keys.has(k)) table.keys.set(k, types[i]!);
    });
    tableOf.set(def.name, table);
  }
  return { tables, tableOf };
}

/** One entity timestamp per row (epoch ms); INVALID_TIMESTAMP naming the first row that has none. */
export function entityTimestamps(input: ColumnarBatch): Float64Array {
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

/** A column's value at row i as it was given (numbers with nulls as null). */
function rawValue(col: Column, i: number): unknown {
  if (col.type === "string" || col.type === "bool") return col.values[i];
  return col.valid !== null && col.valid[i] === 0 ? null : col.values[i];
}

/** The column of `entity_keys` holding a table's key (one table per typing of the keys: see `planEntityTables`). */
export function entityKeyColumn(tables: readonly EntityTable[], table: EntityTable, key: string): string {
  return `__key${tables.indexOf(table)}:${key}`;
}

/** Every key column of `entity_keys` with its SQL type. */
function keyColumns(tables: readonly EntityTable[]): { table: EntityTable; key: string; type: ValueType; column: string }[] {
  return tables.flatMap((table) => [...table.keys].map(([key, type]) => ({ table, key, type, column: entityKeyColumn(tables, table, key) })));
}

/**
 * The entity tables as views over `entity_keys`, so a view's join can also be written as a SELECT
 * over `entity_rows(__row, __ts, <join keys>)`.
 */
export async function createEntityTableViews(engine: OfflineEngine, tables: readonly EntityTable[]): Promise<void> {
  for (const table of tables) {
    const keys = [...table.keys.keys()].map((k) => `${sqlIdent(entityKeyColumn(tables, table, k))} AS ${sqlIdent(k)}`);
    await engine.run(`CREATE VIEW ${sqlIdent(table.name)} AS SELECT __row, __ts${keys.map((k) => `, ${k}`).join("")} FROM entity_keys`);
  }
}

/** A key's normalised value as SQL, from the entity file's column. */
export type KeyExpression = (key: string, type: ValueType) => string;

/**
 * `entity_keys` from columns held in JS: `__row`, `__ts` (epoch ms, floored to the millisecond, the
 * store's resolution) and every table's normalised keys. `input` has the timestamp column and
 * every join key.
 */
export async function loadEntityKeys(engine: OfflineEngine, tables: readonly EntityTable[], input: ColumnarBatch, ts: Float64Array): Promise<void> {
  const { DuckDBDataChunk, BIGINT, VARCHAR } = await import("@duckdb/node-api");
  const n = input.numRows;
  const keys = keyColumns(tables);
  await engine.run(`CREATE TABLE entity_keys (__row BIGINT, __ts BIGINT${keys.map((k) => `, ${sqlIdent(k.column)} ${entityKeySqlType(k.type)}`).join("")})`);
  const normalised = keys.map(({ key, type }) => {
    const col = input.columns.get(key)!;
    const out = new Array<bigint | string | null>(n);
    for (let i = 0; i < n; i++) {
      const v = normaliseKeyPart(rawValue(col, i), type, key);
      out[i] = v === null ? null : typeof v === "number" ? BigInt(v) : v;
    }
    return out;
  });
  const types = [BIGINT, BIGINT, ...keys.map((k) => (entityKeySqlType(k.type) === "BIGINT" ? BIGINT : VARCHAR))];
  const appender = await engine.connection.createAppender("entity_keys");
  const CHUNK = 2048;
  for (let start = 0; start < n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK);
    const rows: bigint[] = [];
    const times: bigint[] = [];
    for (let i = start; i < end; i++) {
      rows.push(BigInt(i));
      times.push(BigInt(Math.floor(ts[i]!)));
    }
    const chunk = DuckDBDataChunk.create(types, end - start);
    chunk.setColumns([rows, times, ...normalised.map((values) => values.slice(start, end))]);
    appender.appendDataChunk(chunk);
  }
  appender.closeSync();
}

/** `entity_keys` as a view over `relation`, which has `__row`, `__ts` and the key columns (see `keySelectList`). */
export async function createEntityKeysView(engine: OfflineEngine, tables: readonly EntityTable[], relation: string): Promise<void> {
  await engine.run(
    `CREATE VIEW entity_keys AS SELECT __row, __ts${keyColumnNames(tables)
      .map((k) => `, ${sqlIdent(k)}`)
      .join("")} FROM ${relation}`,
  );
}

/** The key columns `keyExpr` computes, as a SELECT list (for a relation that normalises keys inline). */
export function keySelectList(tables: readonly EntityTable[], keyExpr: KeyExpression): string[] {
  return keyColumns(tables).map((k) => `${keyExpr(k.key, k.type)}::${entityKeySqlType(k.type)} AS ${sqlIdent(k.column)}`);
}

/** The names of `entity_keys`' columns besides `__row` and `__ts`. */
export function keyColumnNames(tables: readonly EntityTable[]): string[] {
  return keyColumns(tables).map((k) => k.column);
}
