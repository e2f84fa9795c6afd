/**
 * The external services tests use, and checks for them. Every test reaches Postgres through
 * testPostgresUrl() (LARDER_TEST_POSTGRES_URL) and Redis through testRedisUrl()
 * (LARDER_TEST_REDIS_URL), never a hard-coded address. A test file skips its service-backed tests
 * when a service is down, unless LARDER_REQUIRE_SERVICES=1 (CI), where a missing service is a
 * failure.
 *
 * @example
 * const url = testPostgresUrl();
 * if (!(await postgresAvailable(url))) {   // creates the database first when it does not exist
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

/** The Redis the tests use: LARDER_TEST_REDIS_URL, or redis://127.0.0.1:6379 (any /db in it is kept). */
export function testRedisUrl(): string {
  return process.env.LARDER_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
}

/** Postgres' "database does not exist". */
const INVALID_CATALOG_NAME = "3D000";
/** Postgres' "duplicate database": another test file created it first. */
const DUPLICATE_DATABASE = "42P04";

async function selectOne(url: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Creates the database `url` names, through the server's maintenance database (`postgres`), when it
 * does not exist; a database created meanwhile by a concurrent test file is fine.
 */
export async function createTestDatabase(url: string, timeoutMs = 3000): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (name === "") throw new Error(`${url.replace(/:[^:@/]*@/, ":***@")} names no database`);
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const client = new pg.Client({ connectionString: maintenance.href, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query(`create database ${pg.escapeIdentifier(name)}`);
  } catch (err) {
    if ((err as { code?: unknown }).code !== DUPLICATE_DATABASE) throw err;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * True if a connection to `url` succeeds and answers `select 1` within `timeoutMs`. A database
 * that does not exist yet is created first (createTestDatabase), so LARDER_TEST_POSTGRES_URL may
 * name a fresh one.
 */
export async function postgresAvailable(url: string, timeoutMs = 3000): Promise<boolean> {
  try {
    await selectOne(url, timeoutMs);
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code !== INVALID_CATALOG_NAME) return false;
  }
  try {
    await createTestDatabase(url, timeoutMs);
    await selectOne(url, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** True if the Redis server of a redis:// URL answers PING (see redisAvailable). */
export function redisUrlAvailable(url: string, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return redisAvailable(hostname.replace(/^\[|\]$/g, ""), Number(port || 6379), timeoutMs);
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
