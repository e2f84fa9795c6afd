import { resolve } from "node:path";
import type { Command } from "commander";
import type { AnyDefinition } from "../definitions/definition-types.js";
import { allDefinitions, definitionHash, definitionSpec } from "../definitions/repo-definitions.js";
import { LarderError } from "../errors.js";
import type { AppliedDefinition, ModelVersionSummary } from "../registry/registry-store.js";
import type { OnlineFeaturesResponse } from "../serving/online-features.js";
import { openStore } from "./open-store.js";
import { cellText, formatTextTable } from "./text-table.js";

/** One object as `larder list --json` prints it. */
export interface ListedObject {
  kind: "entity" | "source" | "feature_view" | "on_demand_feature_view" | "feature_service" | "model";
  name: string;
  /** One line: join keys, source type and location, features, versions… */
  summary: string;
}

function repoDir(cmd: Command): string {
  return resolve(cmd.optsWithGlobals<{ repo: string }>().repo);
}

const label = (kind: string) => kind.replaceAll("_", " ");

function summarize(def: AnyDefinition): string {
  switch (def.kind) {
    case "entity":
      return `join keys ${def.joinKeys.join(", ")} (${def.valueTypes.join(", ")})`;
    case "source":
      if (def.type === "push") return `push → ${def.batchSource.name}`;
      if (def.type === "request") return `request: ${Object.keys(def.schema).join(", ")}`;
      if (def.type === "postgres") return `postgres ${def.table ?? "(query)"}`;
      return `${def.type} ${def.path}`;
    case "feature_view":
      return `${Object.keys(def.schema).length} features of ${def.entities.map((e) => e.name).join(", ")} from ${def.source.name}${def.ttl ? `, ttl ${def.ttl}` : ""}${def.schedule ? `, ${def.schedule}` : ""}`;
    case "on_demand_feature_view":
      return `${Object.keys(def.schema).length} features from ${def.sources.map((s) => s.name).join(", ")}`;
    case "feature_service":
      return def.features.map((p) => `${p.view.name}(${p.features.length})`).join(", ");
  }
}

function modelSummaries(versions: readonly ModelVersionSummary[]): ListedObject[] {
  const byName = new Map<string, ModelVersionSummary[]>();
  for (const v of versions) byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
  return [...byName].map(([name, vs]) => {
    const prod = vs.find((v) => v.stage === "production");
    const last = vs[vs.length - 1]!;
    return { kind: "model", name, summary: `${vs.length} version(s), latest ${last.version} (${last.format}, service ${last.service})${prod ? `, production ${prod.version}` : ""}` };
  });
}

/**
 * Registers the commands for looking at a repository: `list`, `describe NAME` and `show FILE`.
 * Definitions come from the repository's files (what `apply` would store); models from the registry.
 */
