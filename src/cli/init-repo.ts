import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LarderError } from "../errors.js";

const CONFIG = `import { defineConfig } from "larder";

export default defineConfig({
  project: "drivers",
  definitions: ["./features.ts"],
  registry: process.env.LARDER_REGISTRY_URL ?? "embedded",
  online: process.env.LARDER_ONLINE_URL ?? "embedded",
  offline: { path: "./data/offline" },
});
`;

const FEATURES = `import { agg, csvSource, entity, featureService, featureView, onDemandFeatureView, requestSource, types as t } from "larder";

export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: t.int64 });

const trips = csvSource({ name: "trips", path: "data/trips.csv", timestampField: "ts" });

// Latest per-trip values, valid for a day.
export const lastTrip = featureView({
  name: "driver_last_trip",
  entities: [driver],
  source: trips,
  ttl: "1d",
  schema: { rating: t.float64, distance_km: t.float64 },
  transform: (row) => ({ ...row, distance_km: row.distance_m / 1000 }),
});

// Windowed aggregations, exact at every instant.
export const activity = featureView({
  name: "driver_activity",
  entities: [driver],
  source: trips,
  transform: (row) => ({ ...row, distance_km: row.distance_m / 1000 }),
  aggregations: {
    trips_1d: agg.count("1d"),
    km_7d: agg.sum("distance_km", "7d"),
    avg_rating_7d: agg.avg("rating", "7d"),
  },
});

const request = requestSource({ name: "trip_request", schema: { requested_km: t.float64 } });

export const fit = onDemandFeatureView({
  name: "trip_fit",
  sources: [activity, request],
  schema: { requested_vs_daily_avg: t.float64 },
  transform: (f) => ({ requested_vs_daily_avg: f.km_7d > 0 ? f.requested_km / (f.km_7d / 7) : null }),
});

export const driverActivity = featureService({ name: "driver_activity", features: [lastTrip, activity, fit] });
`;

const GITIGNORE = `.larder/\ndata/offline/\n*.parquet\n`;

const README = `# A Larder feature repository

\`\`\`sh
larder apply
larder backfill --start 2024-01-01 --end 2024-03-01
larder training-set --entities data/entities.csv --service driver_activity --out training.parquet
\`\`\`

Definitions live in \`features.ts\`, configuration in \`larder.config.ts\`, sample data in \`data/\`.
`;

/** Deterministic sample data: a small linear congruential generator, so every init is identical. */
function sampleData(): { trips: string; entities: string } {
  let seed = 42;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const start = Date.UTC(2024, 0, 1);
  const lines = ["driver_id,ts,rating,distance_m"];
  const rows: [number, number, string][] = [];
  for (let i = 0; i < 2000; i++) {
    const driver = 1001 + Math.floor(rand() * 20);
    const ts = start + Math.floor(rand() * 59 * 86_400_000);
    rows.push([ts, driver, `${(3 + rand() * 2).toFixed(2)},${Math.floor(500 + rand() * 20000)}`]);
  }
  rows.sort((a, b) => a[0] - b[0]);
  for (const [ts, driver, rest] of rows) lines.push(`${driver},${new Date(ts).toISOString()},${rest}`);
  const entities = ["driver_id,event_timestamp,requested_km"];
  for (let i = 0; i < 50; i++) {
    const driver = 1001 + Math.floor(rand() * 22);
    const ts = start + Math.floor((7 + rand() * 50) * 86_400_000);
    entities.push(`${driver},${new Date(ts).toISOString()},${(1 + rand() * 30).toFixed(1)}`);
  }
  return { trips: `${lines.join("\n")}\n`, entities: `${entities.join("\n")}\n` };
}

/** Scaffolds a feature repository that works as it is: config, definitions and sample data. */
export async function initRepo(dir: string): Promise<void> {
  if (existsSync(join(dir, "larder.config.ts"))) {
    throw new LarderError("INVALID_ARGUMENT", `${dir} already has a larder.config.ts`, { dir });
  }
  if (existsSync(dir) && (await readdir(dir)).filter((f) => !f.startsWith(".")).length > 0) {
    throw new LarderError("INVALID_ARGUMENT", `${dir} is not empty; larder init needs a new or empty directory`, { dir });
  }
  await mkdir(join(dir, "data"), { recursive: true });
  const data = sampleData();
  await writeFile(join(dir, "larder.config.ts"), CONFIG);
  await writeFile(join(dir, "features.ts"), FEATURES);
  await writeFile(join(dir, ".gitignore"), GITIGNORE);
  await writeFile(join(dir, "README.md"), README);
  await writeFile(join(dir, "data", "trips.csv"), data.trips);
  await writeFile(join(dir, "data", "entities.csv"), data.entities);
}
