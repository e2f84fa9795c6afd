import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import pg from "pg";
import { openRegistry } from "../src/registry/open-registry.js";
import type { AppliedDefinition, DefinitionRecord, RegistryStore } from "../src/registry/registry-store.js";
import type { RegistryTables } from "../src/registry/registry-tables.js";
import { runRegistryConformance } from "./conformance/registry-store.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const url = testPostgresUrl();
const repoDir = "/nonexistent-repo-dir-unused-by-postgres";
const runTag = `${process.pid}_${randomBytes(3).toString("hex")}`;
const schemas: string[] = [];

/** A fresh schema name for this run, dropped when the file ends. */
function newSchema(what: string): string {
  const schema = `larder_test_${what}_${runTag}`;
  schemas.push(schema);
  return schema;
}

describe("Postgres registry: unreachable or bad URLs", () => {
  test("connection refused is POSTGRES_UNAVAILABLE naming host, port and database, never the password", async () => {
    await assert.rejects(openRegistry("postgres://larder:s3cret-pw@127.0.0.1:1/features", { repoDir }), (err: Error & { code?: string }) => {
      assert.equal(err.code, "POSTGRES_UNAVAILABLE");
      assert.match(err.message, /^cannot reach the registry at postgres:\/\/127\.0\.0\.1:1\/features: .*ECONNREFUSED/);
      assert.doesNotMatch(err.message, /s3cret|larder:/);
      return true;
    });
  });

  test("an unparseable URL is POSTGRES_UNAVAILABLE and is not echoed", async () => {
    await assert.rejects(openRegistry("postgres://user:pw@[bad-host/db", { repoDir }), (err: Error & { code?: string }) => {
      assert.equal(err.code, "POSTGRES_UNAVAILABLE");
      assert.doesNotMatch(err.message, /pw/);
      return true;
    });
  });
});

