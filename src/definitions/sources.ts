import { z } from "zod";
import type { ValueType } from "../types.js";
import type { FeatureRow } from "./definition-types.js";
import { featureSchemaSchema, nameSchema, tagsSchema, textSchema, valueTypeSchema } from "./common-schemas.js";
import { definitionError, parseDefinition } from "./definition-error.js";
import type { BatchSourceDef, CsvSourceDef, ParquetSourceDef, PostgresSourceDef, PushSourceDef, RequestSourceDef, RowOf, Tags } from "./definition-types.js";

const columnSchema = z.string({ error: "expected a column name" }).min(1, { error: "expected a column name" });

const batchCommon = {
  name: nameSchema,
  timestampField: columnSchema,
  createdTimestampField: columnSchema.optional(),
  fieldMapping: z.record(z.string(), columnSchema).default({}),
  schema: z.record(columnSchema, valueTypeSchema).optional(),
  description: textSchema,
  tags: tagsSchema,
};

interface BatchSourceOptions {
  name: string;
  timestampField: string;
  createdTimestampField?: string;
  fieldMapping?: Record<string, string>;
  /**
   * The columns rows have (names after fieldMapping) and their types. Optional; when given, a
   * transform's `row` is typed from it in the editor, and it is checked against the real data.
   * @example schema: { driver_id: t.int64, distance_m: t.float64, started_at: t.timestamp }
   */
  schema?: Record<string, ValueType>;
  description?: string;
  tags?: Tags;
}

/** A source's options with a declared schema `S`: its row type is RowOf<S>. */
type WithSchema<O, S extends Record<string, ValueType>> = O & { schema: S };

function common(o: { name: string; timestampField: string; createdTimestampField?: string | undefined; fieldMapping: Record<string, string>; schema?: Record<string, ValueType> | undefined; description: string; tags: Tags }) {
  return {
    kind: "source" as const,
    name: o.name,
    timestampField: o.timestampField,
    createdTimestampField: o.createdTimestampField ?? null,
    fieldMapping: Object.freeze({ ...o.fieldMapping }),
    // Only when declared: sources without one keep the content hash they had.
    ...(o.schema ? { schema: Object.freeze({ ...o.schema }) } : {}),
    description: o.description,
    tags: o.tags,
  };
}

const parquetSchema = z.object({ ...batchCommon, path: z.string({ error: "expected a path" }).min(1) });
export interface ParquetSourceOptions extends BatchSourceOptions {
  /** A file, a directory of .parquet files, or a glob (`data/*.parquet`), relative to the repository. */
  path: string;
}
/**
 * Rows from Parquet files.
 * @example parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "updated_at" })
 */
export function parquetSource<S extends Record<string, ValueType>>(options: WithSchema<ParquetSourceOptions, S>): ParquetSourceDef<RowOf<S>>;
export function parquetSource(options: ParquetSourceOptions): ParquetSourceDef;
export function parquetSource(options: ParquetSourceOptions): ParquetSourceDef {
  const o = parseDefinition(parquetSchema, "parquetSource", options);
  return Object.freeze({ ...common(o), type: "parquet", path: o.path });
}

const csvSchema = z.object({ ...batchCommon, path: z.string({ error: "expected a path" }).min(1), delimiter: z.string().length(1).default(",") });
export interface CsvSourceOptions extends BatchSourceOptions {
  path: string;
  delimiter?: string;
}
/**
 * Rows from CSV files with a header line. Values that look like numbers are read as numbers.
 * @example csvSource({ name: "events", path: "data/events.csv", timestampField: "ts" })
 */
export function csvSource<S extends Record<string, ValueType>>(options: WithSchema<CsvSourceOptions, S>): CsvSourceDef<RowOf<S>>;
export function csvSource(options: CsvSourceOptions): CsvSourceDef;
export function csvSource(options: CsvSourceOptions): CsvSourceDef {
  const o = parseDefinition(csvSchema, "csvSource", options);
  return Object.freeze({ ...common(o), type: "csv", path: o.path, delimiter: o.delimiter });
}

