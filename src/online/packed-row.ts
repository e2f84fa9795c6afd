/**
 * The stored form of one online row, shared by the Redis and embedded stores: one string per
 * (project, view, entity), the body of a JSON array
 *
 *     eventTs,writtenAt,expiresAt|null,"schemaId",v1,v2,…
 *
 * Feature names are not repeated per entity: `schemaId` is a short content hash of the view's
 * feature list, stored once per view under its own key (`schemaIdFor`). Rows written with
 * different feature lists (before a deleteView) therefore stay readable. The event timestamp comes
 * first so the Redis write script can compare it without decoding the rest.
 *
 * Values are JSON values: numbers, strings, booleans, null. NaN and ±Infinity have no JSON form and
 * are stored as null.
 */
import { createHash } from "node:crypto";
import { isEpochMs } from "../time.js";

export interface PackedRow {
  eventTs: number;
  writtenAt: number;
  expiresAt: number | null;
  schemaId: string;
  /** Values in the order of the schema's feature list. */
  values: unknown[];
}

/** A 12-character base64url hash of the feature list (72 bits: collisions are not a concern). */
export function schemaIdFor(features: readonly string[]): string {
  return createHash("sha1").update(JSON.stringify(features)).digest("base64url").slice(0, 12);
}

export function packRow(eventTs: number, writtenAt: number, expiresAt: number | null, schemaId: string, values: readonly unknown[]): string {
  const body = JSON.stringify(values);
  const head = `${eventTs},${writtenAt},${expiresAt === null ? "null" : expiresAt},"${schemaId}"`;
  return body.length > 2 ? `${head},${body.slice(1, -1)}` : head;
}

export function unpackRow(packed: string): PackedRow {
  const arr = JSON.parse(`[${packed}]`) as unknown[];
  return {
    eventTs: arr[0] as number,
    writtenAt: arr[1] as number,
    expiresAt: arr[2] as number | null,
    schemaId: arr[3] as string,
    values: arr.slice(4),
  };
}

/** The event timestamp of a packed row, without decoding the values. */
export function packedEventTs(packed: string): number {
  return Number(packed.slice(0, packed.indexOf(",")));
}

/**
 * Picks the requested features out of a stored row, in request order; undefined for a feature the
 * row's schema lacks. `index` maps the schema's feature names to positions (cache it per schema).
 */
export function selectValues(row: PackedRow, index: ReadonlyMap<string, number>, features: readonly string[]): unknown[] {
  const out = new Array<unknown>(features.length);
  for (let i = 0; i < features.length; i++) {
    const pos = index.get(features[i] as string);
    out[i] = pos === undefined ? undefined : row.values[pos];
  }
  return out;
}

export function featureIndex(features: readonly string[]): Map<string, number> {
  return new Map(features.map((f, i) => [f, i]));
}

/** Rejects an event timestamp the stores cannot compare exactly, or that no Date can hold. */
export function isValidEventTs(ts: number): boolean {
  return Number.isSafeInteger(ts) && isEpochMs(ts);
}
