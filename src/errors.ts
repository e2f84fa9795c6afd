/**
 * The one catalogue of Larder's error codes. Every failure a user can cause or meet carries one of
 * these codes; the CLI prints `error [CODE]: message` and the HTTP server maps the code to a status
 * through `httpStatusFor`. Codes are part of the contract: never rename one, only add.
 */
export const ERROR_CATALOGUE = {
  INVALID_ARGUMENT: { status: 400, summary: "a command-line option or request field is invalid" },
  INVALID_CONFIG: { status: 400, summary: "larder.config.ts is missing or invalid" },
  INVALID_DEFINITION: { status: 400, summary: "a feature definition is invalid" },
  NOT_APPLIED: { status: 409, summary: "the definitions were not applied, or changed since the last apply" },
  UNKNOWN_FEATURE: { status: 404, summary: "a feature reference names no known feature" },
  UNKNOWN_FEATURE_VIEW: { status: 404, summary: "no feature view of that name" },
  UNKNOWN_FEATURE_SERVICE: { status: 404, summary: "no feature service of that name" },
  DUPLICATE_FEATURE_NAME: { status: 400, summary: "two requested features have the same output name" },
  MISSING_JOIN_KEY: { status: 400, summary: "an entity row lacks a join key column" },
  INVALID_ENTITIES: { status: 400, summary: "the entity rows are malformed" },
  TYPE_MISMATCH: { status: 400, summary: "a value does not have the declared type" },
  VALUE_OUT_OF_RANGE: { status: 400, summary: "an int64 value is beyond ±2^53 and cannot be a JavaScript number" },
  INVALID_TIMESTAMP: { status: 400, summary: "a timestamp could not be parsed" },
  INVALID_DATA: { status: 400, summary: "Postgres refused a value as data (SQLSTATE class 22 or 23: bad characters, too long, out of range, a constraint)" },
  SOURCE_NOT_FOUND: { status: 404, summary: "a source file or table does not exist" },
  SOURCE_READ_ERROR: { status: 502, summary: "a source could not be read" },
  CORRUPT_PARQUET: { status: 422, summary: "a Parquet file is corrupt or not Parquet" },
  TRANSFORM_ERROR: { status: 422, summary: "a user transform threw or returned a bad row" },
  UNKNOWN_DEFINITION: { status: 404, summary: "no entity, source, view, service or model of that name" },
  UNKNOWN_COLUMN: { status: 400, summary: "a transform reads, or a source schema declares, a column the source does not have" },
  POSTGRES_UNAVAILABLE: { status: 503, summary: "Postgres could not be reached" },
  REGISTRY_UNAVAILABLE: { status: 503, summary: "the registry could not be opened" },
  ONLINE_STORE_UNAVAILABLE: { status: 503, summary: "the online store (Redis) could not be reached" },
  REGISTRY_LOCKED: { status: 409, summary: "another process holds the registry lock too long" },
  UNKNOWN_RUN: { status: 404, summary: "no pipeline run with that id" },
  UNKNOWN_MODEL: { status: 404, summary: "no model of that name, or no version of it with that number or stage" },
  INVALID_MODEL: { status: 400, summary: "a model file is malformed or does not fit its feature service" },
  MISSING_FEATURE: { status: 422, summary: 'a model input is missing and the model\'s missing-value policy is "error"' },
  UNAUTHENTICATED: { status: 401, summary: "the request carries no API key, or an unknown one" },
  FORBIDDEN: { status: 403, summary: "the API key lacks the scope the route needs" },
  ROUTE_NOT_FOUND: { status: 404, summary: "no HTTP route with that method and path" },
  INVALID_JSON: { status: 400, summary: "the request body is not valid JSON" },
  PAYLOAD_TOO_LARGE: { status: 413, summary: "the request body is larger than the server's body limit" },
  ENTITY_ROWS_LIMIT: { status: 413, summary: "the request has more entity rows than the server's limit (server.maxEntityRows)" },
  OFFLINE_STORE_ERROR: { status: 500, summary: "the offline store could not be read or written" },
  UNKNOWN_PUSH_SOURCE: { status: 404, summary: "no push source of that name" },
  PUSH_OFFLINE_UNSUPPORTED: { status: 400, summary: "the push source's batch source cannot take offline pushes (single Parquet file, CSV or query)" },
  IDEMPOTENCY_KEY_REUSED: { status: 422, summary: "an Idempotency-Key was used before with a different request body" },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, summary: "a request with the same Idempotency-Key is still in progress; retry later" },
  WRITE_CONFLICT: { status: 503, summary: "an online write kept conflicting with concurrent writers; retry" },
  INTERNAL: { status: 500, summary: "an unexpected internal error" },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error with a stable code from the catalogue, and optional structured details. */
export class LarderError extends Error {
  override readonly name = "LarderError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function httpStatusFor(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

/**
 * True for LarderErrors, also ones made by another copy of this module: user feature files are
 * loaded by a module loader that may instantiate Larder's modules a second time, so `instanceof` alone
 * would miss their errors.
 */
export function isLarderError(err: unknown): err is LarderError {
  if (err instanceof LarderError) return true;
  const e = err as { name?: unknown; code?: unknown } | null;
  return typeof e === "object" && e !== null && e.name === "LarderError" && typeof e.code === "string" && e.code in ERROR_CATALOGUE;
}

/** Wraps anything thrown into a LarderError, keeping LarderErrors as they are. */
export function toLarderError(err: unknown, fallback: ErrorCode = "INTERNAL"): LarderError {
  if (isLarderError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new LarderError(fallback, message, {}, { cause: err });
}
