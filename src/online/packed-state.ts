/**
 * The stored form of an entity's state next to its online row (see `OnlineStore.update`), shared
 * by the Redis and embedded stores: one string
 *
 *     version \n asOf \n eventTs \n expiresAt \n state
 *
 * `version` is a fresh random token per write (the compare in compare-and-set; a token rather than
 * a counter, so a state that expired and was written again can never look unchanged), `eventTs`
 * the row's event timestamp ("" if none), `expiresAt` epoch ms or "" (the embedded store checks it
 * on read; Redis also expires the key). `state` is opaque and must not contain a raw newline (JSON
 * never does).
 */
import { randomBytes } from "node:crypto";
import { LarderError } from "../errors.js";
import { isEpochMs } from "../time.js";
import type { StoredState } from "./online-store.js";

export interface PackedState extends StoredState {
  version: string;
  expiresAt: number | null;
}

export function packState(version: string, asOf: number, eventTs: number | null, expiresAt: number | null, state: string): string {
  if (state.includes("\n")) throw new LarderError("INVALID_ARGUMENT", "an online state must not contain a newline character");
  return `${version}\n${asOf}\n${eventTs === null ? "" : eventTs}\n${expiresAt === null ? "" : expiresAt}\n${state}`;
}

export function unpackState(packed: string): PackedState {
  const a = packed.indexOf("\n");
  const b = packed.indexOf("\n", a + 1);
  const c = packed.indexOf("\n", b + 1);
  const d = packed.indexOf("\n", c + 1);
  const eventTs = packed.slice(b + 1, c);
  const expiresAt = packed.slice(c + 1, d);
  return {
    version: packed.slice(0, a),
    asOf: Number(packed.slice(a + 1, b)),
    eventTs: eventTs === "" ? null : Number(eventTs),
    expiresAt: expiresAt === "" ? null : Number(expiresAt),
    state: packed.slice(d + 1),
  };
}

/**
 * What `modify` is shown of a stored state. An `asOf` or `eventTs` that is no valid instant (written
 * before pushes were range-checked, or by hand) is shown as unknown (−Infinity, null), so the next
 * valid write replaces it instead of being refused as older.
 */
export function storedState(cur: PackedState): StoredState {
  return { asOf: isEpochMs(cur.asOf) ? cur.asOf : Number.NEGATIVE_INFINITY, eventTs: cur.eventTs !== null && isEpochMs(cur.eventTs) ? cur.eventTs : null, state: cur.state };
}

/** A new version token (72 random bits). */
export function newStateVersion(): string {
  return randomBytes(9).toString("base64url");
}
