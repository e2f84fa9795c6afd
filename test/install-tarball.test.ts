/**
 * The README's install path, as a newcomer runs it on a fresh machine: `npm pack` a copy of the
 * checkout (so this checkout's dist/ is left alone), `npm install` the tarball into an empty
 * project with `--engine-strict` (every installed package must accept the running Node: a plain
 * install must not pull a dependency that needs a newer one, as cookie@2 via fastify did), then the
 * installed `larder` command: init, apply, backfill, training-set. Also what the tarball holds: the
 * LICENSE, no source maps pointing at files it does not ship.
 *
 * Needs the npm registry (or npm's cache: installs use --prefer-offline). Then the SDK: a clean
 * copy of sdk/ installs and builds on its own and exports predict.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import { cliEnv, plainRows, readParquetTable, ROOT } from "./helpers/cli.js";

const NPM_FLAGS = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];
let work = "";

before(() => {
  work = mkdtempSync(join(tmpdir(), "larder-install-"));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs a command to completion; returns stdout, failing the test with its output otherwise. */
function run(cmd: string, args: readonly string[], cwd: string, timeoutMs = 600_000): string {
  const res = spawnSync(cmd, args, { cwd, env: cliEnv({ npm_config_update_notifier: "false" }), encoding: "utf8", timeout: timeoutMs });
  if (res.error) throw res.error;
  assert.equal(res.status, 0, `${cmd} ${args.join(" ")} (in ${cwd}) exited with ${res.status}\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

/** Every file under `dir`, relative, with forward slashes. */
function filesUnder(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/** The files of a packed tarball, and every source map's sources that are not among them. */
function checkShipped(packageDir: string): { files: string[]; danglingMaps: string[] } {
  const files = filesUnder(packageDir);
  const shipped = new Set(files);
  const danglingMaps: string[] = [];
  for (const f of files.filter((x) => x.endsWith(".map"))) {
    const map = JSON.parse(readFileSync(join(packageDir, f), "utf8")) as { sources?: string[] };
    for (const s of map.sources ?? []) {
      const target = normalize(join(dirname(f), s)).replaceAll("\\", "/");
      if (!shipped.has(target)) danglingMaps.push(`${f} → ${s}`);
    }
  }
  return { files, danglingMaps };
}

/** npm pack in `dir` (its prepare/prepack scripts build first); returns the tarball's path. */
function pack(dir: string): string {
  const out = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work, "--loglevel=error"], dir)) as { filename: string }[];
  return join(work, out[0]!.filename);
}

function unpack(tarball: string, into: string): string {
  mkdirSync(into, { recursive: true });
  run("tar", ["xzf", tarball, "-C", into], work);
  return join(into, "package");
}

test("npm pack → npm install --engine-strict into an empty project → init, apply, backfill, training-set with the installed larder", () => {
  // A copy of what the package is built from; node_modules linked for the build's TypeScript.
  const checkout = join(work, "checkout");
  mkdirSync(checkout);
  for (const f of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md", "LICENSE", "src", "migrations"]) {
    cpSync(join(ROOT, f), join(checkout, f), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(checkout, "node_modules"), "dir");
  const tarball = pack(checkout);
  assert.match(tarball, /larder-feature-store-\d+\.\d+\.\d+\.tgz$/);

  const shipped = checkShipped(unpack(tarball, join(work, "unpacked")));
  assert.ok(shipped.files.includes("LICENSE"), "the tarball has the LICENSE");
  assert.match(readFileSync(join(work, "unpacked/package/LICENSE"), "utf8"), /Apache License\s+Version 2\.0/);
  assert.ok(shipped.files.includes("dist/cli/main.js") && shipped.files.includes("migrations/0001_registry.sql"));
  assert.deepEqual(shipped.danglingMaps, [], "source maps that point at files the package does not ship");
  const manifest = JSON.parse(readFileSync(join(work, "unpacked/package/package.json"), "utf8")) as { name: string; bin: Record<string, string>; license: string };
  assert.equal(manifest.name, "larder-feature-store");
  assert.deepEqual(Object.keys(manifest.bin), ["larder"]);
  assert.equal(manifest.license, "Apache-2.0");

  // The user's project: empty, then `npm init -y` and the tarball. --engine-strict turns any
  // installed package whose engines exclude this Node into an install failure (EBADENGINE).
  const project = join(work, "my-features");
  mkdirSync(project);
  run("npm", ["init", "-y", "--loglevel=error"], project);
  run("npm", ["install", ...NPM_FLAGS, "--engine-strict", tarball], project);
  run("npm", ["ls", "--all", "--loglevel=error"], project); // no missing or invalid dependency
  const bin = realpathSync(join(project, "node_modules/.bin/larder"));
  assert.equal(bin, realpathSync(join(project, "node_modules/larder-feature-store/dist/cli/main.js")), "larder is the installed package's command");

  const npx = (...args: string[]) => run("npx", ["--no", "larder", ...args], project);
  const out = npx("init", ".");
  assert.match(out, /^ {2}npx larder apply$/m);
  assert.match(readFileSync(join(project, "features.ts"), "utf8"), /from "larder-feature-store"/);
  assert.match(npx("apply"), /Applied: 8 add/);
  assert.match(npx("backfill", "--start", "2024-01-01", "--end", "2024-03-01"), /backfilled driver_last_trip: 2,000 source rows/);
  npx("training-set", "--entities", "data/requests.csv", "--service", "driver_activity", "--out", "training.parquet");
  const table = readParquetTable(join(project, "training.parquet"));
  assert.equal(table.numRows, 300);
  assert.ok(
    plainRows(table).some((r) => typeof r.km_7d === "number" && r.km_7d > 0),
    "features were computed",
  );

  // User code imports the package by name (both entry points) from the installed copy.
  const script = `import { FeatureStore, types } from "larder-feature-store"; import { startServer } from "larder-feature-store/server";
    console.log(typeof FeatureStore.open, types.int64, typeof startServer);`;
  assert.equal(run(process.execPath, ["--input-type=module", "-e", script], project).trim(), "function int64 function");
});

test("the SDK installs and builds on its own from a clean copy of sdk/, and exports predict", () => {
  const sdk = join(work, "sdk");
  cpSync(join(ROOT, "sdk"), sdk, { recursive: true, filter: (src) => !/[\\/](node_modules|dist)$/.test(src) });
  assert.ok(!existsSync(join(sdk, "node_modules")) && !existsSync(join(sdk, "dist")));
  run("npm", ["install", ...NPM_FLAGS, "--engine-strict"], sdk);
  run("npm", ["run", "build", "--loglevel=error"], sdk);
  assert.ok(existsSync(join(sdk, "dist/index.js")) && existsSync(join(sdk, "dist/index.d.ts")));
  const typings = readFileSync(join(sdk, "dist/index.d.ts"), "utf8");
  assert.match(typings, /predict\(model: string, request: PredictRequest\): Promise<PredictResponse>/);

  const tarball = pack(sdk);
  const shipped = checkShipped(unpack(tarball, join(work, "sdk-unpacked")));
  assert.ok(shipped.files.includes("LICENSE") && shipped.files.includes("dist/index.js"), shipped.files.join(", "));
  assert.deepEqual(shipped.danglingMaps, []);
  const manifest = JSON.parse(readFileSync(join(work, "sdk-unpacked/package/package.json"), "utf8")) as { name: string };
  assert.equal(manifest.name, "larder-feature-store-sdk");

  const script = `const m = await import(${JSON.stringify(pathToFileURL(join(sdk, "dist/index.js")).href)});
    const c = new m.LarderClient({ url: "http://127.0.0.1:1" }); console.log(typeof c.predict, typeof c.getOnlineFeatures);`;
  assert.equal(run(process.execPath, ["--input-type=module", "-e", script], sdk).trim(), "function function");
});
