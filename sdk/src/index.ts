/**
 * The Larder client: online feature vectors, predictions, pushes, training sets and health checks
 * over the HTTP API of `larder serve`. It needs only `fetch` (Node ≥ 20, browsers, Deno, Bun) and
 * apache-arrow (training sets arrive as an Arrow IPC stream).
 *
 * Failure handling, in one place:
 * - Every call has a timeout (`timeoutMs`, per attempt, default 10 s) through AbortSignal.timeout.
 * - Idempotent calls (online reads, predictions, training sets, health) are retried with
 *   exponential backoff and jitter on network errors and on 503 (the server says its online store
 *   or registry is unavailable; it recovers by itself), at most `retries` times (default 2). `push`
 *   is retried only with an `idempotencyKey` (the server then applies it once): without one a push
 *   whose answer was lost may have been applied, and pushing again would count its rows twice.
 *   Timeouts are not retried either: a slow server is not helped by
 *   more load, and the caller's latency budget is already spent.
 * - Every failure is a LarderClientError with the server's stable error `code`, the HTTP `status`,
 *   and the `path` of the offending request field when the server names one.
 *
 * @example
 * const client = new LarderClient({ url: "http://127.0.0.1:6566", apiKey: process.env.LARDER_API_KEY });
 * const res = await client.getOnlineFeatures({ featureService: "churn_v1", entities: { customer_id: [1, 2], cart_value: [20, 35] } });
 * res.toRows();   // [{ customer_id: 1, plan: "pro", …, cart_vs_avg: 0.8 }, …]
 */
import { DataType, RecordBatchReader, Table, type RecordBatch } from "apache-arrow";

export const SDK_VERSION = "0.1.0";

// ───────────────────────────── types ─────────────────────────────

/** Feast's per-value statuses. */
export type FieldStatus = "PRESENT" | "NULL_VALUE" | "NOT_FOUND" | "OUTSIDE_MAX_AGE";

/** A feature value as JSON carries it; timestamps are ISO-8601 strings. */
export type FeatureValue = number | string | boolean | null;

/** Columnar entity rows: join keys and request-source fields, one array per name (Feast's shape). */
export type EntityColumns = Record<string, readonly unknown[]>;

/** The body of `/get-online-features`, as Feast returns it. */
export interface OnlineFeaturesResponse {
  metadata: {
    /** Join keys first, then the features (`feature`, or `view__feature` with full feature names). */
    feature_names: string[];
    /**
     * Larder's extension: when the values were written to the online store (materialization or
     * push), per feature view and entity row, ISO-8601; null where the view has no row.
     */
    as_of?: Record<string, (string | null)[]>;
  };
  results: { values: FeatureValue[]; statuses: FieldStatus[]; event_timestamps: string[] }[];
}

/** What to read: feature references (`view:feature`) or a feature service, not both. */
export type FeatureSelection = { features: readonly string[]; featureService?: undefined } | { featureService: string; features?: undefined };

export type GetOnlineFeaturesRequest = FeatureSelection & {
  entities: EntityColumns;
  /** Output names `view__feature` instead of `feature` (default false). */
  fullFeatureNames?: boolean;
};

export type TrainingSetOptions = FeatureSelection & { fullFeatureNames?: boolean };

/** What a push did, per feature view the push source feeds. */
export interface PushResponse {
  pushSource: string;
  rows: number;
  views: { view: string; written: number; stale: number; expired?: number }[];
}

/** `GET /health` when the server and its online store answer. */
export interface HealthResponse {
  status: string;
  project?: string;
  [key: string]: unknown;
}

/** A model's output for one row: a probability or value, per-class values, or null. */
export type PredictionValue = number | number[] | null;

/** What `predict` sends (`POST /v1/predict/:model`). */
export interface PredictRequest {
  /** Join key columns, one value per entity row (Feast style). */
  entities: EntityColumns;
  /** Request-source fields the service's on-demand features need: a column, or one value for every row. */
  request?: Record<string, unknown>;
  /** A model version; default the production version. Not together with `stage`. */
  version?: number;
  /** "production" (default) or "staging". */
  stage?: "production" | "staging";
  /** Also return each feature's share of the margin, and the bias (default false). */
  contributions?: boolean;
  /** Sent as `x-request-id` (up to 128 printable characters); the server makes a UUID otherwise. */
  requestId?: string;
}

