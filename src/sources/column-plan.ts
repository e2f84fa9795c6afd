/**
 * What every source reader shares: the mapping from source columns to row keys (fieldMapping and
 * the time columns), the requested time range, and a fast row-object builder.
 */
import type { BatchSourceDef } from "../definitions/definition-types.js";
import { LarderError } from "../errors.js";
import type { Row } from "../types.js";
import type { SourceReadOptions } from "./source-reader.js";

export interface ColumnPlan {
  /** Source column names, in source order. */
  readonly sourceNames: readonly string[];
  /** Row keys after fieldMapping, in the same order. */
  readonly outputNames: readonly string[];
  /** Index of the event-time column. */
  readonly eventIndex: number;
  /** Index of the created-time column, or -1. */
  readonly createdIndex: number;
}

function quoteList(names: readonly string[]): string {
  return names.length === 0 ? "no columns" : names.join(", ");
}

/**
 * Checks a source's columns against its definition and maps them. `where` names the file (or
 * table) in errors when a source spans several.
 */
export function planColumns(source: BatchSourceDef, sourceNames: readonly string[], where: string | null): ColumnPlan {
  const src = `source ${JSON.stringify(source.name)}`;
  const suffix = where ? ` in ${where}` : "";
  const seen = new Set<string>();
  for (const name of sourceNames) {
    if (seen.has(name)) {
      throw new LarderError("SOURCE_READ_ERROR", `${src}: column ${JSON.stringify(name)} appears more than once${suffix}`, { source: source.name, column: name });
    }
    seen.add(name);
  }
  const find = (column: string): number => {
    const i = sourceNames.indexOf(column);
    if (i < 0) {
      throw new LarderError("SOURCE_READ_ERROR", `${src}: no column ${JSON.stringify(column)} (has: ${quoteList(sourceNames)})${suffix}`, {
        source: source.name,
        column,
        columns: [...sourceNames],
      });
    }
    return i;
  };
  const eventIndex = find(source.timestampField);
  const createdIndex = source.createdTimestampField === null ? -1 : find(source.createdTimestampField);
  const mapping = source.fieldMapping;
  const outputNames = sourceNames.map((name) => (Object.hasOwn(mapping, name) ? (mapping[name] as string) : name));
  const owner = new Map<string, string>();
  outputNames.forEach((out, i) => {
    const from = sourceNames[i] as string;
    const other = owner.get(out);
    if (other !== undefined) {
      // e.g. { cust: "customer_id" } while the source also has an unmapped customer_id column.
      throw new LarderError("SOURCE_READ_ERROR", `${src}: fieldMapping maps columns ${JSON.stringify(other)} and ${JSON.stringify(from)} both to ${JSON.stringify(out)}${suffix}`, { source: source.name, column: out });
    }
    owner.set(out, from);
  });
  return { sourceNames, outputNames, eventIndex, createdIndex };
}

/** The requested range as numbers; an open side is ±Infinity. */
export interface TimeRange {
  readonly start: number;
  readonly end: number;
  /** False when both sides are open, so readers can skip filtering. */
  readonly bounded: boolean;
}

export const DEFAULT_BATCH_SIZE = 65_536;

export function resolveRange(opts: SourceReadOptions): TimeRange {
  const start = opts.range?.start ?? Number.NEGATIVE_INFINITY;
  const end = opts.range?.end ?? Number.POSITIVE_INFINITY;
  for (const [side, v] of [
    ["start", start],
    ["end", end],
  ] as const) {
    if (Number.isNaN(v) || typeof v !== "number") {
      throw new LarderError("INVALID_ARGUMENT", `range.${side} must be epoch milliseconds, got ${String(v)}`, { field: `range.${side}` });
    }
  }
  return { start, end, bounded: start !== Number.NEGATIVE_INFINITY || end !== Number.POSITIVE_INFINITY };
}

export function resolveBatchSize(opts: SourceReadOptions): number {
  const size = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1) {
    throw new LarderError("INVALID_ARGUMENT", `batchSize must be a positive integer, got ${String(size)}`, { field: "batchSize" });
  }
  return size;
}

/** Builds row `k` from column arrays. */
export type ColumnsRowBuilder = (columns: readonly unknown[][], k: number) => Row;
/** Builds a row from one record's values, in column order. */
export type ValuesRowBuilder = (values: readonly unknown[]) => Row;

function objectLiteral(names: readonly string[], valueExpr: (i: number) => string): string {
  // An object literal with fixed keys gives every row the same hidden class, and is several times
  // faster than assigning keys in a loop. "__proto__" must be a computed key to be an own property.
  return `{${names.map((n, i) => `${n === "__proto__" ? `["__proto__"]` : JSON.stringify(n)}: ${valueExpr(i)}`).join(", ")}}`;
}

export function compileColumnsRowBuilder(names: readonly string[]): ColumnsRowBuilder {
  // Keys are JSON string literals, so no column name can inject code.
  return new Function("c", "k", `return ${objectLiteral(names, (i) => `c[${i}][k]`)};`) as ColumnsRowBuilder;
}

export function compileValuesRowBuilder(names: readonly string[]): ValuesRowBuilder {
  return new Function("v", `return ${objectLiteral(names, (i) => `v[${i}]`)};`) as ValuesRowBuilder;
}