const postgresSchema = z.object({
  ...batchCommon,
  table: z.string().min(1).optional(),
  query: z.string().min(1).optional(),
  connection: z.string().min(1).optional(),
});
export interface PostgresSourceOptions extends BatchSourceOptions {
  /** A table (optionally schema-qualified), or… */
  table?: string;
  /** …a query; its rows are filtered by event time in an outer query. */
  query?: string;
  /** Connection URL; defaults to the config's `sources.postgres`, then LARDER_SOURCE_POSTGRES_URL. */
  connection?: string;
}
/**
 * Rows from a Postgres table or query, read with a server-side cursor.
 * @example postgresSource({ name: "transactions", table: "transactions", timestampField: "ts" })
 */
export function postgresSource<S extends Record<string, ValueType>>(options: WithSchema<PostgresSourceOptions, S>): PostgresSourceDef<RowOf<S>>;
export function postgresSource(options: PostgresSourceOptions): PostgresSourceDef;
export function postgresSource(options: PostgresSourceOptions): PostgresSourceDef {
  const o = parseDefinition(postgresSchema, "postgresSource", options);
  if ((o.table === undefined) === (o.query === undefined)) {
    throw definitionError("postgresSource", o.name, "table", "expected exactly one of table or query");
  }
  return Object.freeze({ ...common(o), type: "postgres", table: o.table ?? null, query: o.query ?? null, connection: o.connection ?? null });
}

const batchSourceRef = z.custom<BatchSourceDef>((v) => typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "source" && ["parquet", "csv", "postgres"].includes((v as { type?: string }).type ?? ""), {
  error: "expected a batch source (parquetSource, csvSource or postgresSource)",
});
const pushSchema = z.object({ name: nameSchema, batchSource: batchSourceRef, description: textSchema, tags: tagsSchema });
export interface PushSourceOptions<R extends FeatureRow = FeatureRow> {
  name: string;
  /** Pushed rows arrive in this source's shape and are backfilled from it. */
  batchSource: BatchSourceDef<R>;
  description?: string;
  tags?: Tags;
}
/**
 * Rows pushed over HTTP (`POST /push`), in the shape of a batch source that backfills the same view.
 * @example pushSource({ name: "transactions_push", batchSource: txns })
 */
export function pushSource<R extends FeatureRow = FeatureRow>(options: PushSourceOptions<R>): PushSourceDef<R> {
  const o = parseDefinition(pushSchema, "pushSource", options);
  return Object.freeze({ kind: "source", type: "push", name: o.name, batchSource: o.batchSource as BatchSourceDef<R>, description: o.description, tags: o.tags });
}

const requestSchema = z.object({ name: nameSchema, schema: featureSchemaSchema, description: textSchema, tags: tagsSchema });
export interface RequestSourceOptions {
  name: string;
  schema: Record<string, ValueType>;
  description?: string;
  tags?: Tags;
}
/**
 * Values that come with the request (or as extra columns of the entity rows in training sets).
 * @example requestSource({ name: "cart", schema: { cart_value: t.float64 } })
 */
export function requestSource(options: RequestSourceOptions): RequestSourceDef {
  const o = parseDefinition(requestSchema, "requestSource", options);
  if (Object.keys(o.schema).length === 0) throw definitionError("requestSource", o.name, "schema", "expected at least one field");
  return Object.freeze({ kind: "source", type: "request", name: o.name, schema: Object.freeze({ ...o.schema }), description: o.description, tags: o.tags });
}

/** The batch source that reads a view's history: the source itself, or a push source's batch source. */
export function batchSourceOf(source: BatchSourceDef | PushSourceDef): BatchSourceDef {
  return source.type === "push" ? source.batchSource : source;
}
