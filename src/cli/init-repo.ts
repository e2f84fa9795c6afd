import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Float64, Int64, Table, TimestampMillisecond, vectorFromArray } from "apache-arrow";
import { PACKAGE_NAME } from "../config/import-user-module.js";
import { LarderError } from "../errors.js";
import { writeArrowTableToParquet } from "../offline/parquet-io.js";

/**
 * The sample data covers [START, END): every command of the walkthrough uses these fixed dates, so
 * a scaffold behaves the same on every machine and every day. Views have no TTL for that reason:
 * a TTL counts from the wall clock at read time, and would expire 2024 data online.
 */
const START = "2024-01-01";
const END = "2024-03-01";

const CONFIG = `import { defineConfig } from "${PACKAGE_NAME}";

export default defineConfig({
  project: "drivers",
  definitions: ["./features.ts"],
  registry: process.env.LARDER_REGISTRY_URL ?? "embedded",
  online: process.env.LARDER_ONLINE_URL ?? "embedded",
  offline: { path: "./data/offline" },
});
`;

const FEATURES = `import { agg, entity, featureService, featureView, onDemandFeatureView, parquetSource, pushSource, requestSource, types as t } from "${PACKAGE_NAME}";

export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: t.int64 });

// Completed trips: a directory of Parquet files, so a push with to: "offline" or
// "online_and_offline" can append its rows there as a new file.
const trips = parquetSource({ name: "trips", path: "data/trips", timestampField: "ts" });

// Trips pushed as they happen (POST /push), in the shape of the trips files.
export const tripsPush = pushSource({ name: "trips_push", batchSource: trips });

// Each driver's latest trip. The sample data is from early 2024: with live data, add a ttl
// (e.g. ttl: "7d") so online reads of drivers gone quiet say OUTSIDE_MAX_AGE.
export const lastTrip = featureView({
  name: "driver_last_trip",
  entities: [driver],
  source: tripsPush,
  schema: { rating: t.float64, distance_km: t.float64 },
  transform: (row) => ({ ...row, distance_km: row.distance_m / 1000 }),
});

// Windowed aggregations, exact at every instant.
export const activity = featureView({
  name: "driver_activity",
  entities: [driver],
  source: tripsPush,
  transform: (row) => ({ ...row, distance_km: row.distance_m / 1000 }),
  aggregations: {
    trips_1d: agg.count("1d"),
    km_7d: agg.sum("distance_km", "7d"),
    avg_rating_7d: agg.avg("rating", "7d"),
  },
});

// The trip offered to the driver, known at request time.
const request = requestSource({ name: "trip_request", schema: { requested_km: t.float64 } });

export const fit = onDemandFeatureView({
  name: "trip_fit",
  sources: [activity, request],
  schema: { requested_vs_daily_avg: t.float64 },
  transform: (f) => ({ requested_vs_daily_avg: f.km_7d > 0 ? f.requested_km / (f.km_7d / 7) : null }),
});

export const driverActivity = featureService({ name: "driver_activity", features: [lastTrip, activity, fit] });
`;

const GITIGNORE = `.larder/\ndata/offline/\n/*.parquet\n`;

/** Trip offers (data/requests.csv): who was offered how far a trip when, and whether they took it. */
const REQUESTS = "data/requests.csv";

/**
 * The walkthrough of a new repository, as `larder init` prints it and its README.md shows it (and as
 * README.md's "start your own feature repository" shows it; test/scaffold-walkthrough.test.ts runs
 * these very lines). The HTTP requests go to `larder serve`, running in another terminal.
 */
export const WALKTHROUGH: readonly string[] = [
  "npx larder apply",
  `npx larder backfill --start ${START} --end ${END}`,
  `npx larder training-set --entities ${REQUESTS} --service driver_activity --out training.parquet`,
  `npx larder models train --name trip_accept --service driver_activity --entities ${REQUESTS} --label accepted`,
  "npx larder models promote --name trip_accept --version latest",
  `npx larder materialize --start ${START} --end ${END}`,
  "npx larder online --service driver_activity --entity driver_id=1001 --entity requested_km=12",
  "npx larder serve",
  `curl -s localhost:6566/push -d '{"push_source_name": "trips_push", "to": "online_and_offline", "df": {"driver_id": [1001], "ts": ["${END}T08:00:00Z"], "rating": [4.9], "distance_m": [12500]}}'`,
  `curl -s localhost:6566/get-online-features -d '{"feature_service": "driver_activity", "entities": {"driver_id": [1001], "requested_km": [12]}}'`,
  `curl -s localhost:6566/v1/predict/trip_accept -d '{"entities": {"driver_id": [1001, 1002]}, "request": {"requested_km": [12, 30]}}'`,
];

/** What each walkthrough line does, for the scaffold's README.md. */
const WALKTHROUGH_NOTES: readonly string[] = [
  "store the definitions in the registry (embedded: .larder/)",
  `compute the views over the sample data into the offline store (data/offline/)`,
  "point-in-time features for each trip offer",
  "fit a logistic model of `accepted` on those features, registered as version 1",
  "make it the production version",
  "each driver's latest values into the online store",
  "read them back (every value PRESENT)",
  "the HTTP server (another terminal; stop it with Ctrl-C)",
  "a new trip: online at once, and appended to data/trips/ for the next backfill",
  "driver 1001 now shows that trip's rating and distance",
  "the model on online features",
];