const available = await postgresAvailable(url);
if (!available) {
  const message = `Postgres is unavailable at ${url.replace(/:[^:@/]*@/, ":***@")} (set LARDER_TEST_POSTGRES_URL)`;
  if (requireServices()) {
    test("Postgres is required (LARDER_REQUIRE_SERVICES=1)", () => assert.fail(message));
  } else {
    test("Postgres registry", { skip: message }, () => {});
  }
} else {
  after(async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
    } finally {
      await client.end();
    }
  });

  const conformanceSchema = newSchema("conf");
  runRegistryConformance("postgres", () => openRegistry(url, { repoDir, schema: conformanceSchema }));

  describe("Postgres registry across processes", () => {
    const stores: RegistryStore[] = [];
    const open = async (schema: string, lockTimeoutMs?: number): Promise<RegistryStore> => {
      const store = await openRegistry(url, { repoDir, schema, ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }) });
      stores.push(store);
      return store;
    };
    after(async () => {
      for (const s of stores) await s.close();
    });

    test("several stores opening a fresh schema at once migrate it exactly once", async () => {
      const schema = newSchema("fresh");
      await Promise.all([open(schema), open(schema), open(schema)]);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query(`select name, count(*)::int as n from "${schema}".migrations group by name`);
        assert.ok(rows.length >= 1);
        assert.ok(rows.every((r: { n: number }) => r.n === 1));
      } finally {
        await client.end();
      }
    });

    test("concurrent applies from two stores on one schema keep versions consistent", async () => {
      const schema = newSchema("race");
      const [a, b] = await Promise.all([open(schema), open(schema)]);
      assert.ok(a && b);
      const project = "race";
      const rec = (kind: DefinitionRecord["kind"], name: string, hash: string): DefinitionRecord => ({ kind, name, hash, spec: { hash } });
      await a.apply(project, [rec("entity", "x", "h0")]);
      const rounds = 6;
      for (let r = 1; r <= rounds; r++) {
        const [da, db] = await Promise.all([a.apply(project, [rec("entity", "x", `a${r}`), rec("feature_view", "shared", `s${r}`)]), b.apply(project, [rec("entity", "x", `b${r}`), rec("feature_view", "shared", `s${r}`)])]);
        // Both changed x; exactly one of them wrote the shared view, the other saw it unchanged.
        assert.equal(da.change.filter((c) => c.before.name === "x").length, 1);
        assert.equal(db.change.filter((c) => c.before.name === "x").length, 1);
        const wroteShared = [da, db].filter((d) => d.add.length + d.change.filter((c) => c.before.name === "shared").length === 1);
        assert.equal(wroteShared.length, 1, `round ${r}: one apply writes the shared view`);
        const versions = [da, db].map((d) => (d.change.find((c) => c.before.name === "x")?.after as AppliedDefinition).version).sort((m, n) => m - n);
        assert.deepEqual(versions, [2 * r, 2 * r + 1], `round ${r}: the two applies made consecutive versions`);
      }
      const history = await a.definitionHistory(project, "entity", "x");
      assert.deepEqual(
        history.map((h) => h.version),
        Array.from({ length: 2 * rounds + 1 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        (await b.definitionHistory(project, "feature_view", "shared")).map((h) => h.version),
        Array.from({ length: rounds }, (_, i) => i + 1),
      );
      const current = await b.listDefinitions(project);
      assert.deepEqual(
        current.map((d) => `${d.kind}:${d.name}:${d.version}`),
        [`entity:x:${2 * rounds + 1}`, `feature_view:shared:${rounds}`],
      );
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query(`select kind, name, count(*)::int as n from "${schema}".definitions where superseded_at is null and deleted_at is null group by kind, name`);
        assert.ok(
          rows.every((r: { n: number }) => r.n === 1),
          "never two current versions",
        );
      } finally {
        await client.end();
      }
    });

    test("withLock excludes a second store (another process) until released, then times out with REGISTRY_LOCKED", async () => {
      const schema = newSchema("lock");
      const [a, b] = await Promise.all([open(schema), open(schema)]);
      assert.ok(a && b);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const isIn = new Promise<void>((r) => (entered = r));
      const holder = a.withLock("p", "materialize", async () => {
        entered();
        await held;
      });
      await isIn;
      await assert.rejects(
        b.withLock("p", "materialize", async () => 1, { timeoutMs: 200 }),
        { code: "REGISTRY_LOCKED" },
      );
      let bRan = false;
      const waiter = b.withLock(
        "p",
        "materialize",
        async () => {
          bRan = true;
        },
        { timeoutMs: 5000 },
      );
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(bRan, false, "b waits while a holds the lock");
      release();
      await holder;
      await waiter;
      assert.equal(bRan, true);
    });

    test("an apply waiting on another process's apply past the lock timeout is REGISTRY_LOCKED", async () => {
      const schema = newSchema("applylock");
      const a = await open(schema);
      const b = await open(schema, 200);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // Hold the project's apply lock from a third session, as a stuck apply would.
        const { advisoryLockKey } = await import("../src/registry/advisory-lock-key.js");
        await client.query("select pg_advisory_lock($1::bigint)", [advisoryLockKey(schema, "p", "larder:apply")]);
        await assert.rejects(b.apply("p", [{ kind: "entity", name: "e", spec: {}, hash: "1" }]), { code: "REGISTRY_LOCKED" });
        await client.query("select pg_advisory_unlock_all()");
        assert.equal((await a.apply("p", [{ kind: "entity", name: "e", spec: {}, hash: "1" }])).add.length, 1);
      } finally {
        await client.end();
      }
    });

    test("an edited or unknown applied migration refuses to open", async () => {
      const schema = newSchema("migr");
      const store = await openRegistry(url, { repoDir, schema });
      await store.close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`update "${schema}".migrations set checksum = 'tampered' where name = '0001_registry.sql'`);
        await assert.rejects(openRegistry(url, { repoDir, schema }), (err: Error & { code?: string }) => {
          assert.equal(err.code, "REGISTRY_UNAVAILABLE");
          assert.match(err.message, /0001_registry\.sql was edited/);
          return true;
        });
        await client.query(`update "${schema}".migrations set checksum = $1 where name = '0001_registry.sql'`, [(await import("../src/registry/migrate.js")).readMigrations()[0]?.checksum]);
        await client.query(`insert into "${schema}".migrations (name, checksum) values ('9999_from_the_future.sql', 'x')`);
        await assert.rejects(openRegistry(url, { repoDir, schema }), /9999_from_the_future\.sql.*upgrade Larder/);
      } finally {
        await client.end();
      }
    });

    test("a schema missing only the newest migration gets it on open; one holding every file is left as it is", async () => {
      const schema = newSchema("behind");
      await (await openRegistry(url, { repoDir, schema })).close();
      const { migrate, readMigrations } = await import("../src/registry/migrate.js");
      const { CompiledQuery, Kysely, PostgresDialect } = await import("kysely");
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      const db = new Kysely<RegistryTables>({ dialect: new PostgresDialect({ pool, onCreateConnection: (c) => c.executeQuery(CompiledQuery.raw(`set search_path to "${schema}"`)).then(() => {}) }) });
      try {
        const files = [...readMigrations(), { name: "9998_probe.sql", checksum: "probe", sql: "create table probe (x integer)" }];
        assert.deepEqual(await migrate(db, schema, { lockTimeoutMs: 10_000 }), [], "up to date: nothing to run");
        assert.deepEqual(await migrate(db, schema, { lockTimeoutMs: 10_000, files }), ["9998_probe.sql"], "the pending file runs, although every other one is applied");
        assert.deepEqual(await migrate(db, schema, { lockTimeoutMs: 10_000, files }), []);
        await assert.rejects(migrate(db, schema, { lockTimeoutMs: 10_000, files: files.slice(0, -1) }), /9998_probe\.sql.*upgrade Larder/, "an unknown applied file still refuses");
      } finally {
        await db.destroy();
      }
    });
  });
}
