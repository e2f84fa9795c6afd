/**
 * Checks for the external services tests use. A test file skips its service-backed tests when a
 * service is down, unless LARDER_REQUIRE_SERVICES=1 (CI), where a missing service is a failure.
 *
 * @example
 * const url = testPostgresUrl();
 * if (!(await postgresAvailable(url))) {
 *   if (requireServices()) throw new Error(`Postgres is unavailable at ${url}`);
 *   test("postgres tests", { skip: `Postgres is unavailable at ${url}` }, () => {});
 * }
 */
import { connect } from "node:net";
import pg from "pg";

/** The Postgres the tests use: LARDER_TEST_POSTGRES_URL, or postgres://postgres@127.0.0.1:5432/test. */
export function testPostgresUrl(): string {
  return process.env.LARDER_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
}

/** True when LARDER_REQUIRE_SERVICES=1: a service that is down must fail the tests, not skip them. */
export function requireServices(): boolean {
  return process.env.LARDER_REQUIRE_SERVICES === "1";
}

/** True if a connection to `url` succeeds and answers `select 1` within `timeoutMs`. */
export async function postgresAvailable(url: string, timeoutMs = 3000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** True if a Redis server at host:port answers an inline PING with +PONG (raw TCP, no client library). */
export function redisAvailable(host = "127.0.0.1", port = 6379, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = "";
    let settled = false;
    const socket = connect({ host, port });
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      if (answer.includes("\r\n")) finish(answer.startsWith("+PONG"));
    });
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}
