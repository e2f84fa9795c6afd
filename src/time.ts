import { LarderError } from "./errors.js";

/** Epoch milliseconds, UTC. All instants inside Larder are numbers of this kind. */
export type EpochMs = number;

/** The largest |epoch ms| a JavaScript Date can hold (±100,000,000 days around 1970). */
export const MAX_EPOCH_MS = 8.64e15;

/** True for a finite epoch ms a Date can hold (so formatting it never throws). */
export function isEpochMs(t: number): boolean {
  return Number.isFinite(t) && t <= MAX_EPOCH_MS && t >= -MAX_EPOCH_MS;
}

// ISO-8601 with optional time, fraction and zone. A value without a zone is UTC (DESIGN.md).
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Parses an ISO-8601 string to epoch ms; a string without a zone is UTC. Years 0000–9999 are taken
 * as written (Date.UTC would read 0024 as 1924), zone offsets must be within ±23:59. Returns NaN
 * when it cannot be parsed, so hot loops can test cheaply; use `toEpochMs` for a thrown, named error.
 */
export function parseIsoMs(s: string): EpochMs {
  const m = ISO_RE.exec(s.trim());
  if (!m) return Number.NaN;
  const [, y, mo, d, h = "0", mi = "0", sec = "0", frac = "", zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) return Number.NaN;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day < 1 || day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return Number.NaN;
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000 + 1e-9) : 0;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  let t = date.getTime();
  if (zone && zone !== "Z" && zone !== "z") {
    const digits = zone.slice(1).replace(":", "");
    const offsetHours = Number(digits.slice(0, 2));
    const offsetMinutes = Number(digits.slice(2) || "0");
    if (offsetHours > 23 || offsetMinutes > 59) return Number.NaN;
    t -= (zone[0] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  return isEpochMs(t) ? t : Number.NaN;
}

/**
 * Epoch ms of a timestamp-like value — a valid Date, an ISO-8601 string (see `parseIsoMs`), an
 * epoch-ms number or bigint within ±8.64e15 — or NaN for anything else. The one rule every
 * timestamp Larder accepts goes through (push, entity rows, options, sources).
 */
export function epochMsOf(value: unknown): EpochMs {
  let t = Number.NaN;
  if (value instanceof Date) t = value.getTime();
  else if (typeof value === "number") t = value;
  else if (typeof value === "bigint") t = value >= -8_640_000_000_000_000n && value <= 8_640_000_000_000_000n ? Number(value) : Number.NaN;
  else if (typeof value === "string") t = parseIsoMs(value);
  return isEpochMs(t) ? t : Number.NaN;
}

/** What a timestamp must look like, for error messages. */
export const TIMESTAMP_EXPECTED = "expected ISO-8601 with a year 0000–9999 and an offset within ±23:59, e.g. 2024-01-31T12:00:00Z, or epoch milliseconds within ±8.64e15";

/**
 * Converts a timestamp-like value (Date, ISO string, epoch-ms number, bigint ms) to epoch ms.
 * `what` names the offending column or option in the INVALID_TIMESTAMP error.
 */
export function toEpochMs(value: unknown, what: string): EpochMs {
  const t = epochMsOf(value);
  if (Number.isNaN(t)) {
    throw new LarderError("INVALID_TIMESTAMP", `${what}: cannot parse timestamp ${describeTimestamp(value)} (${TIMESTAMP_EXPECTED})`, { field: what, value: String(value) });
  }
  return t;
}

/** A rejected timestamp value for a message: JSON-quoted and cut to 60 characters. */
export function describeTimestamp(value: unknown): string {
  const s = value instanceof Date ? "Invalid Date" : typeof value === "bigint" ? `${value}` : (JSON.stringify(value) ?? String(value));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** Parses "30d", "12h", "15m", "90s", "500ms", "2w" to milliseconds; NaN if malformed. */
export function parseDurationMs(s: string): number {
  const m = DURATION_RE.exec(s.trim());
  if (!m) return Number.NaN;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

export function formatIso(ms: EpochMs): string {
  return new Date(ms).toISOString();
}

/** `formatIso`, or null for an epoch ms no Date can hold (stored data written before range checks). */
export function formatIsoOrNull(ms: EpochMs): string | null {
  return isEpochMs(ms) ? new Date(ms).toISOString() : null;
}