/** One entity row's prediction. */
export interface PredictionResult {
  /** A probability (logistic, binary xgboost), a value (linear, regression), per-class probabilities, or null (missing inputs under the model's "null" policy). */
  prediction: PredictionValue;
  /** The score before the link function (log-odds for logistic models). */
  margin: PredictionValue;
  /** The value of each model input, as the online read returned it. */
  features: Record<string, FeatureValue>;
  /** With `contributions: true`: each feature's share of the margin; bias + Σ contributions = margin. */
  contributions?: Record<string, number> | Record<string, number[]> | null;
  bias?: PredictionValue;
  /** The inputs that were missing when the "null" policy made the prediction null. */
  missing?: string[];
}

/** The body of `POST /v1/predict/:model`. */
export interface PredictResponse {
  /** The `x-request-id` sent, or the server's UUID; also in the server's prediction log. */
  request_id: string;
  model: string;
  /** The model version that answered. */
  version: number;
  /** The stage the version was chosen by; null when a version was asked for. */
  stage: "production" | "staging" | null;
  /** The feature service the features came from. */
  service: string;
  /** The model's input features, in the model's order. */
  feature_names: string[];
  /** One per entity row, in order. */
  results: PredictionResult[];
}

/** Feast's `to`: the online store, the offline store, or both. */
export type PushTarget = "online" | "offline" | "online_and_offline";

