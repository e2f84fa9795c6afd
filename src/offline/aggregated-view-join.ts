/**
 * An aggregated view's aggregates for entity rows held in JS (materialization: each entity as of
 * end − 1 ms): loads them into DuckDB as `entity_rows`, runs `aggregatedViewJoinSql` (the training
 * set's SQL, so the values are the same bits) over the view's event files and hands the features
 * back as columns in entity row order.
 */
import type { FeatureViewDef } from "../definitions/definition-types.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";
import { columnFromValues, type Column } from "../data/columnar.js";
import { OfflineEngine, sqlIdent, type OfflineEngineConfig } from "./duckdb-engine.js";
import { normaliseKeyPart } from "../data/entity-keys.js";
import type { ViewSnapshot } from "./offline-store.js";
import { aggregatedViewJoinSql, duckdbType, TYPE_MISMATCH_MARK } from "./window-join-sql.js";

export interface AggregatedJoinResult {
  columns: Map<string, Column>;
  /** All ones: every entity row has a value (an empty window's is count and sum 0, the rest null). */
  found: Uint8Array;
}

/**
 * The aggregates `features` of `view` as of each entity row: `keyColumns` holds the entity rows'
 * join key values (in the view's join key order), `ts` their times (epoch ms).
 */
export async function aggregatedViewJoin(
  engineConfig: OfflineEngineConfig,
  snapshot: ViewSnapshot | undefined,
  view: FeatureViewDef,
  features: readonly { name: string; type: ValueType }[],
  keyColumns: readonly ArrayLike<unknown>[],
  ts: Float64Array,
): Promise<AggregatedJoinResult> {
  const n = ts.length;
  const keys = joinKeysOf(view);
  const keyTypes = joinKeyTypesOf(view);
  const files = (snapshot?.segments ?? [])
    .flatMap((s) => s.files)
    .filter((f) => f.rows > 0)
    .map((f) => f.file);
  const values = features.map(() => new Array<unknown>(n).fill(null));
  const engine = await OfflineEngine.open(engineConfig);
  try {
    await engine.run(`CREATE TEMP TABLE entity_rows (__row BIGINT, __ts BIGINT${keys.map((k, i) => `, ${sqlIdent(k)} ${duckdbType(keyTypes[i]!)}`).join("")})`);
    const appender = await engine.connection.createAppender("entity_rows");
    for (let i = 0; i < n; i++) {
      appender.appendBigInt(BigInt(i));
      appender.appendBigInt(BigInt(ts[i]!));
      for (let k = 0; k < keys.length; k++) {
        const part = normaliseKeyPart(keyColumns[k]![i], keyTypes[k]!, keys[k]!);
        if (part === null) appender.appendNull();
        else if (typeof part === "string") appender.appendVarchar(part);
        else if (keyTypes[k] === "int32") appender.appendInteger(part);
        else appender.appendBigInt(BigInt(part));
      }
      appender.endRow();
    }
    appender.closeSync();
    const inner = aggregatedViewJoinSql({ view, files, features: features.map((f) => f.name), ...(snapshot ? { columns: snapshot.columns } : {}) });
    const sql = `SELECT __row, ${features.map((f) => (f.type === "timestamp" ? `epoch_ms(${sqlIdent(f.name)})` : sqlIdent(f.name))).join(", ")} FROM (${inner})`;
    for await (const chunk of engine.chunks(sql)) {
      const rows = chunk.getColumnValues(0);
      for (let k = 0; k < features.length; k++) {
        const col = chunk.getColumnValues(k + 1);
        const out = values[k]!;
        for (let r = 0; r < rows.length; r++) {
          const v = col[r];
          out[Number(rows[r] as bigint)] = typeof v === "bigint" ? Number(v) : v;
        }
      }
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const at = message.indexOf(TYPE_MISMATCH_MARK);
    if (at >= 0) throw new LarderError("TYPE_MISMATCH", message.slice(at + TYPE_MISMATCH_MARK.length).split("\n")[0]!, { view: view.name });
    throw err;
  } finally {
    engine.close();
  }
  const columns = new Map<string, Column>();
  features.forEach((f, k) => columns.set(f.name, columnFromValues(f.type, values[k]!, `featureView "${view.name}" aggregation "${f.name}"`)));
  return { columns, found: new Uint8Array(n).fill(1) };
}
