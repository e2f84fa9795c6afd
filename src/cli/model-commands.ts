import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { LarderError } from "../errors.js";
import { FeatureStore } from "../feature-store.js";
import type { ModelKind } from "../models/model.js";
import { checkStage } from "../models/model-name.js";
import { listModels, promoteModel, registerModel } from "../use-cases/model-registry.js";
import type { LinearObjective, MissingPolicy } from "../models/training/linear-model-json.js";
import { trainModel } from "../use-cases/train-model.js";
import { readEntityRows } from "../offline/entity-rows.js";
import { writeArrowTableToParquet } from "../offline/parquet-io.js";
import type { ModelVersionSummary } from "../registry/registry-store.js";
import { predictBatch } from "../use-cases/predict.js";
import { Progress } from "./progress.js";

/** `larder models train|register|list|promote` and `larder predict`. */

function repoDir(cmd: Command): string {
  return resolve(cmd.optsWithGlobals<{ repo: string }>().repo);
}

function parseNumber(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) throw new LarderError("INVALID_ARGUMENT", `${flag} ${v}: expected a number`, { field: flag });
    return n;
  };
}

function parseVersion(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new LarderError("INVALID_ARGUMENT", `--version ${v}: expected a positive integer`, { field: "version" });
  return n;
}

const TYPES = ["logistic", "linear", "xgboost"] as const;

function checkType(type: string | undefined, allowed: readonly string[]): void {
  if (type !== undefined && !allowed.includes(type)) throw new LarderError("INVALID_ARGUMENT", `--type ${type}: expected ${allowed.join(" or ")}`, { field: "type" });
}

