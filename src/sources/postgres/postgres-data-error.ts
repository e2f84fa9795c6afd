/**
 * Postgres errors caused by the data a user gave (SQLSTATE class 22 "data exception" and class 23
 * "integrity constraint violation") as 4xx LarderErrors, so a bad value is the caller's error and
 * never a 500. Shared by every place that sends user data to Postgres: offline push
 * (./append-rows.ts) and source reads bounded by user-given times (./postgres-source.ts).
 *
 * Values that do not parse as the column's type (22P02 invalid text representation, 22007/22008
 * datetime, 22003 numeric out of range, 23502 a null in a NOT NULL column) are TYPE_MISMATCH, as
 * before; every other class 22/23 error (a NUL character 22021, a string too long 22001, a unique,
 * foreign-key or check violation 23505/23503/23514…) is INVALID_DATA. Details carry what Postgres
 * reports: its SQLSTATE, and the column, constraint, table and detail when it names them.
 */
import { LarderError } from "../../errors.js";

const TYPE_CODES = new Set(["22P02", "22007", "22008", "22003", "23502", "42804"]);

/** The fields of a pg DatabaseError this module reads. */
interface PgErrorFields {
  code?: unknown;
  message?: unknown;
  column?: unknown;
  constraint?: unknown;
  table?: unknown;
  detail?: unknown;
}

/** True for a SQLSTATE of class 22 or 23 (or 42804, a value of the wrong type for its column). */
export function isPostgresDataError(err: unknown): boolean {
  const code = (err as PgErrorFields | null)?.code;
  return typeof code === "string" && (/^2[23]/.test(code) || code === "42804");
}

/**
 * True for a value that does not convert to its column's type (the TYPE_MISMATCH codes above). A
 * read raises these only for the parameters it sends (range bounds); other data exceptions of a
 * read, such as a division by zero in a query source, are the source's own failure.
 */
export function isPostgresTypeError(err: unknown): boolean {
  const code = (err as PgErrorFields | null)?.code;
  return typeof code === "string" && TYPE_CODES.has(code);
}

/**
 * The LarderError for a Postgres data error (see the module comment), prefixed with `where`; null
 * when `err` is not one. `extra` adds details (e.g. the 1-based row a caller found).
 */
export function postgresDataError(err: unknown, where: string, extra: Record<string, unknown> = {}): LarderError | null {
  if (!isPostgresDataError(err)) return null;
  const e = err as PgErrorFields;
  const code = e.code as string;
  const details: Record<string, unknown> = { sqlstate: code, ...extra };
  for (const k of ["column", "constraint", "table", "detail"] as const) if (typeof e[k] === "string" && e[k] !== "") details[k] = e[k];
  const named = [
    typeof details.column === "string" ? `column ${JSON.stringify(details.column)}` : null,
    typeof extra.row === "number" ? `row ${extra.row}` : null,
    typeof details.constraint === "string" ? `constraint ${JSON.stringify(details.constraint)}` : null,
  ].filter((x) => x !== null);
  const message = `${where}${named.length > 0 ? ` (${named.join(", ")})` : ""}: ${String(e.message ?? err)}${typeof details.detail === "string" ? ` — ${details.detail}` : ""} [SQLSTATE ${code}]`;
  return new LarderError(TYPE_CODES.has(code) ? "TYPE_MISMATCH" : "INVALID_DATA", message, details, { cause: err });
}
