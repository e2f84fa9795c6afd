import { resolve } from "node:path";
import type { Command } from "commander";
import { LarderError } from "../errors.js";
import { FeatureStore, selectionOf } from "../feature-store.js";
import { readEntityRows } from "../offline/entity-rows.js";
import { writeArrowTableToParquet } from "../offline/parquet-io.js";
import type { PlanDiff } from "../registry/registry-store.js";
import { initRepo } from "./init-repo.js";
import { Progress } from "./progress.js";

function repoDir(cmd: Command): string {
  return resolve(cmd.optsWithGlobals<{ repo: string }>().repo);
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const splitList = (value: string, previous: string[] = []) => [...previous, ...value.split(",").map((s) => s.trim()).filter(Boolean)];

function printDiff(diff: PlanDiff, applied: boolean): void {
  const kind = (k: string) => k.replaceAll("_", " ");
  for (const d of diff.add) console.log(`  + ${kind(d.kind)} ${d.name}`);
  for (const c of diff.change) console.log(`  ~ ${kind(c.after.kind)} ${c.after.name} (version ${c.before.version} → ${c.before.version + 1})`);
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
      await initRepo(target);
      console.log(`Created a feature repository in ${target}. Next:\n  cd ${dir}\n  larder apply\n  larder backfill --start 2024-01-01 --end 2024-03-01\n  larder training-set --entities data/entities.csv --service driver_activity --out training.parquet`);
    });

  program
    .command("plan")
    .description("show what apply would add, change and remove")
    .action(async (_o, cmd: Command) => {
      const store = await FeatureStore.open(repoDir(cmd));
      const { diff, checks } = await store.plan();
      printChecks(checks);
      printDiff(diff, false);
    });

  program
    .command("apply")
    .description("validate the definitions and store them in the registry")
    .action(async (_o, cmd: Command) => {
      const store = await FeatureStore.open(repoDir(cmd));
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
    .action(async (o: { start: string; end: string; view?: string[] }, cmd: Command) => {
      const store = await FeatureStore.open(repoDir(cmd));
      let progress: Progress | null = null;
      let current = "";
      const results = await store.backfill({
        start: o.start,
        end: o.end,
        ...(o.view ? { views: o.view } : {}),
        onProgress: (p) => {
          if (p.view !== current) {
            current = p.view;
            progress = new Progress(`backfill ${p.view}`);
          }
          progress?.update(p.sourceRows);
        },
      });
      for (const r of results) {
        console.log(`backfilled ${r.view}: ${r.sourceRows.toLocaleString("en-US")} source rows → ${r.rowsWritten.toLocaleString("en-US")} offline rows in ${r.files} file(s)${r.droppedNullKeys ? ` (${r.droppedNullKeys} rows with a null join key skipped)` : ""}`);
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
      const selection = selectionOf(o);
      const store = await FeatureStore.open(repoDir(cmd));
      const progress = new Progress("training-set");
      const entities = await readEntityRows(resolve(o.entities));
      const table = await store.getTrainingSet(entities, { ...selection, fullFeatureNames: o.fullFeatureNames });
      await writeArrowTableToParquet(resolve(o.out), table);
      progress.update(table.numRows);
      progress.done(`→ ${o.out}`);
    });
}