export function registerModelCommands(program: Command): void {
  const models = program.command("models").description("train, register, list and promote models");

  models
    .command("train")
    .description("train a linear or logistic model on a feature service's training set and register it as a new version")
    .requiredOption("--name <model>", "the model's name in the registry")
    .requiredOption("--service <name>", "the feature service whose features the model reads")
    .requiredOption("--entities <file>", "Parquet or CSV entity rows: join keys, event_timestamp, the label, request fields")
    .requiredOption("--label <column>", "the label column of the entity rows")
    .option("--type <type>", "logistic (bool or 0/1 label) or linear (numeric label)", "logistic")
    .option("--l2 <lambda>", "L2 penalty: minimise Σ loss + λ/2 ‖w‖²", parseNumber("--l2"), 1)
    .option("--holdout <share>", "share of rows, the latest by event_timestamp, held out for evaluation (0 for none)", parseNumber("--holdout"), 0.2)
    .option("--missing <policy>", "what the model does with a missing feature: fill, error or null", "fill")
    .option("--out <file>", "also write the model JSON to this file")
    .action(async (o: { name: string; service: string; entities: string; label: string; type: string; l2: number; holdout: number; missing: string; out?: string }, cmd: Command) => {
      checkType(o.type, ["logistic", "linear"]);
      const store = await FeatureStore.open(repoDir(cmd));
      const entities = await readEntityRows(resolve(o.entities));
      const r = await trainModel(store, {
        name: o.name,
        service: o.service,
        entities,
        label: o.label,
        type: o.type as LinearObjective,
        l2: o.l2,
        holdout: o.holdout,
        missing: o.missing as MissingPolicy,
        entitiesSource: o.entities,
      });
      if (o.out) await writeFile(resolve(o.out), `${JSON.stringify(r.model, null, 2)}\n`);
      const split = r.lineage.split as { trainRows: number; holdoutRows: number };
      console.log(`trained ${o.type} model on ${split.trainRows.toLocaleString("en-US")} rows (${split.holdoutRows.toLocaleString("en-US")} held out, the latest by event_timestamp)`);
      console.log(`  train:   ${formatMetrics(r.metrics.train)}`);
      if (r.metrics.holdout) console.log(`  holdout: ${formatMetrics(r.metrics.holdout)}`);
      console.log(`registered ${o.name} version ${r.registered!.version} (service ${o.service} version ${String(r.lineage.serviceVersion)}); promote it with: larder models promote --name ${o.name} --version ${r.registered!.version}`);
    });

  models
    .command("register")
    .description("register a model file (Larder's linear/logistic JSON, or xgboost's save_model JSON) as a new version")
    .requiredOption("--name <model>", "the model's name in the registry")
    .requiredOption("--service <name>", "the feature service whose features the model reads")
    .requiredOption("--file <model.json>", "the model file")
    .option("--type <type>", "the expected kind: xgboost, linear or logistic (checked against the file)")
    .action(async (o: { name: string; service: string; file: string; type?: string }, cmd: Command) => {
      checkType(o.type, TYPES);
      const store = await FeatureStore.open(repoDir(cmd));
      let bytes: Buffer;
      try {
        bytes = await readFile(resolve(o.file));
      } catch (err) {
        throw new LarderError("SOURCE_NOT_FOUND", `model file ${o.file}: ${(err as Error).message}`, { path: o.file }, { cause: err });
      }
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString("utf8"));
      } catch (err) {
        throw new LarderError("INVALID_MODEL", `model file ${o.file} is not JSON: ${(err as Error).message}`, { path: o.file }, { cause: err });
      }
      const v = await registerModel(store, { name: o.name, service: o.service, model: json, ...(o.type ? { type: o.type as ModelKind } : {}), lineage: { file: o.file } });
      console.log(`registered ${o.name} version ${v.version} (${v.format}, service ${v.service}); promote it with: larder models promote --name ${o.name} --version ${v.version}`);
    });

  models
    .command("list")
    .description("list model versions with their stage and metrics")
    .option("--name <model>", "only this model")
    .option("--json", "print JSON", false)
    .action(async (o: { name?: string; json: boolean }, cmd: Command) => {
      const store = await FeatureStore.open(repoDir(cmd));
      const versions = await listModels(store, o.name ? { name: o.name } : {});
      if (o.json) {
        console.log(JSON.stringify(versions, null, 2));
        return;
      }
      if (versions.length === 0) {
        console.log(o.name ? `no versions of model ${o.name}` : "no models registered");
        return;
      }
      printVersions(versions);
    });

  models
    .command("promote")
    .description("put a model version in a stage (production by default), atomically replacing the version that held it")
    .requiredOption("--name <model>", "the model")
    .requiredOption("--version <n>", 'the version to promote, or "latest" for the newest', (v: string) => (v.trim() === "latest" ? "latest" : parseVersion(v)))
    .option("--stage <stage>", "production or staging", "production")
    .action(async (o: { name: string; version: number | "latest"; stage: string }, cmd: Command) => {
      const stage = checkStage(o.stage);
      const store = await FeatureStore.open(repoDir(cmd));
      let version = o.version;
      if (version === "latest") {
        const versions = await listModels(store, { name: o.name });
        const last = versions[versions.length - 1];
        if (!last) throw new LarderError("UNKNOWN_MODEL", `unknown model ${JSON.stringify(o.name)}: it has no versions`, { model: o.name });
        version = last.version;
      }
      const { previous } = await promoteModel(store, o.name, version, stage);
      if (previous === version) console.log(`${o.name} version ${version} is already in ${stage}`);
      else console.log(`promoted ${o.name} version ${version} to ${stage}${previous === null ? "" : ` (replacing version ${previous})`}`);
    });

  program
    .command("predict")
    .description("score entity rows in batch with a model: features as of each row's event_timestamp, output Parquet")
    .requiredOption("--model <name>", "the model")
    .requiredOption("--entities <file>", "Parquet or CSV entity rows: join keys, event_timestamp, request fields")
    .requiredOption("--out <file>", "output Parquet: the entity rows with prediction and model_version")
    .option("--version <n>", "score with this version (default: the production version)", parseVersion)
    .option("--stage <stage>", "score with this stage's version: production or staging")
    .option("--contributions", "add a contribution__<feature> column per input and contribution__bias", false)
    .action(async (o: { model: string; entities: string; out: string; version?: number; stage?: string; contributions: boolean }, cmd: Command) => {
      if (!o.out.endsWith(".parquet")) throw new LarderError("INVALID_ARGUMENT", `--out ${o.out}: expected a .parquet file`);
      const stage = o.stage === undefined ? undefined : checkStage(o.stage);
      const store = await FeatureStore.open(repoDir(cmd));
      const progress = new Progress("predict");
      const entities = await readEntityRows(resolve(o.entities));
      const { table, model } = await predictBatch(store, o.model, entities, { ...(o.version !== undefined ? { version: o.version } : {}), ...(stage ? { stage } : {}), contributions: o.contributions });
      await writeArrowTableToParquet(resolve(o.out), table);
      progress.update(table.numRows);
      progress.done(`→ ${o.out} (${model.name} version ${model.version})`);
    });
}

function formatMetrics(m: object): string {
  return Object.entries(m)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k} ${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : String(v)}`)
    .join(", ");
}

function printVersions(versions: ModelVersionSummary[]): void {
  const rows = versions.map((v) => {
    const metrics = (v.metrics ?? {}) as { holdout?: Record<string, unknown> | null; train?: Record<string, unknown> };
    const m = metrics.holdout ?? metrics.train;
    const shown = m
      ? ["auc", "logLoss", "rmse", "r2"]
          .filter((k) => typeof m[k] === "number")
          .map((k) => `${k} ${(m[k] as number).toFixed(4)}`)
          .join(", ")
      : "";
    return [v.name, String(v.version), v.format, v.service, v.stage ?? "-", v.createdAt.toISOString(), shown ? `${metrics.holdout ? "holdout" : "train"}: ${shown}` : ""];
  });
  const header = ["MODEL", "VERSION", "FORMAT", "SERVICE", "STAGE", "CREATED", "METRICS"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows])
    console.log(
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    );
}
