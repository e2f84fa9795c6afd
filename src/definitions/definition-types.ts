import type { ValueType } from "../types.js";

/**
 * Rows are dynamic: their columns come from files and tables, so transforms see an open record.
 * `any` here (and only here) lets `row.amount_cents / 100` compile in users' feature files; values
 * are checked against the declared schema at run time by the transform executor.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type FeatureRow = { [column: string]: any };

export type Tags = Record<string, string>;

/** The TypeScript type of a value of a ValueType, as transforms see it. */
export type ValueOf<T extends ValueType> = T extends "string" ? string : T extends "bool" ? boolean : T extends "timestamp" ? Date : number;

/**
 * The row of a source that declares its schema: exactly its columns, each possibly null, so
 * `row.distance_mm` for a declared `distance_m` is a compile error in the editor.
 */
export type RowOf<S extends Readonly<Record<string, ValueType>>> = { [K in keyof S]: ValueOf<S[K]> | null };

export interface EntityDef {
  readonly kind: "entity";
  readonly name: string;
  readonly joinKeys: readonly string[];
  /** One type per join key. */
  readonly valueTypes: readonly ValueType[];
  readonly description: string;
  readonly tags: Tags;
}

interface BatchSourceCommon<R extends FeatureRow> {
  readonly name: string;
  /**
   * Declared columns (after fieldMapping) and types, if any: checked against the real file or table
   * at apply and at the first row of each backfill (UNKNOWN_COLUMN, TYPE_MISMATCH).
   */
  readonly schema?: Readonly<Record<string, ValueType>>;
  /** Type-only (never set): the row type the source's transforms see. */
  readonly __row?: R;
  /** Source column holding the event time. */
  readonly timestampField: string;
  /** Source column holding the ingestion time; breaks ties between equal event times. */
  readonly createdTimestampField: string | null;
  /** Renames source columns: `{ cust: "customer_id" }` reads column `cust` as `customer_id`. */
  readonly fieldMapping: Readonly<Record<string, string>>;
  readonly description: string;
  readonly tags: Tags;
}

export interface ParquetSourceDef<R extends FeatureRow = FeatureRow> extends BatchSourceCommon<R> {
  readonly kind: "source";
  readonly type: "parquet";
  /** A file, a directory of .parquet files, or a glob; relative paths resolve from the repository. */
  readonly path: string;
}

export interface CsvSourceDef<R extends FeatureRow = FeatureRow> extends BatchSourceCommon<R> {
  readonly kind: "source";
  readonly type: "csv";
  readonly path: string;
  readonly delimiter: string;
}

export interface PostgresSourceDef<R extends FeatureRow = FeatureRow> extends BatchSourceCommon<R> {
  readonly kind: "source";
  readonly type: "postgres";
  readonly table: string | null;
  readonly query: string | null;
  /** Connection URL; defaults to the config's `sources.postgres`, then LARDER_SOURCE_POSTGRES_URL. */
  readonly connection: string | null;
}

export type BatchSourceDef<R extends FeatureRow = FeatureRow> = ParquetSourceDef<R> | CsvSourceDef<R> | PostgresSourceDef<R>;

export interface PushSourceDef<R extends FeatureRow = FeatureRow> {
  readonly kind: "source";
  readonly type: "push";
  readonly name: string;
  readonly batchSource: BatchSourceDef<R>;
  readonly description: string;
  readonly tags: Tags;
}

export interface RequestSourceDef {
  readonly kind: "source";
  readonly type: "request";
  readonly name: string;
  readonly schema: Readonly<Record<string, ValueType>>;
  readonly description: string;
  readonly tags: Tags;
}

export type SourceDef = BatchSourceDef | PushSourceDef | RequestSourceDef;

export type AggFunction = "count" | "sum" | "avg" | "min" | "max" | "last";

export interface AggregationDef {
  readonly fn: AggFunction;
  /** Input column of the transformed row; null for count. */
  readonly column: string | null;
  /** Window length as written ("7d"); null means unbounded (only `last` and `count`/`sum` allow it). */
  readonly window: string | null;
  readonly windowMs: number | null;
}

export type RowTransform = (row: FeatureRow) => FeatureRow;
export type OnDemandTransform = (input: FeatureRow) => FeatureRow;

export interface FeatureViewDef {
  readonly kind: "feature_view";
  readonly name: string;
  readonly entities: readonly EntityDef[];
  readonly source: BatchSourceDef | PushSourceDef;
  /** Output features and their types (for aggregated views: the aggregations' output types). */
  readonly schema: Readonly<Record<string, ValueType>>;
  readonly ttl: string | null;
  readonly ttlMs: number | null;
  readonly transform: RowTransform | null;
  readonly aggregations: Readonly<Record<string, AggregationDef>> | null;
  readonly schedule: string | null;
  readonly online: boolean;
  readonly owner: string;
  readonly description: string;
  readonly tags: Tags;
  /** A projection of some of this view's features, for feature services. */
  select(features: readonly string[]): FeatureViewProjection;
}

export interface FeatureViewProjection {
  readonly kind: "projection";
  readonly view: FeatureViewDef | OnDemandFeatureViewDef;
  readonly features: readonly string[];
}

export interface OnDemandFeatureViewDef {
  readonly kind: "on_demand_feature_view";
  readonly name: string;
  readonly sources: readonly (FeatureViewDef | RequestSourceDef)[];
  readonly schema: Readonly<Record<string, ValueType>>;
  readonly transform: OnDemandTransform;
  readonly owner: string;
  readonly description: string;
  readonly tags: Tags;
  select(features: readonly string[]): FeatureViewProjection;
}

export interface FeatureServiceDef {
  readonly kind: "feature_service";
  readonly name: string;
  readonly features: readonly FeatureViewProjection[];
  readonly owner: string;
  readonly description: string;
  readonly tags: Tags;
}

export type AnyDefinition = EntityDef | SourceDef | FeatureViewDef | OnDemandFeatureViewDef | FeatureServiceDef;
