import { z } from "zod";
import type { ValueType } from "../types.js";
import { parseDurationMs } from "../time.js";
import { scheduleError } from "./cron-schedule.js";
import { durationSchema, featureSchemaSchema, nameSchema, tagsSchema, textSchema } from "./common-schemas.js";
import { definitionError, parseDefinition } from "./definition-error.js";
import type { AggregationDef, BatchSourceDef, EntityDef, FeatureRow, FeatureViewDef, FeatureViewProjection, OnDemandFeatureViewDef, PushSourceDef, RowTransform, Tags } from "./definition-types.js";

const entityRef = z.custom<EntityDef>((v) => (v as { kind?: unknown } | null)?.kind === "entity", { error: "expected an entity (made with entity())" });
const sourceRef = z.custom<BatchSourceDef | PushSourceDef>((v) => (v as { kind?: unknown } | null)?.kind === "source" && (v as { type?: unknown }).type !== "request", {
  error: "expected a batch or push source (parquetSource, csvSource, postgresSource, pushSource)",
});
const aggRef = z.object(
  {
    fn: z.enum(["count", "sum", "avg", "min", "max", "last"]),
    column: z.string().nullable(),
    window: z.string().nullable(),
    windowMs: z.number().nullable(),
  },
  { error: "expected an aggregation made with agg.count/sum/avg/min/max/last" },
);

const featureViewSchema = z.object({
  name: nameSchema,
  entities: z.array(entityRef).min(1, { error: "expected at least one entity" }),
  source: sourceRef,
  schema: featureSchemaSchema.optional(),
  ttl: durationSchema.optional(),
  transform: z.custom<RowTransform>((v) => typeof v === "function", { error: "expected a function (row) => row" }).optional(),
  aggregations: z.record(nameSchema, aggRef).optional(),
  schedule: z.string().min(1).optional(),
  online: z.boolean().default(true),
  owner: textSchema,
  description: textSchema,
  tags: tagsSchema,
});

export interface FeatureViewOptions<R extends FeatureRow = FeatureRow> {
  name: string;
  entities: EntityDef[];
  /** With a declared source schema, `transform`'s row is typed from it. */
  source: BatchSourceDef<R> | PushSourceDef<R>;
  /** The features and their types. Required unless the view has aggregations. */
  schema?: Record<string, ValueType>;
  /** Values older than this at the entity row's time (training) or read time (online) are null. */
  ttl?: string;
  /**
   * Row-level transform, run on every source row in backfills and on every pushed row. Reading a
   * column the source does not have is UNKNOWN_COLUMN (at apply, and at a backfill's first row).
   */
  transform?: (row: R) => FeatureRow;
  /** Windowed aggregations of the (transformed) rows; their names are the view's features. */
  aggregations?: Record<string, AggregationDef>;
  /**
   * A cron expression (5 fields, or 6 with leading seconds; evaluated in UTC) or @hourly, @daily,
   * @weekly, @monthly, @yearly: `larder serve` backfills and materializes the view on it.
   */
  schedule?: string;
  online?: boolean;
  owner?: string;
  description?: string;
  tags?: Tags;
}

/** Default output type of an aggregation when the view's schema does not name it. */
export function defaultAggregationType(a: AggregationDef): ValueType {
  return a.fn === "count" ? "int64" : "float64";
}

export function makeSelect<V extends FeatureViewDef | OnDemandFeatureViewDef>(kind: string, getView: () => V) {
  return (features: readonly string[]): FeatureViewProjection => {
    const view = getView();
    for (const f of features) {
      if (!Object.hasOwn(view.schema, f)) throw definitionError(kind, view.name, "select", `unknown feature ${JSON.stringify(f)} (has: ${Object.keys(view.schema).join(", ")})`);
    }
    return Object.freeze({ kind: "projection", view, features: Object.freeze([...features]) });
  };
}

/**
 * A feature view: features of one or more entities computed from a source, stored offline as
 * Parquet and materialized online.
 * @example
 * featureView({ name: "customer_profile", entities: [customer], source: profiles, ttl: "30d",
 *   schema: { plan: t.string, monthly_fee: t.float64 } })
 */
