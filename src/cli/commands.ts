import { resolve } from "node:path";
import type { Command } from "commander";
import { LarderError } from "../errors.js";
import type { FeatureSelection } from "../definitions/feature-refs.js";
import type { PlanDiff } from "../registry/registry-store.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { entityColumnTypes } from "../definitions/feature-view.js";
import type { ValueType } from "../types.js";
import { formatOnlineTable, registerInspectCommands } from "./inspect-commands.js";
import { registerModelCommands } from "./model-commands.js";
import { Progress, viewProgress } from "./progress.js";
import { openStore } from "./open-store.js";
import { registerServeCommand } from "./serve-command.js";
import { formatRunsTable, runToJson } from "./runs-table.js";
import { specDiff } from "./spec-diff.js";

function repoDir(cmd: Command): string {
  return resolve(cmd.optsWithGlobals<{ repo: string }>().repo);
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const splitList = (value: string, previous: string[] = []) => [
  ...previous,
  ...value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
];

function printDiff(diff: PlanDiff, applied: boolean): void {
  const kind = (k: string) => k.replaceAll("_", " ");
  for (const d of diff.add) console.log(`  + ${kind(d.kind)} ${d.name}`);
  for (const c of diff.change) {
    console.log(`  ~ ${kind(c.after.kind)} ${c.after.name} (version ${c.before.version} → ${c.before.version + 1})`);
    for (const line of specDiff(c.before.spec, c.after.spec)) console.log(`      ${line}`);
  }
  for (const r of diff.remove) console.log(`  - ${kind(r.kind)} ${r.name}`);
  const summary = `${diff.add.length} to add, ${diff.change.length} to change, ${diff.remove.length} to remove, ${diff.unchanged.length} unchanged`;
  console.log(applied ? `Applied: ${summary.replaceAll(" to ", " ")}.` : `Plan: ${summary}.`);
}

function printChecks(checks: { view: string; checked: boolean; skipped?: string }[]): void {
  for (const c of checks) if (!c.checked) console.log(`  note: columns of feature view ${c.view} not checked: ${c.skipped}`);
}

export function registerCommands(program: Command): void {
  program
    .command("init")
    .description("scaffold a feature repository with sample data that works as it is")
    .argument("[dir]", "directory to create", ".")
    .action(async (dir: string) => {
      const target = resolve(dir);
      const { initRepo, nextSteps } = await import("./init-repo.js");
      await initRepo(target);
      process.stdout.write(nextSteps(target, dir, target === process.cwd()));
    });

  program
    .command("plan")
    .description("show what apply would add, change and remove")
    .action(async (_o, cmd: Command) => {
      const store = await openStore(repoDir(cmd));
      const { diff, checks } = await store.plan();
      printChecks(checks);
      printDiff(diff, false);
    });

  program
    .command("apply")
    .description("validate the definitions and store them in the registry")
    .action(async (_o, cmd: Command) => {
      const store = await openStore(repoDir(cmd));
      const { diff, checks } = await store.apply();
      printChecks(checks);
      printDiff(diff, true);
    });

  program
    .command("backfill")
    .description("run the feature views' batch pipelines over [start, end) into the offline store")
    .requiredOption("--start <iso>", "start of the event-time range (inclusive), ISO-8601")
    .requiredOption("--end <iso>", "end of the event-time range (exclusive), ISO-8601")
    .option("--view <name>", "a feature view to backfill (repeatable; default all)", collect)
    .option("--memory-rows <n>", "ignored: memory is bounded by offline.memoryLimit in the config (kept so existing scripts run)")
    .action(async (o: { start: string; end: string; view?: string[]; memoryRows?: string }, cmd: Command) => {
      const memoryRows = o.memoryRows === undefined ? undefined : positiveInteger(o.memoryRows, "--memory-rows");
      const store = await openStore(repoDir(cmd));
      const progress = viewProgress("backfill");
      const results = await progress.around(() =>
        store.backfill({
          start: o.start,
          end: o.end,
          ...(o.view ? { views: o.view } : {}),
          ...(memoryRows !== undefined ? { memoryRows } : {}),
          onProgress: (p) => progress.update(p.view, p.sourceRows, p.totalRows),
        }),
      );
      for (const r of results) {
        console.log(
          `backfilled ${r.view}: ${r.sourceRows.toLocaleString("en-US")} source rows → ${r.rowsWritten.toLocaleString("en-US")} offline rows in ${r.files} file(s)${r.droppedNullKeys ? ` (${r.droppedNullKeys} rows with a null join key skipped)` : ""}`,
        );
      }
    });

  program
    .command("training-set")
    .description("build a point-in-time-correct training set for entity rows")
    .requiredOption("--entities <file>", "Parquet or CSV with the join keys and event_timestamp")
    .option("--features <refs>", "view:feature references, comma-separated (repeatable)", splitList)
    .option("--service <name>", "a feature service")
    .requiredOption("--out <file>", "output Parquet file")
    .option("--full-feature-names", "name columns view__feature", false)
    .action(async (o: { entities: string; features?: string[]; service?: string; out: string; fullFeatureNames: boolean }, cmd: Command) => {
      if (!o.out.endsWith(".parquet")) throw new LarderError("INVALID_ARGUMENT", `--out ${o.out}: expected a .parquet file`);
      const selection = await selectionOf(o);
      const store = await openStore(repoDir(cmd));
      const progress = new Progress("training-set");
      const { rows } = await store.writeTrainingSet(resolve(o.entities), resolve(o.out), { ...selection, fullFeatureNames: o.fullFeatureNames }).catch((err: unknown) => {
        progress.abort();
        throw err;
      });
      progress.update(rows);
      progress.done(`→ ${o.out}`);
    });

  program
    .command("materialize")
    .description("load the latest offline values per entity with event time in [start, end) into the online store")
    .requiredOption("--start <iso>", "start of the event-time range (inclusive), ISO-8601")
    .requiredOption("--end <iso>", "end of the event-time range (exclusive), ISO-8601")
    .option("--view <name>", "a feature view to materialize (repeatable; default every online view)", collect)
    .action(async (o: { start: string; end: string; view?: string[] }, cmd: Command) => {
      const store = await openStore(repoDir(cmd));
      const progress = viewProgress("materialize");
      const results = await progress.around(() => store.materialize({ start: o.start, end: o.end, ...(o.view ? { views: o.view } : {}), onProgress: (p) => progress.update(p.view, p.rows) }));
      for (const r of results) printMaterialized(r);
    });

  program
    .command("materialize-incremental")
    .description("materialize every online view from its watermark up to --end (default now)")
    .option("--end <iso>", "end of the event-time range (exclusive), ISO-8601; default now")
    .option("--view <name>", "a feature view to materialize (repeatable; default every online view)", collect)
    .action(async (o: { end?: string; view?: string[] }, cmd: Command) => {
      const store = await openStore(repoDir(cmd));
      const progress = viewProgress("materialize");
      const results = await progress.around(() =>
        store.materializeIncremental({
          ...(o.end ? { end: o.end } : {}),
          ...(o.view ? { views: o.view } : {}),
          onProgress: (p) => progress.update(p.view, p.rows),
          onDataLoss: (loss) => console.error(`online data loss: ${loss.reason}; refilling [${new Date(loss.start).toISOString()}, ${new Date(loss.end).toISOString()})`),
        }),
      );
      for (const r of results) {
        if ("skipped" in r) console.log(`skipped ${r.view}: ${r.skipped}`);
        else printMaterialized(r);
      }
    });

  program
    .command("online")
    .description("read feature vectors from the online store; prints Feast's JSON response")
    .requiredOption("--entity <key=value>", "a join key or request field value (repeatable: several entities, composite keys)", collect)
    .option("--features <refs>", "view:feature references, comma-separated (repeatable)", splitList)
    .option("--service <name>", "a feature service")
    .option("--full-feature-names", "name features view__feature", false)
    .option("--format <format>", "json (Feast's response) or table (one row per entity)", "json")
    .action(async (o: { entity: string[]; features?: string[]; service?: string; fullFeatureNames: boolean; format: string }, cmd: Command) => {
      if (o.format !== "json" && o.format !== "table") throw new LarderError("INVALID_ARGUMENT", `--format ${JSON.stringify(o.format)}: expected json or table`);
      const selection = await selectionOf(o);
      const store = await openStore(repoDir(cmd));
      const entities = parseEntityArgs(store.repo.definitions, o.entity);
      const res = await store.getOnlineFeatures(entities, { ...selection, fullFeatureNames: o.fullFeatureNames });
      console.log(o.format === "table" ? formatOnlineTable(res) : JSON.stringify(res, null, 2));
    });

  registerRunsCommand(program);
  registerCompactCommand(program);
  // list, describe, show: looking at a repository and its files.
  registerInspectCommands(program);
  registerServeCommand(program);
  registerModelCommands(program);
}

/** Registers `larder runs`: the registry's run history (backfills, materializations, scheduled runs). */
export function registerRunsCommand(program: Command): void {
  program
    .command("runs")
    .description("show the run history: backfills, materializations and scheduled runs, newest first")
    .option("--view <name>", "only runs of this feature view")
    .option("--kind <kind>", "only runs of this kind (backfill, materialize, schedule)")
    .option("--limit <n>", "at most this many runs", "20")
    .option("--json", "print JSON (an array of runs) instead of a table", false)
    .action(async (o: { view?: string; kind?: string; limit: string; json: boolean }, cmd: Command) => {
      const limit = positiveInteger(o.limit, "--limit");
      const store = await openStore(repoDir(cmd));
      const runs = await store.withRegistry((r) => r.listRuns(store.project, { limit, ...(o.view ? { view: o.view } : {}), ...(o.kind ? { kind: o.kind } : {}) }));
      if (o.json) console.log(JSON.stringify(runs.map(runToJson), null, 2));
      else if (runs.length === 0) console.log(`No runs${o.view ? ` of feature view ${o.view}` : ""}${o.kind ? ` of kind ${o.kind}` : ""}.`);
      else console.log(formatRunsTable(runs));
    });
}

/** Registers `larder compact`: merges the files offline pushes added to Parquet sources. */
export function registerCompactCommand(program: Command): void {
  program
    .command("compact")
    .description("merge the small files offline pushes added to Parquet directory sources into one per source")
    .option("--source <name>", "a batch source of a push source (repeatable; default all)", collect)
    .action(async (o: { source?: string[] }, cmd: Command) => {
      const store = await openStore(repoDir(cmd));
      const results = await store.compact(o.source ? { sources: o.source } : {});
      if (results.length === 0) console.log("No Parquet directory takes offline pushes: nothing to compact.");
      for (const r of results) {
        console.log(r.merged === 0 ? `${r.source}: fewer than two push files, nothing to compact` : `${r.source}: merged ${r.merged} push files (${r.rows.toLocaleString("en-US")} rows) into ${r.file}`);
      }
    });
}

async function selectionOf(o: { features?: readonly string[] | undefined; service?: string | undefined }): Promise<FeatureSelection> {
  return (await import("../definitions/feature-refs.js")).selectionOf(o);
}

function positiveInteger(raw: string, option: string): number {
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new LarderError("INVALID_ARGUMENT", `${option} ${JSON.stringify(raw)}: expected a positive integer`);
  }
  return n;
}

