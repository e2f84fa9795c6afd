import { LarderError } from "../../errors.js";

/**
 * `postgres://host:port/db` for messages: never the user name or password. Throws
 * POSTGRES_UNAVAILABLE for a URL that cannot be parsed (without echoing it: it may hold a password).
 */
export function describePostgresUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new LarderError("POSTGRES_UNAVAILABLE", "cannot reach the registry at <unparseable URL>: the registry URL is not a valid URL (expected postgres://user:password@host:port/database)");
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new LarderError("POSTGRES_UNAVAILABLE", `cannot reach the registry at <${u.protocol}// URL>: expected a postgres:// or postgresql:// URL`);
  }
  // A Unix-socket URL names its directory in ?host=.
  const host = u.hostname || u.searchParams.get("host") || "localhost";
  const port = u.port || u.searchParams.get("port") || "5432";
  const db = decodeURIComponent(u.pathname.replace(/^\//, ""));
  return `postgres://${host}:${port}/${db}`;
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "ENOENT"]);

/**
 * True for failures to reach or log in to Postgres, as opposed to errors in a query: network errors,
 * SQLSTATE classes 08 (connection), 28 (authorization), 3D000 (no such database), 57P0x (shutdown),
 * 53300 (too many connections), and pg's own connection messages.
 */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string") {
    if (NETWORK_CODES.has(code)) return true;
    if (/^(08|28)/.test(code) || code === "3D000" || /^57P0/.test(code) || code === "53300") return true;
  }
  const message = err instanceof Error ? err.message : "";
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONN|Client has encountered a connection error/i.test(message);
}

/** The reason in one line; Node's AggregateError (several addresses tried) has an empty message. */
export function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && !err.message) {
    const inner = err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).filter(Boolean);
    if (inner.length > 0) return [...new Set(inner)].join("; ");
  }
  if (err instanceof Error) return err.message || (err as { code?: string }).code || err.name;
  return String(err);
}

export function postgresUnavailable(where: string, err: unknown): LarderError {
  return new LarderError("POSTGRES_UNAVAILABLE", `cannot reach the registry at ${where}: ${reasonOf(err)}`, { registry: where }, { cause: err });
}