export interface LarderClientOptions {
  /** Base URL of `larder serve`, e.g. `http://127.0.0.1:6566`. */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Per attempt, in ms (default 10,000). */
  timeoutMs?: number;
  /** Retries of idempotent calls on network errors and 503 (default 2; 0 disables). */
  retries?: number;
  /** First backoff delay in ms, doubled per retry with full jitter, capped at 2 s (default 100). */
  retryDelayMs?: number;
  /** A fetch implementation (default the global one). */
  fetch?: typeof fetch;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

/** Codes the client itself raises when there is no usable server answer. */
export type ClientErrorCode = "TIMEOUT" | "NETWORK_ERROR" | "ABORTED" | "INVALID_RESPONSE";

// ───────────────────────────── errors ─────────────────────────────

/**
 * Any failed call. `code` is the server's stable error code (UNKNOWN_FEATURE, MISSING_JOIN_KEY,
 * UNAUTHORIZED, ONLINE_STORE_UNAVAILABLE, …; see the server's error catalogue) or one of the
 * client's own: TIMEOUT, NETWORK_ERROR, ABORTED, INVALID_RESPONSE (then `status` is undefined unless
 * a response arrived). `path` names the offending request field when the server gives one.
 */
export class LarderClientError extends Error {
  override readonly name = "LarderClientError";
  constructor(
    readonly code: string,
    message: string,
    readonly status: number | undefined,
    readonly path: string | undefined,
    /** Attempts made (more than 1 when the call was retried). */
    readonly attempts: number = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True for LarderClientErrors (also from another copy of this module). */
export function isLarderClientError(err: unknown): err is LarderClientError {
  return err instanceof LarderClientError || (typeof err === "object" && err !== null && (err as { name?: unknown }).name === "LarderClientError");
}

// ───────────────────────────── online features ─────────────────────────────

/**
 * The Feast response (`metadata`, `results`, unchanged: it serialises back to the server's JSON)
 * plus row-wise views of it.
 */
export class OnlineFeatures implements OnlineFeaturesResponse {
  readonly metadata: OnlineFeaturesResponse["metadata"];
  readonly results: OnlineFeaturesResponse["results"];

  constructor(body: OnlineFeaturesResponse) {
    this.metadata = body.metadata;
    this.results = body.results;
  }

  /** Feature names, join keys first (the response's column order). */
  get featureNames(): string[] {
    return this.metadata.feature_names;
  }

  /** Entity rows in the response. */
  get rowCount(): number {
    return this.results[0]?.values.length ?? 0;
  }

  /**
   * One object per entity row, `{ name: value }` in the response's column order.
   * @example
   * for (const row of res.toRows()) model.predict([row.monthly_fee, row.spend_7d]);
   */
  toRows(): Record<string, FeatureValue>[] {
    const names = this.metadata.feature_names;
    const rows: Record<string, FeatureValue>[] = [];
    for (let i = 0; i < this.rowCount; i++) {
      const row: Record<string, FeatureValue> = {};
      for (let k = 0; k < names.length; k++) row[names[k]!] = this.results[k]!.values[i] ?? null;
      rows.push(row);
    }
    return rows;
  }

  /** Per entity row, each feature's status (PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE). */
  toStatusRows(): Record<string, FieldStatus>[] {
    const names = this.metadata.feature_names;
    const rows: Record<string, FieldStatus>[] = [];
    for (let i = 0; i < this.rowCount; i++) {
      const row: Record<string, FieldStatus> = {};
      for (let k = 0; k < names.length; k++) row[names[k]!] = this.results[k]!.statuses[i]!;
      rows.push(row);
    }
    return rows;
  }

  /** One feature's values across entity rows; LarderClientError INVALID_ARGUMENT for an unknown name. */
  column(name: string): FeatureValue[] {
    const k = this.metadata.feature_names.indexOf(name);
    if (k === -1) throw new LarderClientError("INVALID_ARGUMENT", `no feature ${JSON.stringify(name)} in the response (has: ${this.metadata.feature_names.join(", ")})`, undefined, undefined);
    return this.results[k]!.values;
  }

  /** The plain Feast body (what `JSON.stringify` writes). */
  toJSON(): OnlineFeaturesResponse {
    return { metadata: this.metadata, results: this.results };
  }
}

// ───────────────────────────── client ─────────────────────────────

interface CallOptions {
  method: "GET" | "POST";
  path: string;
  body?: string;
  contentType?: string;
  accept?: string;
  /** Idempotent calls are retried on network errors and 503. */
  idempotent: boolean;
  /** Headers of this call only. */
  headers?: Record<string, string>;
}

const MAX_BACKOFF_MS = 2000;

/**
 * An HTTP client of one Larder server. Stateless apart from its options: share one instance.
 *
 * @example
 * const client = new LarderClient({ url: "http://127.0.0.1:6566", timeoutMs: 500, retries: 3 });
 * const table = await client.getTrainingSet({ customer_id: [1, 2], event_timestamp: [new Date(), new Date()] }, { featureService: "churn_v1" });
 */
export class LarderClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(options: LarderClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new LarderClientError("INVALID_ARGUMENT", `url is not a valid URL: ${JSON.stringify(options.url)}`, undefined, "url");
    }
    this.baseUrl = url.href.replace(/\/+$/, "");
    this.timeoutMs = positive(options.timeoutMs ?? 10_000, "timeoutMs");
    this.retries = Math.floor(nonNegative(options.retries ?? 2, "retries"));
    this.retryDelayMs = nonNegative(options.retryDelayMs ?? 100, "retryDelayMs");
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new LarderClientError("INVALID_ARGUMENT", "no fetch implementation: pass options.fetch", undefined, "fetch");
    this.fetchImpl = f;
    this.headers = { "user-agent": `larder-sdk/${SDK_VERSION}`, ...(options.headers ?? {}) };
    if (options.apiKey !== undefined && options.apiKey !== "") this.headers.authorization = `Bearer ${options.apiKey}`;
  }

  /**
   * Feature vectors of entity rows (`POST /get-online-features`), with a status per value.
   * Retried on network errors and 503.
   * @example
   * const res = await client.getOnlineFeatures({ features: ["customer_profile:plan"], entities: { customer_id: [1, 2] } });
   * res.toRows(); // [{ customer_id: 1, plan: "pro" }, { customer_id: 2, plan: null }]
   */
  async getOnlineFeatures(request: GetOnlineFeaturesRequest): Promise<OnlineFeatures> {
    const body: Record<string, unknown> = { ...selectionBody(request), entities: request.entities };
    if (request.fullFeatureNames !== undefined) body.full_feature_names = request.fullFeatureNames;
    const res = await this.call({ method: "POST", path: "/get-online-features", body: JSON.stringify(body, jsonReplacer), contentType: "application/json", idempotent: true });
    const json = await readJson(res);
    if (!isOnlineFeaturesResponse(json)) throw new LarderClientError("INVALID_RESPONSE", "the server's /get-online-features answer is not a Feast response", res.status, undefined);
    return new OnlineFeatures(json);
  }

