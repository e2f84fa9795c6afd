/**
 * The `larder` command against Postgres: the registry in a Postgres schema of its own
 * (LARDER_REGISTRY_SCHEMA) and a postgresSource reading a schema-qualified table, through the
 * whole flow (apply, backfill, training-set), and two `larder apply` processes at once.
 *
 * Skips when Postgres is down, unless LARDER_REQUIRE_SERVICES=1, where that is a failure. The
 * schemas are unique per run and dropped afterwards.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { FeatureStore } from "../src/feature-store.js";
import { type CliResult, assertOk, larder, larderAsync, plainRows, readParquetTable } from "./helpers/cli.js";
import { fastTempDir } from "./helpers/feature-repo.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const url = testPostgresUrl();
const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`;
const sourceSchema = `larder_cli_src_${suffix}`;
const registrySchema = `larder_cli_reg_${suffix}`;
const raceSchema = `larder_cli_race_${suffix}`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2024, 0, 1);
const END = Date.UTC(2024, 0, 15);

const features = (ttl: string) => `
import { agg, entity, featureService, featureView, postgresSource, types as t } from "larder";

export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: t.int64 });

const trips = postgresSource({ name: "trips", table: "${sourceSchema}.trips", timestampField: "ts" });

export const lastFare = featureView({ name: "last_fare", entities: [driver], source: trips, ttl: "${ttl}", schema: { fare: t.float64 } });

export const fares = featureView({
  name: "fares", entities: [driver], source: trips,
  aggregations: { trips_1d: agg.count("1d"), fare_sum_1d: agg.sum("fare", "1d") },
});

export const pricing = featureService({ name: "pricing", features: [lastFare, fares] });
`;

const config = `import { defineConfig } from "larder";
export default defineConfig({
  project: "pg_cli",
  definitions: ["./features.ts"],
  registry: ${JSON.stringify(url)},
  online: "embedded",
  offline: { path: "./data/offline" },
  sources: { postgres: ${JSON.stringify(url)} },
});
`;

interface Trip {
  driver: number;
  ts: number;
  fare: number;
}

/** Deterministic trips in [T0, END), and one after END that a backfill of [T0, END) must not see. */
function makeTrips(): Trip[] {
  const trips: Trip[] = [];
  for (let i = 0; i < 300; i++) trips.push({ driver: 1 + ((i * 7) % 5), ts: T0 + i * HOUR + ((i * 13) % 60) * 60_000, fare: 5 + ((i * 11) % 40) / 2 });
  trips.push({ driver: 1, ts: END + 5 * DAY, fare: 999 });
  return trips;
}

const ENTITIES: [number, string][] = [
  [1, "2024-01-02T12:00:00Z"],
  [2, "2024-01-05T00:00:00Z"],
  [3, "2024-01-01T00:00:00Z"],
  [9, "2024-01-06T00:00:00Z"],
  [1, "2024-01-21T00:00:00Z"], // after the backfilled range: the 999 fare was not backfilled
  [5, "2024-01-13T23:59:00Z"],
];

async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

const available = await postgresAvailable(url);

