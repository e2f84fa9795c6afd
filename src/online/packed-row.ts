/**
 * The stored form of one online row, shared by the Redis and embedded stores: one string per
 * (project, view, entity), the body of a JSON array
 *
 *     eventTs,writtenAt,expiresAt|null,"schemaId",v1,v2,…
 *
 * or, for a row with a created timestamp (views whose source has one),
 *
 *     eventTs,createdTs,writtenAt,expiresAt|null,"schemaId",v1,v2,…
 *
 * The two are told apart by the position of the first string (the schema id is the 4th element,
 * or the 5th). Rows without a created timestamp keep the first form, so data written before
 * created timestamps were stored reads as it did, with no created timestamp.
 *
 * Feature names are not repeated per entity: `schemaId` is a short content hash of the view's
 * feature list, stored once per view under its own key (`schemaIdFor`). Rows written with
 * different feature lists (before a deleteView) therefore stay readable. The timestamps come
 * first so the Redis write script can compare them without decoding the rest.
 *
 * Values are JSON values: numbers, strings, booleans, null. NaN and ±Infinity have no JSON form and
 * are stored as null.
 */
import { createHash } from "node:crypto";
import { isEpochMs } from "../time.js";

export interface PackedRow {
  eventTs: number;
  /** The created timestamp, epoch ms; null when the row has none. */
  createdTs: number | null;
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

/** `createdTs` null or undefined: the row has none (written in the form without it). */
export function packRow(eventTs: number, writtenAt: number, expiresAt: number | null, schemaId: string, values: readonly unknown[], createdTs?: number | null): string {
  const body = JSON.stringify(values);
  const created = createdTs === null || createdTs === undefined ? "" : `${createdTs},`;
  const head = `${eventTs},${created}${writtenAt},${expiresAt === null ? "null" : expiresAt},"${schemaId}"`;
  return body.length > 2 ? `${head},${body.slice(1, -1)}` : head;
}

export function unpackRow(packed: string): PackedRow {
  const arr = JSON.parse(`[${packed}]`) as unknown[];
  const withCreated = typeof arr[3] !== "string";
  const at = withCreated ? 1 : 0;
  return {
    eventTs: arr[0] as number,
    createdTs: withCreated ? (arr[1] as number) : null,
    writtenAt: arr[1 + at] as number,
    expiresAt: arr[2 + at] as number | null,
    schemaId: arr[3 + at] as string,
    values: arr.slice(4 + at),
  };
}

/**
 * The (event, created) timestamps of a packed row without decoding the values; created is
 * −Infinity when the row has none (as the point-in-time join orders rows).
 */
export function packedVersion(packed: string): { eventTs: number; createdTs: number } {
  const a = packed.indexOf(",");
  const b = packed.indexOf(",", a + 1);
  const c = packed.indexOf(",", b + 1);
  // The 4th element starts with a quote in the form without a created timestamp.
  const withCreated = packed[c + 1] !== '"';
  return { eventTs: Number(packed.slice(0, a)), createdTs: withCreated ? Number(packed.slice(a + 1, b)) : Number.NEGATIVE_INFINITY };
}

/**
 * True when a row (eventTs, createdTs) must not replace the stored one: the stored row's event
 * timestamp is greater, or equal with a greater created timestamp (none = −Infinity). Equal pairs
 * replace, so rewriting the same row is idempotent.
 */
export function isOlderThanStored(stored: { eventTs: number; createdTs: number }, eventTs: number, createdTs: number | null | undefined): boolean {
  const created = createdTs ?? Number.NEGATIVE_INFINITY;
  return stored.eventTs > eventTs || (stored.eventTs === eventTs && stored.createdTs > created);
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
