/**
 * The test suite's own contract with its services: every file reaches Postgres and Redis through
 * LARDER_TEST_POSTGRES_URL / LARDER_TEST_REDIS_URL (test/helpers/services.ts), a database the URL
 * names is created when missing, and passing tests print no `error [CODE]` lines (those are how the
 * CLI reports a failure, so a green run must not show them).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { ROOT } from "./helpers/cli.js";
import { postgresAvailable, requireServices, testPostgresUrl, testRedisUrl } from "./helpers/services.js";

function testSources(dir = join(ROOT, "test")): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? testSources(p) : name.endsWith(".ts") ? [p] : [];
  });
}

test("no test file hard-codes the services' addresses: they come from LARDER_TEST_*_URL", () => {
  // The default addresses live in helpers/services.ts only; URLs that must be unreachable (port 1)
  // or invalid are fine anywhere.
  const defaults = [/(127\.0\.0\.1|localhost):(6379|5432)\b/, /redisAvailable\(\)/];
  const offenders: string[] = [];
  for (const file of testSources()) {
    const rel = relative(ROOT, file);
    if (rel === join("test", "helpers", "services.ts") || rel === join("test", "test-services.test.ts")) continue;
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        const comment = /^\s*(\*|\/\/|\/\*)/.test(line);
        if (!comment && defaults.some((re) => re.test(line))) offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(offenders, [], "use testRedisUrl()/redisUrlAvailable() and testPostgresUrl() instead");
});

test("testRedisUrl() is LARDER_TEST_REDIS_URL, database number included", () => {
  const saved = process.env.LARDER_TEST_REDIS_URL;
  try {
    process.env.LARDER_TEST_REDIS_URL = "redis://127.0.0.1:6390/7";
    assert.equal(testRedisUrl(), "redis://127.0.0.1:6390/7");
    delete process.env.LARDER_TEST_REDIS_URL;
    assert.equal(testRedisUrl(), "redis://127.0.0.1:6379");
  } finally {
    if (saved === undefined) delete process.env.LARDER_TEST_REDIS_URL;
    else process.env.LARDER_TEST_REDIS_URL = saved;
  }
});

test("no test prints a CLI error line (`error [CODE]: …`) as a diagnostic of a passing case", () => {
  const offenders: string[] = [];
  for (const file of testSources()) {
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (/(diagnostic|console\.(log|error|warn|info))\(\s*`error \[/.test(line)) offenders.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(offenders, []);
});

const url = testPostgresUrl();
const reachable = await postgresAvailable(url);
if (!reachable && requireServices()) throw new Error(`Postgres is unavailable at ${url.replace(/:[^:@/]*@/, ":***@")}`);

test("LARDER_TEST_POSTGRES_URL naming a missing database: postgresAvailable creates it", { skip: reachable ? false : "Postgres is unavailable" }, async () => {
  const name = `larder_test_${randomBytes(5).toString("hex")}`;
  const fresh = new URL(url);
  fresh.pathname = `/${name}`;
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: maintenance.href });
  await admin.connect();
  try {
    const exists = async () => (await admin.query("select 1 from pg_database where datname = $1", [name])).rowCount === 1;
    assert.equal(await exists(), false);
    assert.equal(await postgresAvailable(fresh.href), true, `${name} should have been created`);
    assert.equal(await exists(), true);
    // Twice (another test file got there first): still available, nothing to create.
    assert.equal(await postgresAvailable(fresh.href), true);
  } finally {
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)}`);
    await admin.end();
  }
});
