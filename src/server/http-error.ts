import type { z } from "zod";
import { httpStatusFor, isLarderError, LarderError, type ErrorCode } from "../errors.js";

/**
 * The body of every error response: `{"error": {"code", "message", "path"}}`. `code` is from
 * src/errors.ts's catalogue (the HTTP status follows from it), `path` names the offending request
 * field (`entities.customer_id`, `features[1]`) or is null when the error is not about one.
 */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; path: string | null };
}

/** A LarderError that carries the request field it is about (in `details.requestPath`). */
export function requestError(code: ErrorCode, message: string, path: string | null): LarderError {
  return new LarderError(code, message, { requestPath: path });
}

/** `["entities", "customer_id", 2]` → `entities.customer_id[2]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** The first zod issue as a 400 INVALID_ARGUMENT naming the field (`body` or `params` side). */
export function zodRequestError(error: z.ZodError, where: "body" | "params"): LarderError {
  const issue = error.issues[0];
  const path = issue ? formatPath(issue.path) : "";
  const what = path === "" ? (where === "body" ? "request body" : "path parameters") : path;
  return requestError("INVALID_ARGUMENT", `${what}: ${issue?.message ?? "invalid"}`, path);
}

/** A fastify error (body parsing, limits) as a LarderError with the right code. */
function fromFastifyError(err: { code?: unknown; statusCode?: unknown; message: string }, bodyLimit: number): LarderError | null {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return requestError("PAYLOAD_TOO_LARGE", `request body is larger than the server's limit of ${bodyLimit} bytes`, null);
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return requestError("INVALID_ARGUMENT", "request body length does not match its Content-Length", null);
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return requestError("INVALID_JSON", "request body is empty (expected a JSON object)", "");
    default:
      break;
  }
  if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
    return requestError("INVALID_ARGUMENT", err.message, null);
  }
  return null;
}

/**
 * What the server answers for anything thrown: LarderErrors keep their code (and status through
 * `httpStatusFor`); fastify's body errors become INVALID_JSON / PAYLOAD_TOO_LARGE; anything else
 * is a 500 INTERNAL whose message does not leak internals.
 */
export function errorResponse(err: unknown, opts: { bodyLimit: number; path?: string | null }): { status: number; body: ErrorBody; internal: boolean } {
  let e: LarderError | null = null;
  if (isLarderError(err)) e = err;
  else if (typeof err === "object" && err !== null && "message" in err) e = fromFastifyError(err as { code?: unknown; statusCode?: unknown; message: string }, opts.bodyLimit);
  if (e === null) {
    return { status: 500, body: { error: { code: "INTERNAL", message: "internal error (see the server log)", path: null } }, internal: true };
  }
  const detailPath = typeof e.details.requestPath === "string" ? e.details.requestPath : null;
  const path = detailPath ?? opts.path ?? null;
  return { status: httpStatusFor(e.code), body: { error: { code: e.code, message: e.message, path } }, internal: e.code === "INTERNAL" };
}
