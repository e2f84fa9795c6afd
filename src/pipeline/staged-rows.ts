/**
 * The row path's hand-over to the offline engine: rows that passed through JavaScript (a view's
 * row transform, a Postgres cursor) are converted to the view's offline columns exactly as the
 * offline store converts values (columnFromValues, normalised join keys) and appended to an engine
 * table, which the engine then sorts and writes like any other query.
 *
 * Rows go in through DuckDB's appender, a few thousand at a time; every instant and number is
 * staged as a DOUBLE (epoch ms, safe integers), so no BigInt is made per cell, and cast to the
 * offline types when the table is read.
 */
import type { DuckDBAppender, DuckDBConnection } from "@duckdb/node-api";
import { columnFromValues, type Column } from "../data/columnar.js";
import { sqlIdent, type OfflineEngine } from "../offline/duckdb-engine.js";
import { normaliseKeyPart } from "../data/entity-keys.js";
import type { OfflineColumnSpec } from "../offline/offline-store.js";

const FLUSH_ROWS = 4096;
const SEQ = "__larder_seq";

function stagedType(spec: OfflineColumnSpec): string {
  if (spec.type === "string") return "VARCHAR";
  if (spec.type === "bool") return "BOOLEAN";
  return "DOUBLE";
}

export class StagedRows {
  private readonly keys: OfflineColumnSpec[];
  private readonly values: OfflineColumnSpec[];
  private keyBuf: unknown[][];
  private valueBuf: unknown[][];
  private ts: number[] = [];
  private created: (number | null)[] = [];
  private seq = 0;
  rows = 0;

  private constructor(
    private readonly table: string,
    private readonly columns: readonly OfflineColumnSpec[],
    private readonly connection: DuckDBConnection,
    private readonly appender: DuckDBAppender,
    /** Names conversion errors: `featureView "v" feature "f"`. */
    private readonly label: (spec: OfflineColumnSpec) => string,
  ) {
    this.keys = columns.filter((c) => c.role === "key");
    this.values = columns.filter((c) => c.role === "feature");
    this.keyBuf = this.keys.map(() => []);
    this.valueBuf = this.values.map(() => []);
  }

  /** Creates the engine table `table` for `columns` (offlineColumnsOf a view). */
  static async create(engine: OfflineEngine, table: string, columns: readonly OfflineColumnSpec[], label: (spec: OfflineColumnSpec) => string): Promise<StagedRows> {
    const defs = columns.map((c) => `${sqlIdent(c.name)} ${c.role === "key" && c.type !== "string" ? "DOUBLE" : stagedType(c)}`);
    await engine.run(`CREATE TABLE ${sqlIdent(table)} (${[...defs, `${sqlIdent(SEQ)} DOUBLE`].join(", ")})`);
    // Its own connection: the rows may come from a result the engine's connection is streaming.
    const connection = await engine.connect();
    try {
      const appender = await connection.createAppender(table);
      return new StagedRows(table, columns, connection, appender, label);
    } catch (err) {
      connection.closeSync();
      throw err;
    }
  }

  /**
   * One row: its join key values, event time, created time (−Infinity when none) and the values of
   * the view's value columns (in `offlineColumnsOf` order). The arrays may be reused by the caller.
   */
  add(keyParts: readonly unknown[], ts: number, created: number, values: readonly unknown[]): void {
    for (let k = 0; k < keyParts.length; k++) this.keyBuf[k]!.push(keyParts[k]);
    for (let k = 0; k < values.length; k++) this.valueBuf[k]!.push(values[k] ?? null);
    this.ts.push(ts);
    this.created.push(created === Number.NEGATIVE_INFINITY ? null : created);
    if (this.ts.length >= FLUSH_ROWS) this.flush();
  }

  /** Appends what is buffered and closes the appender: the table is then complete. */
  finish(): void {
    this.flush();
    this.appender.closeSync();
    this.connection.closeSync();
  }

  /** Discards the appender after a failure (the engine is closed by its owner). */
  dispose(): void {
    try {
      this.appender.closeSync();
    } catch {
      // already closed, or the failure was the appender's
    }
    try {
      this.connection.closeSync();
    } catch {
      // already closed
    }
  }

  /**
   * The staged rows as the offline columns, sorted by (keys, event time, created time, arrival).
   * The event time must lie in the range the rows were read for.
   */
  selectSql(): string {
    const cols = this.columns.map((c) => {
      const name = sqlIdent(c.name);
      if (c.type === "timestamp") return `make_timestamptz(CAST(${name} AS BIGINT) * 1000) AS ${name}`;
      return name;
    });
    const order = [...this.keys.map((c) => sqlIdent(c.name)), sqlIdent(this.columns.find((c) => c.role === "event_ts")!.name)];
    const created = this.columns.find((c) => c.role === "created_ts");
    if (created) order.push(`${sqlIdent(created.name)} NULLS FIRST`);
    order.push(sqlIdent(SEQ));
    return `SELECT ${cols.join(", ")} FROM ${sqlIdent(this.table)} ORDER BY ${order.join(", ")}`;
  }

  private flush(): void {
    const n = this.ts.length;
    if (n === 0) return;
    // The offline store's own conversions, so values (and errors) are those of any offline write.
    const keyCols = this.keys.map((spec, k) => this.keyBuf[k]!.map((v) => normaliseKeyPart(v, spec.type, spec.name)));
    const valueCols: Column[] = this.values.map((spec, k) => columnFromValues(spec.type, this.valueBuf[k]!, this.label(spec)));
    const a = this.appender;
    for (let i = 0; i < n; i++) {
      let k = 0;
      let v = 0;
      for (const spec of this.columns) {
        if (spec.role === "key") {
          const part = keyCols[k++]![i]!;
          if (typeof part === "number") a.appendDouble(part);
          else a.appendVarchar(part);
        } else if (spec.role === "event_ts") {
          a.appendDouble(this.ts[i]!);
        } else if (spec.role === "created_ts") {
          const c = this.created[i];
          if (c === null || c === undefined) a.appendNull();
          else a.appendDouble(c);
        } else {
          appendValue(a, valueCols[v++]!, i);
        }
      }
      a.appendDouble(this.seq++);
      a.endRow();
    }
    this.rows += n;
    this.keyBuf = this.keys.map(() => []);
    this.valueBuf = this.values.map(() => []);
    this.ts = [];
    this.created = [];
  }
}

function appendValue(a: DuckDBAppender, col: Column, i: number): void {
  switch (col.type) {
    case "string": {
      const v = col.values[i];
      if (v === null || v === undefined) a.appendNull();
      else a.appendVarchar(v);
      return;
    }
    case "bool": {
      const v = col.values[i];
      if (v === null || v === undefined) a.appendNull();
      else a.appendBoolean(v);
      return;
    }
    default:
      if (col.valid !== null && col.valid[i] === 0) a.appendNull();
      else a.appendDouble(col.values[i]!);
  }
}