export function featureView<R extends FeatureRow = FeatureRow>(options: FeatureViewOptions<R>): FeatureViewDef {
  // The row type is for the editor only; at run time every row is a FeatureRow.
  const o = parseDefinition(featureViewSchema, "featureView", options as unknown as FeatureViewOptions);
  const fail = (path: string, msg: string) => definitionError("featureView", o.name, path, msg);
  const joinKeys = o.entities.flatMap((e) => e.joinKeys);
  if (new Set(joinKeys).size !== joinKeys.length) throw fail("entities", `join keys repeat across entities: ${joinKeys.join(", ")}`);
  let schema: Record<string, ValueType>;
  let aggregations: Record<string, AggregationDef> | null = null;
  if (o.aggregations && Object.keys(o.aggregations).length > 0) {
    aggregations = {};
    schema = {};
    for (const [feature, a] of Object.entries(o.aggregations)) {
      if (a.window !== null && !(parseDurationMs(a.window) > 0)) {
        throw fail(`aggregations.${feature}`, `invalid window ${JSON.stringify(a.window)} (expected e.g. "7d", "12h", "15m")`);
      }
      if (a.fn !== "count" && !a.column) throw fail(`aggregations.${feature}`, `agg.${a.fn} needs a column`);
      aggregations[feature] = Object.freeze({ ...a, windowMs: a.window === null ? null : parseDurationMs(a.window) });
      schema[feature] = defaultAggregationType(a as AggregationDef);
    }
    for (const [feature, type] of Object.entries(o.schema ?? {})) {
      if (!Object.hasOwn(aggregations, feature)) {
        throw fail(`schema.${feature}`, `not an aggregation of this view (aggregations: ${Object.keys(aggregations).join(", ")})`);
      }
      schema[feature] = type;
    }
  } else {
    if (!o.schema || Object.keys(o.schema).length === 0) throw fail("schema", "expected a schema with at least one feature, or aggregations");
    schema = { ...o.schema };
  }
  for (const key of joinKeys) if (key in schema) throw fail(`schema.${key}`, `${JSON.stringify(key)} is a join key, not a feature`);
  // Checked with the parser the scheduler runs (node-cron), so an applied schedule always runs.
  const scheduleProblem = o.schedule === undefined ? undefined : scheduleError(o.schedule);
  if (scheduleProblem !== undefined) {
    throw fail("schedule", `invalid schedule ${JSON.stringify(o.schedule)}: ${scheduleProblem} (expected a cron expression in UTC, e.g. "0 * * * *", or @hourly, @daily, …)`);
  }
  const view: FeatureViewDef = Object.freeze({
    kind: "feature_view",
    name: o.name,
    entities: Object.freeze([...o.entities]),
    source: o.source,
    schema: Object.freeze(schema),
    ttl: o.ttl ?? null,
    ttlMs: o.ttl === undefined ? null : parseDurationMs(o.ttl),
    transform: o.transform ?? null,
    aggregations: aggregations && Object.freeze(aggregations),
    schedule: o.schedule ?? null,
    online: o.online,
    owner: o.owner,
    description: o.description,
    tags: o.tags,
    select: makeSelect("featureView", () => view),
  });
  return view;
}

export function joinKeysOf(view: FeatureViewDef): string[] {
  return view.entities.flatMap((e) => e.joinKeys);
}

export function joinKeyTypesOf(view: FeatureViewDef): ValueType[] {
  return view.entities.flatMap((e) => e.valueTypes);
}

/**
 * The declared type of every column an entity row may carry: each view's join keys, then the
 * fields of request sources of on-demand views (a join key's type wins over a request field's).
 */
export function entityColumnTypes(defs: { featureViews: ReadonlyMap<string, FeatureViewDef>; onDemandFeatureViews: ReadonlyMap<string, OnDemandFeatureViewDef> }): Map<string, ValueType> {
  const types = new Map<string, ValueType>();
  for (const v of defs.featureViews.values()) {
    const keys = joinKeysOf(v);
    const kt = joinKeyTypesOf(v);
    keys.forEach((k, i) => types.set(k, kt[i]!));
  }
  for (const odfv of defs.onDemandFeatureViews.values()) {
    for (const s of odfv.sources) if (s.kind === "source") for (const [f, t] of Object.entries(s.schema)) if (!types.has(f)) types.set(f, t);
  }
  return types;
}