export function registerInspectCommands(program: Command): void {
  program
    .command("list")
    .description("list the entities, sources, feature views, feature services and models")
    .option("--json", "print JSON (an array of {kind, name, summary})", false)
    .action(async (o: { json: boolean }, cmd: Command) => {
      const store = await openStore(repoDir(cmd));
      const models = await store.withRegistry((r) => r.listModelVersions(store.project));
      const objects: ListedObject[] = [...allDefinitions(store.repo.definitions).map((d) => ({ kind: d.kind, name: d.name, summary: summarize(d) })), ...modelSummaries(models)];
      if (o.json) console.log(JSON.stringify(objects, null, 2));
      else if (objects.length === 0) console.log("No definitions.");
      else
        console.log(
          formatTextTable(
            ["KIND", "NAME", "SUMMARY"],
            objects.map((x) => [label(x.kind), x.name, x.summary]),
          ),
        );
    });

  program
    .command("describe")
    .description("show one object (entity, source, view, service or model) in full, and whether it is applied")
    .argument("<name>", "the object's name")
    .option("--json", "print JSON", false)
    .action(async (name: string, o: { json: boolean }, cmd: Command) => {
      const store = await openStore(repoDir(cmd));
      const defs = allDefinitions(store.repo.definitions).filter((d) => d.name === name);
      const { applied, models } = await store.withRegistry(async (r) => ({
        applied: await Promise.all(defs.map((d) => r.getDefinition(store.project, d.kind, d.name))),
        models: await r.listModelVersions(store.project, { name }),
      }));
      if (defs.length === 0 && models.length === 0) {
        const known = allDefinitions(store.repo.definitions).map((d) => d.name);
        throw new LarderError("UNKNOWN_DEFINITION", `nothing named ${JSON.stringify(name)} in this repository or its model registry (known: ${known.join(", ") || "none"}; see \`larder list\`)`, { name });
      }
      const described = [
        ...defs.map((d, i) => ({ kind: d.kind as ListedObject["kind"], name: d.name, applied: appliedState(d, applied[i]), spec: definitionSpec(d) as unknown })),
        ...(models.length > 0 ? [{ kind: "model" as const, name, applied: null, spec: { versions: models } as unknown }] : []),
      ];
      if (o.json) {
        console.log(JSON.stringify(described.length === 1 ? described[0] : described, null, 2));
        return;
      }
      console.log(described.map((d) => [`${label(d.kind)} ${d.name}${d.applied ? ` (${d.applied.text})` : ""}`, ...fieldLines(d.spec as Record<string, unknown>, "  ")].join("\n")).join("\n\n"));
    });

  program
    .command("show")
    .description("print the first rows of a Parquet file (a training set, an offline data file) as a table or CSV")
    .argument("<file>", "a .parquet file")
    .option("--limit <n>", "at most this many rows", "20")
    .option("--format <format>", "table or csv", "table")
    .action(async (file: string, o: { limit: string; format: string }) => {
      const limit = Number(o.limit);
      if (!/^\s*\d+\s*$/.test(o.limit) || !Number.isSafeInteger(limit) || limit < 1) throw new LarderError("INVALID_ARGUMENT", `--limit ${JSON.stringify(o.limit)}: expected a positive integer`);
      if (o.format !== "table" && o.format !== "csv") throw new LarderError("INVALID_ARGUMENT", `--format ${JSON.stringify(o.format)}: expected table or csv`);
      const path = resolve(file);
      const { parquetFileInfo, readParquetFile } = await import("../offline/parquet-io.js");
      const info = await parquetFileInfo(path);
      const table = await readParquetFile(path, { limit });
      const names = table.schema.fields.map((f) => f.name);
      const rows = Array.from({ length: table.numRows }, (_, i) => names.map((n) => table.getChild(n)?.get(i) as unknown));
      if (o.format === "csv") {
        console.log([names, ...rows.map((r) => r.map((v) => (v === null || v === undefined ? "" : cellText(v))))].map((r) => r.map(csvField).join(",")).join("\n"));
      } else {
        console.log(
          formatTextTable(
            names,
            rows.map((r) => r.map(cellText)),
          ),
        );
        console.log(`(${table.numRows.toLocaleString("en-US")} of ${info.numRows.toLocaleString("en-US")} rows)`);
      }
    });
}

function appliedState(def: AnyDefinition, applied: AppliedDefinition | undefined): { version: number | null; upToDate: boolean; text: string } {
  if (!applied) return { version: null, upToDate: false, text: "not applied" };
  const upToDate = applied.hash === definitionHash(def);
  return { version: applied.version, upToDate, text: `version ${applied.version}, applied ${applied.appliedAt.toISOString()}${upToDate ? "" : "; changed since, run `larder plan`"}` };
}

/** `key: value` lines; objects one level down indented, a transform's source text as it is written. */
function fieldLines(spec: Record<string, unknown>, indent: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(spec)) {
    if (v === null || v === "" || (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0)) continue;
    if (typeof v === "string" && v.includes("\n")) out.push(`${indent}${k}:`, ...v.split("\n").map((l) => `${indent}  ${l}`));
    else if (typeof v === "object" && !Array.isArray(v)) out.push(`${indent}${k}:`, ...Object.entries(v).map(([kk, vv]) => `${indent}  ${kk}: ${typeof vv === "string" ? vv : JSON.stringify(vv)}`));
    else out.push(`${indent}${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  }
  return out;
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Feast's online response as a table: one row per entity, one column per feature name (join keys
 * first); a value that is not PRESENT shows its status instead (NOT_FOUND, OUTSIDE_MAX_AGE), a
 * NULL_VALUE shows null.
 */
export function formatOnlineTable(res: OnlineFeaturesResponse): string {
  const names = res.metadata.feature_names;
  const n = res.results[0]?.values.length ?? 0;
  const rows = Array.from({ length: n }, (_, i) =>
    res.results.map((r) => {
      const status = r.statuses[i];
      return status === "PRESENT" || status === "NULL_VALUE" || status === undefined ? cellText(r.values[i]) : status;
    }),
  );
  return formatTextTable(names, rows);
}