  /**
   * Pushes rows, columnar in the push source's batch-source shape (`POST /push`); the server runs
   * each fed view's row transform and updates the online store, the offline store, or both
   * (`to`, default "online"). Without `idempotencyKey` never retried (see the module comment): on
   * a NETWORK_ERROR or TIMEOUT the push may or may not have been applied. With one (sent as the
   * `Idempotency-Key` header) the server applies the push once whatever the number of attempts
   * within its retention (default 24 h), so the client retries it like a read, and so may you with
   * the same key: a retry after a partial failure writes only what is missing, and one after
   * success answers as the first did. Use a new key for each new push (a key reused with another
   * body is refused: IDEMPOTENCY_KEY_REUSED, 422; IDEMPOTENCY_KEY_IN_USE, 409, while an attempt
   * with the key is still running).
   * @example
   * await client.push("transactions_push", { customer_id: [7], ts: [new Date()], amount_cents: [1250], merchant: ["acme"] });
   * await client.push("transactions_push", df, { to: "online_and_offline", idempotencyKey: crypto.randomUUID() });
   */
  async push(pushSourceName: string, df: EntityColumns, options: { to?: PushTarget; idempotencyKey?: string } = {}): Promise<PushResponse> {
    const body = { push_source_name: pushSourceName, df, to: options.to ?? "online" };
    const key = options.idempotencyKey;
    const res = await this.call({
      method: "POST",
      path: "/push",
      body: JSON.stringify(body, jsonReplacer),
      contentType: "application/json",
      idempotent: key !== undefined,
      ...(key !== undefined ? { headers: { "idempotency-key": key } } : {}),
    });
    return (await readJson(res)) as PushResponse;
  }

  /**
   * Predictions of an embedded model on the online features of entity rows
   * (`POST /v1/predict/:model`): per row the prediction, the margin, the feature values used and,
   * with `contributions`, each feature's share of the margin. A read: retried on network errors
   * and 503. An unknown model, version or empty stage is UNKNOWN_MODEL (404).
   * @example
   * const res = await client.predict("churn", { entities: { customer_id: [1, 2] }, request: { cart_value: [20, 35] } });
   * res.results.map((r) => r.prediction); // [0.27, 0.64]
   */
  async predict(model: string, request: PredictRequest): Promise<PredictResponse> {
    if (typeof model !== "string" || model === "") throw new LarderClientError("INVALID_ARGUMENT", "model must be a non-empty model name", undefined, "model");
    const body: Record<string, unknown> = { entities: request.entities };
    if (request.request !== undefined) body.request = request.request;
    if (request.version !== undefined) body.version = request.version;
    if (request.stage !== undefined) body.stage = request.stage;
    if (request.contributions !== undefined) body.contributions = request.contributions;
    const headers = request.requestId === undefined ? undefined : { "x-request-id": request.requestId };
    const res = await this.call({
      method: "POST",
      path: `/v1/predict/${encodeURIComponent(model)}`,
      body: JSON.stringify(body, jsonReplacer),
      contentType: "application/json",
      idempotent: true,
      ...(headers ? { headers } : {}),
    });
    const json = await readJson(res);
    if (!isPredictResponse(json)) throw new LarderClientError("INVALID_RESPONSE", "the server's /v1/predict answer has no results", res.status, undefined);
    return json;
  }

  /**
   * A point-in-time-correct training set (`POST /v1/training-sets`) as an Arrow Table: entity rows
   * (join keys, `event_timestamp`, any other columns pass through) with their features. Entities are
   * columns (`event_timestamp` as Dates, ISO-8601 strings or epoch ms) or an Arrow Table (sent as
   * the same JSON columns: timestamps as ISO-8601, int64 as numbers). Retried on network errors and 503.
   * @example
   * const t = await client.getTrainingSet({ customer_id: [1, 2], event_timestamp: ["2024-06-01T00:00:00Z", "2024-06-02T00:00:00Z"] }, { featureService: "churn_v1" });
   * t.getChild("spend_7d")?.toArray();
   */
  async getTrainingSet(entities: EntityColumns | Table, options: TrainingSetOptions): Promise<Table> {
    const batches: RecordBatch[] = [];
    for await (const batch of this.getTrainingSetBatches(entities, options)) batches.push(batch);
    return new Table(batches);
  }