function readme(): string {
  const steps = WALKTHROUGH.map((line, i) => `# ${WALKTHROUGH_NOTES[i]}\n${line}`).join("\n");
  return `# A Larder feature repository

Definitions live in \`features.ts\`, configuration in \`larder.config.ts\`. The sample data in
\`data/\` covers ${START} to ${END}: trips of 20 drivers (\`data/trips/\`) and trip offers with
whether the driver accepted (\`${REQUESTS}\`).

\`\`\`sh
${steps}
\`\`\`
`;
}

/** The next steps `larder init` prints: where to go, then the walkthrough. */
export function nextSteps(target: string, dirArgument: string, inPlace: boolean): string {
  const lines = [...(inPlace ? [] : [`cd ${dirArgument}`]), ...WALKTHROUGH];
  return `Created a feature repository in ${target}. Next (also in its README.md):\n${lines.map((l) => `  ${l}`).join("\n")}\n`;
}

/** A small linear congruential generator, so every init writes identical data. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const DAY = 86_400_000;

interface Trip {
  driver: number;
  ts: number;
  rating: number;
  distanceM: number;
}

/** 2,000 trips of drivers 1001–1020 over [START, END), sorted by time. */
function sampleTrips(rand: () => number): Trip[] {
  const start = Date.parse(`${START}T00:00:00Z`);
  const span = Date.parse(`${END}T00:00:00Z`) - start;
  const trips: Trip[] = [];
  for (let i = 0; i < 2000; i++) {
    const driver = 1001 + Math.floor(rand() * 20);
    const ts = start + Math.floor(rand() * span);
    trips.push({ driver, ts, rating: Number((3 + rand() * 2).toFixed(2)), distanceM: Math.floor(500 + rand() * 20000) });
  }
  return trips.sort((a, b) => a.ts - b.ts);
}

/**
 * 300 trip offers from the second week on (drivers 1001–1022: two never drove), each accepted with
 * a probability that falls as the trip grows against the driver's usual daily distance: a signal
 * the model can learn from the features.
 */
function sampleRequests(rand: () => number, trips: readonly Trip[]): string {
  const start = Date.parse(`${START}T00:00:00Z`);
  const lines = ["driver_id,event_timestamp,requested_km,accepted"];
  for (let i = 0; i < 300; i++) {
    const driver = 1001 + Math.floor(rand() * 22);
    const ts = start + Math.floor((7 + rand() * 52) * DAY);
    const requestedKm = Number((1 + rand() * 30).toFixed(1));
    let km7d = 0;
    for (const t of trips) if (t.driver === driver && t.ts <= ts && t.ts > ts - 7 * DAY) km7d += t.distanceM / 1000;
    const ratio = km7d > 0 ? requestedKm / (km7d / 7) : 1;
    const accepted = rand() < 1 / (1 + Math.exp(2 * ratio - 2.5));
    lines.push(`${driver},${new Date(ts).toISOString()},${requestedKm},${accepted}`);
  }
  return `${lines.join("\n")}\n`;
}

function tripsTable(trips: readonly Trip[]): Table {
  return new Table({
    driver_id: vectorFromArray(
      trips.map((t) => BigInt(t.driver)),
      new Int64(),
    ),
    ts: vectorFromArray(
      trips.map((t) => t.ts),
      new TimestampMillisecond("UTC"),
    ),
    rating: vectorFromArray(
      trips.map((t) => t.rating),
      new Float64(),
    ),
    distance_m: vectorFromArray(
      trips.map((t) => BigInt(t.distanceM)),
      new Int64(),
    ),
  });
}

// Files a project has right after `npm init` and `npm install`: init may scaffold next to them.
const PROJECT_FILES = new Set(["package.json", "package-lock.json", "npm-shrinkwrap.json", "node_modules", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "tsconfig.json"]);

/**
 * Scaffolds a feature repository that works as it is: config, definitions and sample data, into a
 * new or empty directory (dotfiles and a Node project's package files may be there already).
 */
export async function initRepo(dir: string): Promise<void> {
  if (existsSync(join(dir, "larder.config.ts"))) {
    throw new LarderError("INVALID_ARGUMENT", `${dir} already has a larder.config.ts`, { dir });
  }
  if (existsSync(dir)) {
    const taken = (await readdir(dir)).filter((f) => !f.startsWith(".") && !PROJECT_FILES.has(f));
    if (taken.length > 0) {
      throw new LarderError("INVALID_ARGUMENT", `${dir} is not empty (has ${taken.slice(0, 3).join(", ")}${taken.length > 3 ? ", …" : ""}); larder init needs a new or empty directory`, { dir });
    }
  }
  const rand = lcg(42);
  const trips = sampleTrips(rand);
  const requests = sampleRequests(rand, trips);
  await mkdir(join(dir, "data", "trips"), { recursive: true });
  await writeFile(join(dir, "larder.config.ts"), CONFIG);
  await writeFile(join(dir, "features.ts"), FEATURES);
  await writeFile(join(dir, ".gitignore"), GITIGNORE);
  await writeFile(join(dir, "README.md"), readme());
  await writeArrowTableToParquet(join(dir, "data", "trips", "trips-2024.parquet"), tripsTable(trips));
  await writeFile(join(dir, REQUESTS), requests);
}