function printMaterialized(r: { view: string; start: number; end: number; rows: number; stale: number; expired: number; watermark: number }): void {
  const range = `[${new Date(r.start).toISOString()}, ${new Date(r.end).toISOString()})`;
  const notes = [...(r.stale ? [`${r.stale.toLocaleString("en-US")} older than the stored values, ignored`] : []), ...(r.expired ? [`${r.expired.toLocaleString("en-US")} already past the TTL, not stored`] : [])];
  console.log(`materialized ${r.view} ${range}: ${r.rows.toLocaleString("en-US")} rows${notes.length ? ` (${notes.join("; ")})` : ""}; watermark ${new Date(r.watermark).toISOString()}`);
}

/**
 * `--entity KEY=VALUE…` as columnar entity rows: each KEY's values in order. Values of numeric or
 * bool join keys and request fields are parsed as such; anything unknown stays a string.
 */
export function parseEntityArgs(defs: RepoDefinitions, pairs: readonly string[]): Record<string, unknown[]> {
  const types = entityColumnTypes(defs);
  // A Map, not an object: a KEY such as "constructor" or "__proto__" must be a column of its own.
  const out = new Map<string, unknown[]>();
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new LarderError("INVALID_ARGUMENT", `--entity ${JSON.stringify(pair)}: expected KEY=VALUE, e.g. --entity customer_id=42`);
    const key = pair.slice(0, eq).trim();
    const raw = pair.slice(eq + 1);
    let values = out.get(key);
    if (values === undefined) out.set(key, (values = []));
    values.push(parseValue(raw, types.get(key), key));
  }
  return Object.fromEntries(out);
}

function parseValue(raw: string, type: ValueType | undefined, key: string): unknown {
  if (type === undefined || type === "string" || type === "timestamp") return raw;
  if (type === "bool") {
    if (/^(true|1)$/i.test(raw)) return true;
    if (/^(false|0)$/i.test(raw)) return false;
  } else if (type === "int64" || type === "int32") {
    // Beyond ±2^53 stays a string, so the key check reports VALUE_OUT_OF_RANGE instead of rounding.
    if (/^\s*-?\d+\s*$/.test(raw)) return Number.isSafeInteger(Number(raw)) ? Number(raw) : raw.trim();
  } else if (raw.trim() !== "" && Number.isFinite(Number(raw))) {
    return Number(raw);
  }
  throw new LarderError("INVALID_ARGUMENT", `--entity ${key}=${raw}: expected ${type}`, { field: key });
}