  /**
   * The same training set as `getTrainingSet`, as record batches while they arrive (bounded
   * memory for large sets). Only the request is retried, never a stream that already started.
   */
  async *getTrainingSetBatches(entities: EntityColumns | Table, options: TrainingSetOptions): AsyncGenerator<RecordBatch> {
    const selection = selectionBody(options);
    const fullFeatureNames = options.fullFeatureNames === undefined ? {} : { full_feature_names: options.fullFeatureNames };
    const columns = entities instanceof Table ? tableColumns(entities) : entities;
    const body = JSON.stringify({ ...selection, ...fullFeatureNames, entities: columns }, jsonReplacer);
    const call: CallOptions = { method: "POST", path: "/v1/training-sets", body, contentType: "application/json", accept: ARROW_STREAM, idempotent: true };
    const res = await this.call(call);
    if (res.body === null) throw new LarderClientError("INVALID_RESPONSE", "the training set response has no body", res.status, undefined);
    let reader: RecordBatchReader;
    try {
      reader = await RecordBatchReader.from(res.body as unknown as AsyncIterable<Uint8Array>);
      await reader.open();
    } catch (err) {
      throw this.streamError(err, res.status);
    }
    try {
      for await (const batch of reader) yield batch;
    } catch (err) {
      throw this.streamError(err, res.status);
    }
  }

  /**
   * `GET /health`: `{ status: "ok", project }` when the server and its online store answer; a 503
   * (ONLINE_STORE_UNAVAILABLE) otherwise. Needs no API key. Retried on network errors and 503.
   */
  async health(): Promise<HealthResponse> {
    const res = await this.call({ method: "GET", path: "/health", idempotent: true });
    const json = await readJson(res);
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new LarderClientError("INVALID_RESPONSE", "the /health answer is not a JSON object", res.status, undefined);
    return json as HealthResponse;
  }

  /** One request with timeout, error mapping and (for idempotent calls) retries. Returns a 2xx response. */
  private async call(opts: CallOptions): Promise<Response> {
    const maxAttempts = opts.idempotent ? this.retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        const headers: Record<string, string> = { ...this.headers, ...opts.headers, accept: opts.accept ?? "application/json" };
        if (opts.contentType) headers["content-type"] = opts.contentType;
        res = await this.fetchImpl(this.baseUrl + opts.path, {
          method: opts.method,
          headers,
          ...(opts.body === undefined ? {} : { body: opts.body }),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        const e = this.fetchError(err, opts, attempt);
        if (e.code === "NETWORK_ERROR" && attempt < maxAttempts) {
          await sleep(this.backoff(attempt, undefined));
          continue;
        }
        throw e;
      }
      if (res.ok) return res;
      const e = await errorFromResponse(res, opts, attempt);
      if (res.status === 503 && attempt < maxAttempts) {
        await sleep(this.backoff(attempt, res.headers.get("retry-after")));
        continue;
      }
      throw e;
    }
  }

  /** Full-jitter exponential backoff; a Retry-After (seconds) is honoured up to the cap. */
  private backoff(attempt: number, retryAfter: string | null | undefined): number {
    const seconds = retryAfter == null ? Number.NaN : Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, MAX_BACKOFF_MS);
    const ceiling = Math.min(this.retryDelayMs * 2 ** (attempt - 1), MAX_BACKOFF_MS);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private fetchError(err: unknown, opts: CallOptions, attempt: number): LarderClientError {
    const name = (err as { name?: unknown } | null)?.name;
    const what = `${opts.method} ${this.baseUrl}${opts.path.split("?")[0]}`;
    if (name === "TimeoutError") {
      return new LarderClientError("TIMEOUT", `${what} timed out after ${this.timeoutMs} ms`, undefined, undefined, attempt, { cause: err });
    }
    if (name === "AbortError") return new LarderClientError("ABORTED", `${what} was aborted`, undefined, undefined, attempt, { cause: err });
    const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    const detail = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
    const tries = attempt > 1 ? ` (after ${attempt} attempts)` : "";
    return new LarderClientError("NETWORK_ERROR", `${what} failed: ${String(detail)}${tries}`, undefined, undefined, attempt, { cause: err });
  }

