import { LarderError } from "../errors.js";
import { DEFINITION_KINDS, type AppliedDefinition, type DefinitionKind, type DefinitionRecord, type PlanDiff } from "./registry-store.js";

const KIND_ORDER = new Map<string, number>(DEFINITION_KINDS.map((k, i) => [k, i]));

/** Orders by kind (DEFINITION_KINDS order) then name, by code unit so every backend agrees. */
export function compareDefinitions(a: { kind: DefinitionKind; name: string }, b: { kind: DefinitionKind; name: string }): number {
  const byKind = (KIND_ORDER.get(a.kind) ?? 0) - (KIND_ORDER.get(b.kind) ?? 0);
  if (byKind !== 0) return byKind;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function isDefinitionKind(value: unknown): value is DefinitionKind {
  return typeof value === "string" && KIND_ORDER.has(value);
}

const NUL_IN_JSON_RE = /(?<!\\)(?:\\\\)*\\u0000/;

function identity(kind: string, name: string): string {
  return `${kind}\u0000${name}`;
}

/**
 * Checks the records a caller hands to plan/apply and returns them with their specs serialised once
 * (the JSON text apply stores). Throws INVALID_DEFINITION naming the offending record.
 */
export function validateDefinitions(defs: readonly DefinitionRecord[]): { record: DefinitionRecord; specJson: string }[] {
  if (!Array.isArray(defs)) throw new LarderError("INVALID_DEFINITION", "definitions must be an array of records");
  const seen = new Set<string>();
  return defs.map((record, i) => {
    const where = `definition #${i} (${String(record?.kind)} ${JSON.stringify(record?.name)})`;
    if (!isDefinitionKind(record?.kind)) {
      throw new LarderError("INVALID_DEFINITION", `${where}: kind must be one of ${DEFINITION_KINDS.join(", ")}`, { index: i });
    }
    if (typeof record.name !== "string" || record.name.length === 0) {
      throw new LarderError("INVALID_DEFINITION", `${where}: name must be a non-empty string`, { index: i });
    }
    if (typeof record.hash !== "string" || record.hash.length === 0) {
      throw new LarderError("INVALID_DEFINITION", `${where}: hash must be a non-empty string`, { index: i });
    }
    const key = identity(record.kind, record.name);
    if (seen.has(key)) {
      throw new LarderError("INVALID_DEFINITION", `two definitions are both ${record.kind} ${JSON.stringify(record.name)}; names must be unique per kind`, {
        kind: record.kind,
        name: record.name,
      });
    }
    seen.add(key);
    let specJson: string | undefined;
    try {
      specJson = JSON.stringify(record.spec);
    } catch (err) {
      throw new LarderError("INVALID_DEFINITION", `${where}: spec is not JSON-serialisable: ${err instanceof Error ? err.message : String(err)}`, { index: i }, { cause: err });
    }
    if (specJson === undefined) {
      throw new LarderError("INVALID_DEFINITION", `${where}: spec is not JSON-serialisable (got ${typeof record.spec})`, { index: i });
    }
    // Postgres text and jsonb cannot hold NUL; JSON.stringify writes it as \u0000 (an odd run of backslashes).
    if (NUL_IN_JSON_RE.test(specJson) || record.name.includes("\u0000") || record.hash.includes("\u0000")) {
      throw new LarderError("INVALID_DEFINITION", `${where}: contains a NUL character (\\u0000), which the registry cannot store`, { index: i });
    }
    return { record, specJson };
  });
}

/** The diff from the current definitions to `defs` (the project's full set). Pure; compares hashes only. */
export function diffDefinitions(current: readonly AppliedDefinition[], defs: readonly DefinitionRecord[]): PlanDiff {
  const byIdentity = new Map(current.map((d) => [identity(d.kind, d.name), d]));
  const diff: PlanDiff = { add: [], change: [], remove: [], unchanged: [] };
  const wanted = new Set<string>();
  for (const def of defs) {
    const key = identity(def.kind, def.name);
    wanted.add(key);
    const before = byIdentity.get(key);
    if (before === undefined) diff.add.push(def);
    else if (before.hash === def.hash) diff.unchanged.push(before);
    else diff.change.push({ before, after: def });
  }
  for (const d of current) if (!wanted.has(identity(d.kind, d.name))) diff.remove.push(d);
  diff.add.sort(compareDefinitions);
  diff.change.sort((a, b) => compareDefinitions(a.before, b.before));
  diff.remove.sort(compareDefinitions);
  diff.unchanged.sort(compareDefinitions);
  return diff;
}
