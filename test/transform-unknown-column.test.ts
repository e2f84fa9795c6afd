/**
 * A transform that reads a column its source does not have (`row.distance_mm` for `distance_m`) is
 * UNKNOWN_COLUMN at apply and at a backfill's first row, not a backfill of nulls; reads with `in`,
 * spreads and Object.prototype members are not flagged. Sources may declare a schema: it types the
 * transform's row in the editor (checked here by the compiler) and is checked against the data.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import { featureView } from "../src/definitions/feature-view.js";
import { entity } from "../src/definitions/entity.js";
import { parquetSource } from "../src/definitions/sources.js";
import { types as t } from "../src/types.js";
import { probeRowTransform } from "../src/transform/transform-executor.js";
import { assertCliError, larder } from "./helpers/cli.js";
import { arrowTable, col, createFeatureRepo, fastTempDir, withFeatureRepo } from "./helpers/feature-repo.js";

const trips = () =>
  arrowTable({
    driver_id: col.int64([1, 2]),
    ts: col.timestamp(["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"]),
    distance_m: col.float64([1500, 2500]),
  });

const features = (transform: string, schema = "") => `
import { entity, parquetSource, featureView, types as t } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: t.int64 });
const trips = parquetSource({ name: "trips", path: "data/trips.parquet", timestampField: "ts"${schema} });
export const stats = featureView({ name: "trip_stats", entities: [driver], source: trips, schema: { distance_km: t.float64 },
  transform: ${transform} });
`;

describe("UNKNOWN_COLUMN: a transform reading a column the source lacks", () => {
  test("larder apply refuses a typo'd column, naming view, transform and column; nothing is applied", async () => {
    const repo = await createFeatureRepo({ features: features("(row) => ({ ...row, distance_km: row.distance_mm / 1000 })"), files: { "data/trips.parquet": trips() }, apply: false, parentDir: fastTempDir() });
    try {
      assertCliError(larder(repo.dir, ["apply"]), "UNKNOWN_COLUMN", /featureView "trip_stats" transform reads row\.distance_mm/, /source "trips" has no column "distance_mm"/, /distance_m\b/);
      assert.deepEqual(await repo.store.withRegistry((r) => r.listDefinitions(repo.store.project)), [], "nothing applied");
      assertCliError(larder(repo.dir, ["plan"]), "UNKNOWN_COLUMN", /row\.distance_mm/);
    } finally {
      await repo.cleanup();
    }
  });

  test("a backfill checks its first row: data that arrived after apply cannot backfill nulls", async () => {
    // Applied while the source had no file yet (the column check is skipped then).
    await withFeatureRepo({ features: features("(row) => ({ ...row, distance_km: row.distance_mm / 1000 })"), parentDir: fastTempDir() }, async (repo) => {
      await repo.writeFile("data/trips.parquet", trips());
      await assert.rejects(repo.store.backfill({ start: "2024-01-01", end: "2024-02-01" }), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
        assert.equal(err.code, "UNKNOWN_COLUMN", err.message);
        assert.deepEqual({ view: err.details?.view, column: err.details?.column, source: err.details?.source }, { view: "trip_stats", column: "distance_mm", source: "trips" });
        return true;
      });
      assert.equal(existsSync(repo.path("data/offline/trip_stats/manifest.json")), false, "nothing was written");
      const [run] = await repo.store.withRegistry((r) => r.listRuns(repo.store.project));
      assert.equal(run?.status, "failed");
      assert.match(run?.error ?? "", /^\[UNKNOWN_COLUMN\]/);
    });
  });

  test("optional columns tested with `in`, spreads, Object.keys and JSON are not flagged", async () => {
    const transform = `(row) => {
      const copy = { ...row };
      const keys = Object.keys(row).length + (row.hasOwnProperty("distance_m") ? 0 : 1);
      const tip = "tip" in row ? row.tip : 0;
      return { ...copy, distance_km: row.distance_m / 1000 + tip + (JSON.stringify(row).length > 0 ? 0 : keys) };
    }`;
    await withFeatureRepo({ features: features(transform), files: { "data/trips.parquet": trips() }, parentDir: fastTempDir() }, async (repo) => {
      const [result] = await repo.store.backfill({ start: "2024-01-01", end: "2024-02-01" });
      assert.equal(result?.rowsWritten, 2);
      const batch = await repo.store.offline.readView("trip_stats", ["distance_km"]);
      assert.deepEqual([...(batch!.columns.get("distance_km")!.values as Float64Array)], [1.5, 2.5]);
    });
  });

  test("probeRowTransform: `in` is honest, unknown reads are reported even when the transform then throws", () => {
    const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: t.int64 });
    const source = parquetSource({ name: "trips", path: "x.parquet", timestampField: "ts" });
    const view = (transform: (row: Record<string, unknown>) => Record<string, unknown>) => featureView({ name: "v", entities: [driver], source, schema: { d: t.float64 }, transform });
    const row = { driver_id: 1, ts: new Date(0), distance_m: 5 };
    const same = view((r) => r);
    assert.equal(probeRowTransform(same, row, "trips"), row, "a transform returning its row gets the plain row back");
    assert.deepEqual(
      probeRowTransform(
        view((r) => ({ d: "tip" in r ? 1 : 2 })),
        row,
        "trips",
      ),
      { d: 2 },
    );
    assert.throws(
      () =>
        probeRowTransform(
          view((r) => ({ d: (r.distance_mm as number).toFixed(1) })),
          row,
          "trips",
        ),
      (err: Error & { code?: string }) => err.code === "UNKNOWN_COLUMN" && /row\.distance_mm/.test(err.message),
    );
  });
});

describe("declared source schemas", () => {
  test("a declared column the data lacks is UNKNOWN_COLUMN, a wrong type TYPE_MISMATCH, at apply", async () => {
    const ok = features("(row) => ({ ...row, distance_km: row.distance_m / 1000 })", ", schema: { driver_id: t.int64, ts: t.timestamp, distance_m: t.float64 }");
    await withFeatureRepo({ features: ok, files: { "data/trips.parquet": trips() }, parentDir: fastTempDir() }, async (repo) => {
      const [result] = await repo.store.backfill({ start: "2024-01-01", end: "2024-02-01" });
      assert.equal(result?.rowsWritten, 2);
    });
    const missing = features("(row) => ({ ...row, distance_km: 1 })", ", schema: { distance_m: t.float64, duration_s: t.int64 }");
    const wrongType = features("(row) => ({ ...row, distance_km: 1 })", ", schema: { distance_m: t.string }");
    for (const [text, code, pattern] of [
      [missing, "UNKNOWN_COLUMN", /source "trips" declares column "duration_s" \(int64\), but its data has no such column/],
      [wrongType, "TYPE_MISMATCH", /source "trips" declares column "distance_m" as string, but its data holds number "1500"/],
    ] as const) {
      const repo = await createFeatureRepo({ features: text, files: { "data/trips.parquet": trips() }, apply: false, parentDir: fastTempDir() });
      try {
        assertCliError(larder(repo.dir, ["apply"]), code, pattern);
        // the same check guards backfills of data that arrives later
        await rm(repo.path("data/trips.parquet"));
        await repo.store.apply();
        await repo.writeFile("data/trips.parquet", trips());
        await assert.rejects(repo.store.backfill({ start: "2024-01-01", end: "2024-02-01" }), (err: Error & { code?: string }) => err.code === code);
      } finally {
        await repo.cleanup();
      }
    }
  });

  test("a declared schema types the transform's row (compile-time: this file must typecheck)", () => {
    const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: t.int64 });
    const typed = parquetSource({ name: "trips", path: "x.parquet", timestampField: "ts", schema: { driver_id: t.int64, distance_m: t.float64, ts: t.timestamp } });
    const view = featureView({
      name: "v",
      entities: [driver],
      source: typed,
      schema: { distance_km: t.float64 },
      transform: (row) => {
        const metres: number | null = row.distance_m;
        const when: Date | null = row.ts;
        // @ts-expect-error distance_mm is not a declared column
        const typo: unknown = row.distance_mm;
        return { distance_km: metres === null ? null : metres / 1000, when, typo };
      },
    });
    assert.equal(typed.schema?.distance_m, "float64");
    assert.equal(view.source, typed);
  });
});