  private streamError(err: unknown, status: number): LarderClientError {
    if (isLarderClientError(err)) return err;
    const name = (err as { name?: unknown } | null)?.name;
    if (name === "TimeoutError") return new LarderClientError("TIMEOUT", `the training set stream timed out after ${this.timeoutMs} ms`, status, undefined, 1, { cause: err });
    const message = err instanceof Error ? err.message : String(err);
    return new LarderClientError("INVALID_RESPONSE", `the training set is not a readable Arrow IPC stream: ${message}`, status, undefined, 1, { cause: err });
  }
}

const ARROW_STREAM = "application/vnd.apache.arrow.stream";

/** An Arrow table's rows as JSON-ready columns: timestamps and dates as Dates, int64 as numbers. */
function tableColumns(table: Table): EntityColumns {
  const out: Record<string, unknown[]> = {};
  for (const field of table.schema.fields) {
    const vec = table.getChild(field.name)!;
    const temporal = DataType.isTimestamp(field.type) || DataType.isDate(field.type);
    const values = new Array<unknown>(table.numRows);
    for (let i = 0; i < table.numRows; i++) {
      const v: unknown = vec.get(i);
      values[i] = v === null || v === undefined ? null : temporal && !(v instanceof Date) ? new Date(Number(v)) : v;
    }
    out[field.name] = values;
  }
  return out;
}

// ───────────────────────────── helpers ─────────────────────────────

function selectionBody(s: { features?: readonly string[] | undefined; featureService?: string | undefined }): { features?: readonly string[]; feature_service?: string } {
  if (s.features !== undefined && s.featureService !== undefined) {
    throw new LarderClientError("INVALID_ARGUMENT", "give either features or featureService, not both", undefined, "features");
  }
  if (s.featureService !== undefined) return { feature_service: s.featureService };
  if (s.features !== undefined) return { features: s.features };
  throw new LarderClientError("INVALID_ARGUMENT", 'give features ("view:feature", …) or featureService', undefined, "features");
}

/** Dates as ISO-8601, bigints as numbers when exact (else strings: the server rejects them by path). */
function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Date) return Number.isNaN(raw.getTime()) ? null : raw.toISOString();
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  return value;
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new LarderClientError("INVALID_RESPONSE", `expected JSON from the server, got ${JSON.stringify(text.slice(0, 200))}`, res.status, undefined);
  }
}

/** The server's `{"error": {"code", "message", "path"}}`, or a generic error for other bodies. */
async function errorFromResponse(res: Response, opts: CallOptions, attempt: number): Promise<LarderClientError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // the body is lost; the status still says what happened
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown; path?: unknown } } | undefined)?.error;
  const path = opts.path.split("?")[0];
  if (error && typeof error.code === "string") {
    const message = typeof error.message === "string" ? error.message : `${opts.method} ${path}: ${error.code}`;
    return new LarderClientError(error.code, message, res.status, fieldPath(error.path), attempt);
  }
  const snippet = text.trim().slice(0, 200);
  return new LarderClientError(`HTTP_${res.status}`, `${opts.method} ${path} answered ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ""}`, res.status, undefined, attempt);
}

/** A field path as a dotted string (servers may send "a.b[0]" or ["a", "b", 0]). */
function fieldPath(path: unknown): string | undefined {
  if (typeof path === "string") return path === "" ? undefined : path;
  if (Array.isArray(path)) return path.length === 0 ? undefined : path.map(String).join(".");
  return undefined;
}

function isOnlineFeaturesResponse(v: unknown): v is OnlineFeaturesResponse {
  const r = v as OnlineFeaturesResponse | null;
  return typeof r === "object" && r !== null && Array.isArray(r.metadata?.feature_names) && Array.isArray(r.results) && r.results.every((x) => Array.isArray(x?.values) && Array.isArray(x.statuses));
}

function isPredictResponse(v: unknown): v is PredictResponse {
  const r = v as PredictResponse | null;
  return typeof r === "object" && r !== null && typeof r.model === "string" && typeof r.version === "number" && Array.isArray(r.results) && r.results.every((x) => typeof x === "object" && x !== null && "prediction" in x);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function positive(v: number, name: string): number {
  if (!(typeof v === "number" && v > 0 && Number.isFinite(v))) throw new LarderClientError("INVALID_ARGUMENT", `${name} must be a positive number, got ${String(v)}`, undefined, name);
  return v;
}

function nonNegative(v: number, name: string): number {
  if (!(typeof v === "number" && v >= 0 && Number.isFinite(v))) throw new LarderClientError("INVALID_ARGUMENT", `${name} must be a number ≥ 0, got ${String(v)}`, undefined, name);
  return v;
}
