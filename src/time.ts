import { LarderError } from "./errors.js";

/** Epoch milliseconds, UTC. All instants inside Larder are numbers of this kind. */
export type EpochMs = number;

// ISO-8601 with optional time, fraction and zone. A value without a zone is UTC (DESIGN.md).
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses an ISO-8601 string to epoch ms; a string without a zone is UTC. Returns NaN when it cannot
 * be parsed, so hot loops can test cheaply; use `toEpochMs` for a thrown, named error.
 */
export function parseIsoMs(s: string): EpochMs {
  const m = ISO_RE.exec(s.trim());
  if (!m) return Number.NaN;
  const [, y, mo, d, h = "0", mi = "0", sec = "0", frac = "", zone] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return Number.NaN;
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000 + 1e-9) : 0;
  let t = Date.UTC(Number(y), month - 1, day, hour, minute, second, ms);
  // Date.UTC rolls 31 February into March; reject such dates.
  if (new Date(t).getUTCDate() !== day) return Number.NaN;
  if (zone && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0");
    t -= sign * offset * 60_000;
  }
  return t;
}

/**
 * Converts a timestamp-like value (Date, ISO string, epoch-ms number, bigint ms) to epoch ms.
 * `what` names the offending column or option in the INVALID_TIMESTAMP error.
 */
export function toEpochMs(value: unknown, what: string): EpochMs {
  let t = Number.NaN;
  if (value instanceof Date) t = value.getTime();
  else if (typeof value === "number") t = value;
  else if (typeof value === "bigint") t = Number(value);
  else if (typeof value === "string") t = parseIsoMs(value);
  if (!Number.isFinite(t)) {
    throw new LarderError("INVALID_TIMESTAMP", `${what}: cannot parse timestamp ${JSON.stringify(String(value))} (expected ISO-8601, e.g. 2024-01-31T12:00:00Z)`, { field: what, value: String(value) });
  }
  return t;
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