if (!available && requireServices()) {
  test("larder CLI on Postgres", () => assert.fail(`Postgres is unavailable at ${url} (LARDER_REQUIRE_SERVICES=1)`));
} else if (!available) {
  test("larder CLI on Postgres", { skip: `Postgres is unavailable at ${url}` }, () => {});
} else {
  describe("larder CLI on Postgres", () => {
    let root = "";
    let dir = "";
    const trips = makeTrips();
    const env = { LARDER_REGISTRY_SCHEMA: registrySchema };

    before(async () => {
      root = mkdtempSync(join(fastTempDir(), "larder-cli-pg-"));
      dir = join(root, "repo");
      mkdirSync(join(dir, "data"), { recursive: true });
      writeFileSync(join(dir, "larder.config.ts"), config);
      writeFileSync(join(dir, "features.ts"), features("2d"));
      writeFileSync(join(dir, "data/entities.csv"), `driver_id,event_timestamp\n${ENTITIES.map((e) => e.join(",")).join("\n")}\n`);
      await sql(`create schema ${sourceSchema}`);
      await sql(`create table ${sourceSchema}.trips (driver_id bigint not null, ts timestamptz not null, fare double precision)`);
      await sql(`insert into ${sourceSchema}.trips select * from unnest($1::bigint[], $2::timestamptz[], $3::float8[])`, [trips.map((t) => t.driver), trips.map((t) => new Date(t.ts).toISOString()), trips.map((t) => t.fare)]);
    });

    after(async () => {
      for (const schema of [sourceSchema, registrySchema, raceSchema]) await sql(`drop schema if exists ${schema} cascade`).catch(() => {});
      if (root) rmSync(root, { recursive: true, force: true });
    });

    test("apply, backfill and training-set with the registry in Postgres and a schema-qualified Postgres table", async () => {
      assert.match(assertOk(larder(dir, ["apply"], { env })), /Applied: 5 add, 0 change, 0 remove, 0 unchanged\./);
      const tables = await sql(`select table_name from information_schema.tables where table_schema = $1`, [registrySchema]);
      assert.ok(tables.rowCount! > 0, `the registry tables should be in schema ${registrySchema}`);

      const backfilled = assertOk(larder(dir, ["backfill", "--start", new Date(T0).toISOString(), "--end", new Date(END).toISOString()], { env }));
      assert.match(backfilled, /backfilled last_fare: 300 source rows → 300 offline rows/);
      assert.match(backfilled, /backfilled fares: 300 source rows/);

      const out = join(dir, "training.parquet");
      assertOk(larder(dir, ["training-set", "--entities", join(dir, "data/entities.csv"), "--service", "pricing", "--out", out], { env }));
      const rows = plainRows(readParquetTable(out));
      assert.equal(rows.length, ENTITIES.length);
      const inRange = trips.filter((t) => t.ts < END);
      rows.forEach((row, i) => {
        const [driver, at] = ENTITIES[i]!;
        const t = Date.parse(at);
        assert.equal(row.driver_id, driver, `row ${i}: driver_id`);
        const mine = inRange.filter((x) => x.driver === driver && x.ts <= t);
        const latest = mine.filter((x) => x.ts >= t - 2 * DAY).sort((a, b) => b.ts - a.ts)[0];
        assert.equal(row.fare, latest ? latest.fare : null, `row ${i}: fare`);
        const window = mine.filter((x) => x.ts > t - DAY);
        assert.equal(row.trips_1d, window.length, `row ${i}: trips_1d`);
        assert.equal(
          row.fare_sum_1d,
          window.reduce((s, x) => s + x.fare, 0),
          `row ${i}: fare_sum_1d`,
        );
      });
      assert.ok(
        rows.some((r) => (r.trips_1d as number) > 0),
        "some rows should have trips in their last day",
      );
    });

    test("two `larder apply` processes at once on a fresh Postgres registry both succeed; the registry ends consistent", async () => {
      const raceEnv = { LARDER_REGISTRY_SCHEMA: raceSchema };
      const results = await Promise.all([larderAsync(dir, ["apply"], { env: raceEnv }), larderAsync(dir, ["apply"], { env: raceEnv })]);
      const added = results.map((r: CliResult) => {
        const m = /Applied: (\d+) add, (\d+) change, (\d+) remove, (\d+) unchanged\./.exec(assertOk(r));
        assert.ok(m, r.stdout);
        return Number(m[1]);
      });
      assert.deepEqual(added.sort(), [0, 5], "exactly one of the two applies adds the definitions");

      // A changed definition, applied by two processes at once: one version more, not two.
      const featuresFile = join(dir, "features.ts");
      writeFileSync(featuresFile, features("3d"));
      try {
        const changes = await Promise.all([larderAsync(dir, ["apply"], { env: raceEnv }), larderAsync(dir, ["apply"], { env: raceEnv })]);
        const changed = changes.map((r) => Number(/Applied: \d+ add, (\d+) change/.exec(assertOk(r))?.[1]));
        assert.deepEqual(changed.sort(), [0, 1], "exactly one of the two applies changes last_fare");
        assert.match(assertOk(larder(dir, ["plan"], { env: raceEnv })), /Plan: 0 to add, 0 to change, 0 to remove, 5 unchanged\./);

        const store = await FeatureStore.open(dir, { registrySchema: raceSchema });
        const history = await store.withRegistry(async (r) => ({
          lastFare: await r.definitionHistory(store.project, "feature_view", "last_fare"),
          fares: await r.definitionHistory(store.project, "feature_view", "fares"),
          all: await r.listDefinitions(store.project),
        }));
        assert.deepEqual(
          history.lastFare.map((d) => d.version),
          [1, 2],
        );
        assert.deepEqual(
          history.fares.map((d) => d.version),
          [1],
        );
        assert.equal(history.all.length, 5);
      } finally {
        writeFileSync(featuresFile, features("2d"));
      }
      assert.equal(readFileSync(featuresFile, "utf8"), features("2d"));
    });
  });
}
